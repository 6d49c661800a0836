import { SERVER_NAMES, type ServerName } from "./server-process.ts";
import type { FrameKind } from "./frames.ts";

export interface BenchOptions {
  servers: ServerName[];
  connections: number[];
  sizes: number[];
  inFlight: number[];
  frameKind: FrameKind;
  warmupMs: number;
  durationMs: number;
  /** Cells whose connections × in flight × size exceed this are skipped. */
  maxOutstandingBytes: number;
  /** Rounds per cell; each server's median round is reported. */
  repeat: number;
  handshakes: boolean;
  handshakeConcurrency: number;
  memory: boolean;
  /** The permessage-deflate rows (bench/compression.ts). */
  compression: boolean;
  /** The client case (bench/client-bench.ts). */
  client: boolean;
  /** ferry's malloc tuning on and off (bench/malloc-tuning.ts). */
  mallocTuning: boolean;
  idleConnections: number;
  /** Write BENCHMARKS.md. */
  write: boolean;
  pin: boolean;
  /** Fixed glibc malloc thresholds for the servers (bench/allocator.ts). */
  tunedAllocator: boolean;
}

export const USAGE = `Usage: npm run bench -- [options]

  --quick                 fewer cells (1 and 64 connections; 32 B and 64 KiB), 1 s each
  --duration=SECONDS      measuring time per cell [1.5]            (env BENCH_DURATION)
  --warmup=SECONDS        load before measuring, per cell [0.5]     (env BENCH_WARMUP)
  --repeat=N              rounds per cell, median reported [1]     (env BENCH_REPEAT)
  --servers=ferry,ws,raw  which servers to run                      (env BENCH_SERVERS)
  --connections=1,64,512  connection counts
  --sizes=32,1k,64k,1m    message sizes (suffix k = KiB, m = MiB)
  --in-flight=1,16        messages outstanding per connection
  --max-outstanding=1g    skip cells where connections × in flight × size exceeds this
  --text                  text frames instead of binary (ASCII payload)
  --idle=5000             connections for the memory measurement
  --no-handshakes         skip handshakes per second
  --no-memory             skip memory per idle connection
  --no-matrix             skip the echo matrix
  --no-compression        skip the permessage-deflate rows
  --no-client             skip the client case (ferry Client vs ws client)
  --no-malloc-tuning      skip ferry's malloc tuning on and off (bench/malloc-tuning.ts)
  --write / --no-write    write BENCHMARKS.md [on when the whole matrix ran, off otherwise]
  --no-pin                do not pin generator and servers to cores with taskset
  --default-malloc        run the servers with glibc's default malloc thresholds (see bench/allocator.ts)
`;

const FULL = {
  connections: [1, 64, 512],
  sizes: [32, 1024, 64 * 1024, 1024 * 1024],
  inFlight: [1, 16],
};

