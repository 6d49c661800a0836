/**
 * What ferry's raising of glibc's malloc thresholds (src/connection/malloc-thresholds.ts)
 * does, measured rather than asserted: page faults depend on the machine, the kernel and
 * the Node version. Each configuration runs in fresh processes, tuning on and off in turns:
 *
 * - client: a ferry Client (bench/client-driver.ts) drives a `ws` echo server;
 * - server: the raw-socket load generator drives a ferry echo server.
 *
 * Reported: messages per second and per CPU-second of the ferry process, its page faults
 * per message (client), and its RSS under load and after a second idle (what the tuning
 * keeps from the rest of the host). Run from bench/run.ts, or alone, small enough for a
 * shared machine:
 *
 *   npx tsx bench/malloc-tuning.ts [--duration=S] [--rounds=N] [--size=64k] [--no-pin]
 */
import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { compiledScript } from "./compiled.ts";
import { pinGenerator, type Pinning } from "./cpu-pinning.ts";
import type { DriverResult, DriverSettings } from "./client-driver.ts";
import { buildMessageFrame } from "./frames.ts";
import { measureEcho } from "./measure.ts";
import { ServerProcess } from "./server-process.ts";

const CONNECTIONS = 16;
const IN_FLIGHT = 4;
const FIXED_ALLOCATOR = { MALLOC_MMAP_THRESHOLD_: String(32 << 20), MALLOC_TRIM_THRESHOLD_: String(64 << 20) };

/** One run of one role, with the tuning on or off: rates of the ferry process and its memory. */
export interface MallocTuningRow {
  role: "client" | "server";
  tuning: boolean;
  perSecond: number;
  perCpuSecond: number;
  faultsPerMessage: number | undefined;
  /** Client only: RSS at the end of the measuring window. */
  rssUnderLoad: number | undefined;
  /** RSS once the connections have closed and a GC ran. */
  idleRss: number;
}

function tuningEnv(tuning: boolean): Record<string, string> {
  return { FERRY_MALLOC_TUNING: tuning ? "1" : "0" };
}

function runClient(port: number, size: number, durationMs: number, tuning: boolean): Promise<DriverResult> {
  const settings: DriverSettings = { library: "ferry", port, connections: CONNECTIONS, inFlight: IN_FLIGHT, size, warmupMs: 1000, durationMs };
  return new Promise((resolve) => {
    const child = fork(compiledScript("bench/client-driver.ts"), [JSON.stringify(settings)], {
      env: { ...process.env, ...tuningEnv(tuning) },
      execArgv: ["--expose-gc"],
      stdio: ["ignore", "ignore", "pipe", "ipc"],
    });
    let result: DriverResult | undefined;
    let stderr = "";
    child.stderr?.on("data", (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2000)));
    child.on("message", (message: DriverResult) => (result = message));
    child.once("exit", () => resolve(result ?? { messages: 0, cpuMs: 0, error: stderr.trim() || "no result" }));
  });
}

async function clientRow(pinning: Pinning | undefined, size: number, durationMs: number, tuning: boolean): Promise<MallocTuningRow> {
  // The echo server's allocator is fixed, so that only the client's changes.
  const server = await ServerProcess.spawn("ws", pinning, 15_000, FIXED_ALLOCATOR);
  try {
    const result = await runClient(server.port, size, durationMs, tuning);
    if (result.error !== undefined) throw new Error(result.error);
    return {
      role: "client",
      tuning,
      perSecond: (result.messages * 1000) / durationMs,
      perCpuSecond: (result.messages * 1000) / result.cpuMs,
      faultsPerMessage: result.messages > 0 ? result.faults! / result.messages : undefined,
      rssUnderLoad: result.rss,
      idleRss: result.idleRss!,
    };
  } finally {
    await server.stop();
  }
}

async function serverRow(pinning: Pinning | undefined, size: number, durationMs: number, tuning: boolean): Promise<MallocTuningRow> {
  const server = await ServerProcess.spawn("ferry", pinning, 15_000, tuningEnv(tuning));
  try {
    const frame = buildMessageFrame("binary", size);
    const measured = await measureEcho(server, { connections: CONNECTIONS, messageSize: size, inFlight: IN_FLIGHT }, frame, { warmupMs: 1000, durationMs });
    const loaded = await server.memory();
    return { role: "server", tuning, perSecond: measured.perSecond, perCpuSecond: measured.perServerCpuSecond, faultsPerMessage: undefined, rssUnderLoad: undefined, idleRss: loaded.rss };
  } finally {
    await server.stop();
  }
}