export function parseOptions(argv: readonly string[], env: NodeJS.ProcessEnv): BenchOptions {
  const flags = new Map<string, string>();
  for (const arg of argv) {
    const match = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    if (match === null) throw new Error(`unknown argument ${arg}\n\n${USAGE}`);
    flags.set(match[1]!, match[2] ?? "");
  }
  const known = new Set([
    ...["quick", "duration", "warmup", "repeat", "max-outstanding", "servers"],
    ...["connections", "sizes", "in-flight", "text", "idle"],
    ...["no-handshakes", "no-memory", "no-matrix", "no-compression", "no-client", "no-malloc-tuning", "write", "no-write", "no-pin", "default-malloc", "help"],
  ]);
  for (const name of flags.keys()) {
    if (!known.has(name)) throw new Error(`unknown option --${name}\n\n${USAGE}`);
  }
  if (flags.has("help")) {
    process.stdout.write(USAGE);
    process.exit(0);
  }

  const quick = flags.has("quick") || env.BENCH_QUICK === "1";
  const setting = (flag: string, envName?: string): string | undefined =>
    flags.get(flag) ?? (envName === undefined ? undefined : env[envName]);

  const options: BenchOptions = {
    servers: parseServers(setting("servers", "BENCH_SERVERS")),
    connections: parseList(setting("connections"), parseCount) ?? (quick ? [1, 64] : FULL.connections),
    sizes:
      parseList(setting("sizes"), (item) => parseSize(item, MAX_MESSAGE_SIZE)) ??
      (quick ? [32, 64 * 1024] : FULL.sizes),
    inFlight: parseList(setting("in-flight"), parseCount) ?? FULL.inFlight,
    frameKind: flags.has("text") ? "text" : "binary",
    warmupMs: parseSeconds(setting("warmup", "BENCH_WARMUP"), quick ? 0.3 : 0.5),
    durationMs: parseSeconds(setting("duration", "BENCH_DURATION"), quick ? 1 : 1.5),
    maxOutstandingBytes: parseSize(setting("max-outstanding") ?? "1g", Number.MAX_SAFE_INTEGER),
    repeat: parseCount(setting("repeat", "BENCH_REPEAT") ?? "1"),
    handshakes: !flags.has("no-handshakes"),
    handshakeConcurrency: 32,
    memory: !flags.has("no-memory"),
    compression: !flags.has("no-compression") && !quick,
    client: !flags.has("no-client") && !quick,
    mallocTuning: !flags.has("no-malloc-tuning") && !quick,
    idleConnections: parseCount(setting("idle") ?? "5000"),
    write: false,
    pin: !flags.has("no-pin"),
    tunedAllocator: !flags.has("default-malloc"),
  };
  if (flags.has("no-matrix")) options.connections = [];
  if (options.durationMs < 100) throw new Error("--duration must be at least 0.1 s");
  options.write = flags.has("write") || (isFullRun(options) && !flags.has("no-write"));
  return options;
}

/** Only a run of the whole matrix may replace the published table. */
function isFullRun(options: BenchOptions): boolean {
  const same = (a: number[], b: number[]): boolean =>
    a.length === b.length && a.every((x, i) => x === b[i]);
  return (
    options.servers.length === SERVER_NAMES.length &&
    same(options.connections, FULL.connections) &&
    same(options.sizes, FULL.sizes) &&
    same(options.inFlight, FULL.inFlight) &&
    options.handshakes &&
    options.memory &&
    options.durationMs >= 1000
  );
}

function parseServers(value: string | undefined): ServerName[] {
  if (value === undefined || value === "") return [...SERVER_NAMES];
  const names = value.split(",").map((name) => name.trim());
  for (const name of names) {
    if (!(SERVER_NAMES as readonly string[]).includes(name)) throw new Error(`unknown server ${name}`);
  }
  return names as ServerName[];
}

function parseList<T>(value: string | undefined, parse: (item: string) => T): T[] | undefined {
  if (value === undefined || value === "") return undefined;
  return value.split(",").map((item) => parse(item.trim()));
}

function parseCount(value: string): number {
  const count = Number(value);
  if (!Number.isInteger(count) || count < 1) throw new Error(`not a positive whole number: ${value}`);
  return count;
}

const UNITS: Record<string, number> = { b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };
/** The echo servers accept messages up to 2 MiB. */
const MAX_MESSAGE_SIZE = 2 * 1024 * 1024;

function parseSize(value: string, max: number): number {
  const match = /^(\d+)\s*([kmg]i?b?|b)?$/i.exec(value);
  if (match === null) throw new Error(`not a size: ${value} (use e.g. 32, 1k, 64k, 1m)`);
  const size = Number(match[1]) * UNITS[(match[2] ?? "b")[0]!.toLowerCase()]!;
  if (size < 1 || size > max) throw new Error(`size out of range (1 B to ${max} B): ${value}`);
  return size;
}

function parseSeconds(value: string | undefined, fallback: number): number {
  if (value === undefined || value === "") return fallback * 1000;
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds < 0 || seconds > 600) {
    throw new Error(`not a duration in seconds (0 to 600): ${value}`);
  }
  return seconds * 1000;
}

export function formatSize(bytes: number): string {
  if (bytes >= 1024 * 1024 && bytes % (1024 * 1024) === 0) return `${bytes / (1024 * 1024)} MiB`;
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} B`;
}