function format(row: MallocTuningRow): string {
  const mib = (bytes: number): string => `${(bytes / (1 << 20)).toFixed(0)} MiB`;
  return (
    `${row.role.padEnd(6)} tuning ${row.tuning ? "on " : "off"}: ${row.perSecond.toFixed(0)} msg/s, ${row.perCpuSecond.toFixed(0)} msg/CPU-s` +
    (row.faultsPerMessage === undefined ? "" : `, ${row.faultsPerMessage.toFixed(2)} faults/msg`) +
    `, RSS ${row.rssUnderLoad === undefined ? "" : `${mib(row.rssUnderLoad)} under load, `}${mib(row.idleRss)} idle after GC`
  );
}

/** How long and how often each role runs with each setting, and the message size. */
export interface MallocTuningOptions {
  durationMs: number;
  /** Runs per role and setting; the median by messages per CPU-second is kept. */
  rounds: number;
  size: number;
}

/** Every role with the tuning on and off, `rounds` times each, alternating; the median rows. */
export async function runMallocTuningBench(pinning: Pinning | undefined, options: MallocTuningOptions, log: (line: string) => void): Promise<MallocTuningRow[]> {
  // glibc's own variables would take the decision out of ferry's hands; children inherit this.
  for (const name of Object.keys(process.env)) if (name.startsWith("MALLOC_") || name === "GLIBC_TUNABLES") delete process.env[name];
  log(`malloc tuning on and off: ${CONNECTIONS} connections × ${options.size} B × ${IN_FLIGHT} in flight, ${options.durationMs / 1000} s per run`);
  const runs: MallocTuningRow[] = [];
  for (let round = 0; round < options.rounds; round++) {
    // Alternate, so that neither setting always runs on a warmer or cooler machine.
    const order = round % 2 === 0 ? [true, false] : [false, true];
    for (const role of [clientRow, serverRow]) {
      for (const tuning of order) {
        const row = await role(pinning, options.size, options.durationMs, tuning);
        log(`  ${format(row)}`);
        runs.push(row);
      }
    }
  }
  const medians: MallocTuningRow[] = [];
  for (const role of ["client", "server"] as const) {
    for (const tuning of [true, false]) {
      const same = runs.filter((row) => row.role === role && row.tuning === tuning).sort((a, b) => a.perCpuSecond - b.perCpuSecond);
      medians.push(same[Math.floor(same.length / 2)]!);
    }
  }
  return medians;
}

/** The section BENCHMARKS.md gets. */
export function renderMallocTuning(rows: readonly MallocTuningRow[], options: MallocTuningOptions): string {
  const mib = (bytes: number | undefined): string => (bytes === undefined ? "–" : `${(bytes / (1 << 20)).toFixed(0)} MiB`);
  const lines = [
    "## glibc malloc tuning",
    "",
    "ferry raises glibc's malloc thresholds on its first connection (README, performance notes). Here",
    "with it on and off (`FERRY_MALLOC_TUNING=0`), each run in fresh processes with no `MALLOC_*`",
    `variable set (bench/malloc-tuning.ts): ${CONNECTIONS} connections each keep ${IN_FLIGHT} binary messages of ${options.size / 1024} KiB in flight;`,
    "the client is a ferry `Client` against a `ws` echo server, the server a ferry echo server fed by the",
    `load generator. Median of ${options.rounds} runs by messages per CPU-second of the ferry process.`,
    "",
    "| role | tuning | msg/s | msg/CPU-s | page faults/msg | RSS under load | RSS idle, after GC |",
    "| :-- | :-- | --: | --: | --: | --: | --: |",
  ];
  for (const row of rows) {
    lines.push(
      `| ${row.role} | ${row.tuning ? "on" : "off"} | ${row.perSecond.toFixed(0)} | ${row.perCpuSecond.toFixed(0)} | ` +
        `${row.faultsPerMessage === undefined ? "–" : row.faultsPerMessage.toFixed(2)} | ${mib(row.rssUnderLoad)} | ${mib(row.idleRss)} |`,
    );
  }
  return `${lines.join("\n")}\n`;
}

async function main(): Promise<void> {
  const options: MallocTuningOptions = { durationMs: 3000, rounds: 2, size: 64 * 1024 };
  let pin = true;
  for (const arg of process.argv.slice(2)) {
    const [, name, value = ""] = /^--([a-z-]+)(?:=(.*))?$/.exec(arg) ?? [];
    if (name === "duration") options.durationMs = Number(value) * 1000;
    else if (name === "rounds") options.rounds = Number(value);
    else if (name === "size") options.size = Number(value.replace(/k$/i, "")) * (/k$/i.test(value) ? 1024 : 1);
    else if (name === "no-pin") pin = false;
    else throw new Error(`unknown argument ${arg}`);
  }
  const rows = await runMallocTuningBench(pin ? pinGenerator() : undefined, options, console.log);
  console.log(`\nnode ${process.version}\n${renderMallocTuning(rows, options)}`);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
