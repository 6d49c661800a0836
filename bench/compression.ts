/**
 * permessage-deflate rows of the benchmark: ferry and ws echo servers with compression on,
 * fed compressible JSON text by a raw-socket generator, and the memory an idle connection
 * costs with compression negotiated. Run from bench/run.ts, or alone:
 *
 *   npx tsx bench/compression.ts [--duration=S] [--warmup=S] [--repeat=N] [--idle=N] [--no-pin]
 */
import { type ChildProcess, spawn } from "node:child_process";
import { connect, type Socket } from "node:net";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { constants, deflateRawSync } from "node:zlib";
import { runLimited, sleep } from "./concurrency.ts";
import type { ControlReply, CpuSample, MemorySample, ReadyMessage } from "./control-protocol.ts";
import { TUNED_ALLOCATOR } from "./allocator.ts";
import { compiledScript, repoPath } from "./compiled.ts";
import { pinGenerator, type Pinning, serverCommand } from "./cpu-pinning.ts";
import { acceptFor, buildMaskedFrame, OPCODE_TEXT } from "./frames.ts";

const HOST = "127.0.0.1";
const REPO_ROOT = repoPath(".");
const SERVERS = {
  ferry: ["bench/servers/ferry-deflate-echo.ts"],
  "ferry-ctx": ["bench/servers/ferry-deflate-echo.ts", "--context"],
  ws: ["bench/servers/ws-echo.ts", "--deflate"],
} as const;
type ServerName = keyof typeof SERVERS;

/**
 * What the generator offers. "same terms" asks both servers to compress every message on
 * its own; "browser" is what Chromium offers, so each server runs at its own defaults (ws
 * then keeps context between messages, ferry does not).
 */
const OFFERS = {
  "same terms": "permessage-deflate; server_no_context_takeover; client_no_context_takeover; client_max_window_bits",
  browser: "permessage-deflate; client_max_window_bits",
} as const;
type OfferName = keyof typeof OFFERS;

const MESSAGE_SIZE = 4096;
const CONNECTIONS = 64;
const IN_FLIGHT = [1, 16];
const CONNECT_TIMEOUT_MS = 5_000;
const REQUEST_TIMEOUT_MS = 10_000;

export interface CompressionBenchOptions {
  warmupMs: number;
  durationMs: number;
  repeat: number;
  idleConnections: number;
  serverEnv: Readonly<Record<string, string>>;
}

export interface ThroughputRow {
  offer: OfferName;
  inFlight: number;
  server: ServerName;
  perSecond: number;
  perServerCpuSecond: number;
  serverCpu: number;
  /** Mean size of the compressed echoes, in bytes. */
  echoBytes: number;
}

/** What one idle connection costs, in bytes. */
export interface MemoryCost {
  /** V8 heap used + external. Node leaves zlib's own allocations out of `external`. */
  heapAndExternal: number;
  /** Resident set size: counts zlib's state too, and whatever else the process touched. */
  rss: number;
}

export interface MemoryRow {
  server: ServerName;
  plain: MemoryCost;
  /** Uncompressed, after each connection echoed one message (the same JSON, plain). */
  plainAfterMessage: MemoryCost;
  compressed: MemoryCost;
  /** Compressed, after each connection echoed one compressed message and went idle again. */
  afterMessage: MemoryCost;
}

export interface CompressionResults {
  idleConnections: number;
  throughput: ThroughputRow[];
  memory: MemoryRow[];
  errors: string[];
}

/** Realistic, compressible JSON: records with repeated keys and varying values, exactly `size` bytes. */
export function jsonMessage(size: number): Buffer {
  const items = [];
  for (let i = 0; JSON.stringify({ items }).length < size - 64; i++) {
    items.push({ id: 1000 + i, user: `user${(i * 7919) % 1000}`, email: `user${i}@example.com`, active: i % 3 !== 0, score: (i * 37.5) % 100, tags: ["alpha", "beta", "gamma"].slice(0, (i % 3) + 1) });
  }
  items.pop();
  const base = JSON.stringify({ items, pad: "" });
  return Buffer.from(JSON.stringify({ items, pad: "x".repeat(size - base.length) }));
}

/** The masked, compressed frame the generator sends over and over: valid under any context rules, since it references nothing before it. */
function compressedFrame(payload: Buffer): Buffer {
  const compressed = deflateRawSync(payload, { finishFlush: constants.Z_SYNC_FLUSH });
  const frame = buildMaskedFrame(OPCODE_TEXT, compressed.subarray(0, compressed.length - 4));
  frame[0]! |= 0x40;
  return frame;
}

/** One echo server child, driven over IPC as bench/server-process.ts does for the main matrix. */
class DeflateServer {
  private nextId = 1;
  private readonly pending = new Map<number, (reply: ControlReply) => void>();
  port = 0;

  private constructor(
    readonly name: ServerName,
    private readonly child: ChildProcess,
  ) {
    child.on("message", (reply: ControlReply | ReadyMessage) => {
      if (reply.type === "ready") return;
      const resolve = this.pending.get(reply.id);
      this.pending.delete(reply.id);
      resolve?.(reply);
    });
  }

  static async spawn(name: ServerName, pinning: Pinning | undefined, env: Readonly<Record<string, string>>): Promise<DeflateServer> {
    const [command, ...args] = serverCommand(pinning, [process.execPath, "--expose-gc", compiledScript(SERVERS[name][0]), ...SERVERS[name].slice(1)]);
    const child = spawn(command!, args, { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "ignore", "inherit", "ipc"] });
    const server = new DeflateServer(name, child);
    server.port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${name} server did not start`)), 30_000);
      child.on("message", (message: ReadyMessage) => {
        if (message.type !== "ready") return;
        clearTimeout(timer);
        resolve(message.port);
      });
      child.once("exit", (code) => reject(new Error(`${name} server exited with ${code}`)));
    });
    return server;
  }

  cpu(): Promise<CpuSample> {
    return this.request("cpu").then((reply) => (reply as Extract<ControlReply, { type: "cpu" }>).cpu);
  }

  memory(): Promise<MemorySample> {
    return this.request("memory").then((reply) => (reply as Extract<ControlReply, { type: "memory" }>).memory);
  }

  async stop(): Promise<void> {
    const exited = new Promise<void>((resolve) => this.child.once("exit", () => resolve()));
    if (this.child.connected) this.child.disconnect();
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 3_000);
    await exited;
    clearTimeout(timer);
  }

  kill(): void {
    this.child.kill("SIGKILL");
  }

  private request(type: "cpu" | "memory"): Promise<ControlReply> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name} server did not answer ${type}`)), REQUEST_TIMEOUT_MS);
      this.pending.set(id, (reply) => {
        clearTimeout(timer);
        resolve(reply);
      });
      this.child.send({ id, type });
    });
  }
}

/** Opens a WebSocket with `offer` (or none) and checks the server's answer. */
function open(port: number, offer: string | undefined): Promise<{ socket: Socket; leftover: Buffer }> {
  return new Promise((resolve, reject) => {
    const key = Buffer.from(Array.from({ length: 16 }, () => Math.floor(Math.random() * 256))).toString("base64");
    const socket = connect({ host: HOST, port, noDelay: true });
    socket.on("error", () => undefined);
    let received = Buffer.alloc(0);
    const timer = setTimeout(() => fail("handshake timed out"), CONNECT_TIMEOUT_MS);
    const fail = (why: string): void => {
      clearTimeout(timer);
      socket.destroy();
      reject(new Error(why));
    };
    const onClose = (): void => fail("closed during the handshake");
    const onData = (chunk: Buffer): void => {
      received = Buffer.concat([received, chunk]);
      const end = received.indexOf("\r\n\r\n");
      if (end < 0) return;
      const head = received.toString("latin1", 0, end);
      socket.off("data", onData);
      socket.off("close", onClose);
      clearTimeout(timer);
      if (!head.startsWith("HTTP/1.1 101") || !head.includes(acceptFor(key))) return fail(`refused: ${head.split("\r\n")[0]}`);
      const negotiated = /\r\nsec-websocket-extensions:[^\r\n]*permessage-deflate/i.test(head);
      if (negotiated !== (offer !== undefined)) return fail(`unexpected extension answer: ${head}`);
      resolve({ socket, leftover: received.subarray(end + 4) });
    };
    socket.on("data", onData);
    socket.once("close", onClose);
    socket.write(
      `GET / HTTP/1.1\r\nHost: ${HOST}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n` +
        (offer === undefined ? "" : `Sec-WebSocket-Extensions: ${offer}\r\n`) +
        "\r\n",
    );
  });
}

/** Counts whole echoed messages from frame headers, checking each is text, compressed when it should be. */
class EchoCounter {
  private header = Buffer.alloc(0);
  private remaining = 0;
  private fin = false;
  failure: string | undefined;
  bytes = 0;

  constructor(private readonly compressed = true) {}

  push(chunk: Buffer): number {
    let completed = 0;
    let data = this.header.length > 0 ? Buffer.concat([this.header, chunk]) : chunk;
    this.header = Buffer.alloc(0);
    while (data.length > 0 && this.failure === undefined) {
      if (this.remaining > 0) {
        const take = Math.min(this.remaining, data.length);
        this.remaining -= take;
        data = data.subarray(take);
        if (this.remaining === 0 && this.fin) completed++;
        continue;
      }
      if (data.length < 2) break;
      const len7 = data[1]! & 0x7f;
      const size = len7 === 126 ? 4 : len7 === 127 ? 10 : 2;
      if (data.length < size) break;
      const first = data[0]!;
      const opcode = first & 0x0f;
      if (opcode !== OPCODE_TEXT && opcode !== 0) this.failure = `unexpected opcode ${opcode}`;
      else if (opcode === OPCODE_TEXT && (first & 0x40) === 0 && this.compressed) this.failure = "echo not compressed";
      const length = len7 === 126 ? data.readUInt16BE(2) : len7 === 127 ? Number(data.readBigUInt64BE(2)) : len7;
      this.fin = (first & 0x80) !== 0;
      this.remaining = length;
      this.bytes += length;
      data = data.subarray(size);
      if (length === 0 && this.fin) completed++;
    }
    if (data.length > 0 && this.remaining === 0) this.header = Buffer.from(data);
    return completed;
  }
}

async function openMany(port: number, count: number, offer: string | undefined): Promise<{ socket: Socket; leftover: Buffer }[]> {
  return runLimited(count, 64, () => open(port, offer), (opened) => opened.socket.destroy());
}

async function measureThroughput(server: DeflateServer, offer: OfferName, inFlight: number, frame: Buffer, options: CompressionBenchOptions): Promise<ThroughputRow> {
  const sockets = await openMany(server.port, CONNECTIONS, OFFERS[offer]);
  let completed = 0;
  let running = true;
  const failures = new Set<string>();
  const counters: EchoCounter[] = [];
  const send = (socket: Socket, count: number): void => {
    socket.cork();
    for (let i = 0; i < count; i++) socket.write(frame);
    socket.uncork();
  };
  for (const { socket, leftover } of sockets) {
    const counter = new EchoCounter();
    counters.push(counter);
    const onChunk = (chunk: Buffer): void => {
      const done = counter.push(chunk);
      if (counter.failure !== undefined) {
        failures.add(counter.failure);
        socket.destroy();
        return;
      }
      completed += done;
      if (running && done > 0) send(socket, done);
    };
    socket.on("data", onChunk);
    socket.once("close", () => running && failures.add("server closed a connection"));
    if (leftover.length > 0) onChunk(leftover);
  }
  try {
    for (const { socket } of sockets) send(socket, inFlight);
    await sleep(options.warmupMs);
    const startTime = performance.now();
    const startCount = completed;
    const startBytes = counters.reduce((sum, c) => sum + c.bytes, 0);
    const startCpu = await server.cpu();
    await sleep(options.durationMs);
    const endCpu = await server.cpu();
    const endCount = completed;
    const endBytes = counters.reduce((sum, c) => sum + c.bytes, 0);
    const seconds = (performance.now() - startTime) / 1000;
    const cpuSeconds = (endCpu.user + endCpu.system - startCpu.user - startCpu.system) / 1e6;
    if (failures.size > 0) throw new Error([...failures].join("; "));
    const count = endCount - startCount;
    if (count === 0) throw new Error("no echo completed");
    return {
      offer,
      inFlight,
      server: server.name,
      perSecond: count / seconds,
      perServerCpuSecond: count / cpuSeconds,
      serverCpu: (100 * cpuSeconds) / seconds,
      echoBytes: (endBytes - startBytes) / count,
    };
  } finally {
    running = false;
    for (const { socket } of sockets) socket.destroy();
    await sleep(200);
  }
}

/** Connections each pass opens first and drops, so that code and shared buffers are in place before measuring. */
const WARM_UP_CONNECTIONS = 50;

/** Sends `frame` on every connection and waits for every echo. */
async function exchange(opened: { socket: Socket; leftover: Buffer }[], frame: Buffer, compressed: boolean): Promise<void> {
  let echoed = 0;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${echoed} of ${opened.length} echoes`)), 20_000);
    for (const { socket, leftover } of opened) {
      const counter = new EchoCounter(compressed);
      const onChunk = (chunk: Buffer): void => {
        echoed += counter.push(chunk);
        if (echoed === opened.length) {
          clearTimeout(timer);
          resolve();
        }
      };
      socket.on("data", onChunk);
      if (leftover.length > 0) onChunk(leftover);
      socket.write(frame);
    }
  });
}

/**
 * Memory per idle connection, each pass in a fresh server process: RSS only grows, so a pass
 * after another would reuse the pages the first one freed and look free.
 */
async function measureMemory(name: ServerName, pinning: Pinning | undefined, env: Readonly<Record<string, string>>, connections: number, frame: Buffer, plainFrame: Buffer): Promise<MemoryRow> {
  const pass = async (offer: string | undefined, withMessage: boolean): Promise<MemoryCost> => {
    const message = offer === undefined ? plainFrame : frame;
    const server = await DeflateServer.spawn(name, pinning, env);
    try {
      const warmUp = await openMany(server.port, WARM_UP_CONNECTIONS, offer);
      if (withMessage) await exchange(warmUp, message, offer !== undefined);
      for (const { socket } of warmUp) socket.destroy();
      await sleep(300);
      const before = await server.memory();
      const opened = await openMany(server.port, connections, offer);
      if (withMessage) await exchange(opened, message, offer !== undefined);
      await sleep(500);
      const after = await server.memory();
      for (const { socket } of opened) socket.destroy();
      return {
        heapAndExternal: (after.heapUsed + after.external - before.heapUsed - before.external) / connections,
        rss: (after.rss - before.rss) / connections,
      };
    } finally {
      await server.stop();
    }
  };
  return {
    server: name,
    plain: await pass(undefined, false),
    plainAfterMessage: await pass(undefined, true),
    compressed: await pass(OFFERS.browser, false),
    afterMessage: await pass(OFFERS.browser, true),
  };
}

export async function runCompressionBench(pinning: Pinning | undefined, options: CompressionBenchOptions): Promise<CompressionResults> {
  const results: CompressionResults = { idleConnections: options.idleConnections, throughput: [], memory: [], errors: [] };
  const frame = compressedFrame(jsonMessage(MESSAGE_SIZE));
  const servers: DeflateServer[] = [];
  const onExit = (): void => servers.forEach((server) => server.kill());
  process.once("exit", onExit);
  try {
    console.log(`\npermessage-deflate: memory per idle connection (${options.idleConnections} connections)`);
    for (const name of Object.keys(SERVERS) as ServerName[]) {
      try {
        const row = await measureMemory(name, pinning, options.serverEnv, options.idleConnections, frame, buildMaskedFrame(OPCODE_TEXT, jsonMessage(MESSAGE_SIZE)));
        results.memory.push(row);
        const show = (cost: MemoryCost): string => `${kib(cost.heapAndExternal)} heap+external, ${kib(cost.rss)} RSS`;
        console.log(`  ${name.padEnd(9)} plain ${show(row.plain)}, after a message ${show(row.plainAfterMessage)}; compressed ${show(row.compressed)}, after a message ${show(row.afterMessage)}`);
      } catch (error) {
        results.errors.push(`memory, ${name}: ${(error as Error).message}`);
      }
    }
    for (const name of Object.keys(SERVERS) as ServerName[]) servers.push(await DeflateServer.spawn(name, pinning, options.serverEnv));
    let step = 0;
    for (const offer of Object.keys(OFFERS) as OfferName[]) {
      for (const inFlight of IN_FLIGHT) {
        console.log(`\npermessage-deflate: ${CONNECTIONS} conns × ${MESSAGE_SIZE / 1024} KiB JSON × ${inFlight} in flight, offer "${offer}"`);
        const rounds = new Map<ServerName, ThroughputRow[]>();
        for (let round = 0; round < options.repeat; round++) {
          const shift = step++ % servers.length;
          const order = [...servers.slice(shift), ...servers.slice(0, shift)];
          for (const server of order) {
            try {
              const row = await measureThroughput(server, offer, inFlight, frame, options);
              rounds.set(server.name, [...(rounds.get(server.name) ?? []), row]);
              console.log(`  ${server.name.padEnd(9)} ${row.perSecond.toFixed(0)} msg/s, ${row.perServerCpuSecond.toFixed(0)} msg/CPU-s, CPU ${row.serverCpu.toFixed(0)}%, echo ${row.echoBytes.toFixed(0)} B`);
            } catch (error) {
              results.errors.push(`${offer}, ${inFlight} in flight, ${server.name}: ${(error as Error).message}`);
            }
          }
        }
        for (const list of rounds.values()) {
          list.sort((a, b) => a.perSecond - b.perSecond);
          results.throughput.push(list[Math.floor(list.length / 2)]!);
        }
      }
    }
  } finally {
    await Promise.all(servers.map((server) => server.stop()));
    process.off("exit", onExit);
  }
  return results;
}

function kib(bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KiB`;
}

function rate(value: number): string {
  return value >= 1e4 ? `${(value / 1e3).toFixed(1)}k` : value >= 1e3 ? `${(value / 1e3).toFixed(2)}k` : value.toFixed(0);
}

/** The section BENCHMARKS.md gets, after the main matrix. */
export function renderCompression(results: CompressionResults): string {
  const lines = [
    "## permessage-deflate",
    "",
    "Echo servers with compression on (bench/compression.ts): **ferry** at its defaults (no context",
    "takeover either way, threshold 1 KiB); **ferry-ctx**, ferry with",
    "`compression: { serverNoContextTakeover: false, clientNoContextTakeover: false }` (context",
    "takeover whenever the client allows it); **ws** with `perMessageDeflate: true` (its defaults:",
    "context takeover unless the client asks otherwise, threshold 1 KiB, 10 concurrent zlib jobs).",
    `${CONNECTIONS} connections each keep N messages of ${MESSAGE_SIZE / 1024} KiB compressible JSON text in flight, sent compressed`,
    `(${compressedFrame(jsonMessage(MESSAGE_SIZE)).length} bytes on the wire, the same frame every time: valid under any context rules as it`,
    "refers to nothing before it); every echo must come back compressed. Offers: \"same terms\" asks",
    "every server to compress each message on its own; \"browser\" is Chromium's offer, so each server",
    "runs at its own defaults. With 1 in flight the generator is often the bottleneck (see the",
    "server CPU column): msg/CPU-s then says more than msg/s.",
    "",
    "| offer | in flight | ferry msg/s | ferry-ctx msg/s | ws msg/s | ferry/ws | ferry msg/CPU-s | ferry-ctx msg/CPU-s | ws msg/CPU-s | ferry/ws per CPU-s | server CPU ferry / ferry-ctx / ws | echo bytes ferry / ferry-ctx / ws |",
    "| :-- | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: |",
  ];
  const ratio = (a: number | undefined, b: number | undefined): string => (a === undefined || b === undefined ? "–" : `${(a / b).toFixed(2)}×`);
  for (const offer of Object.keys(OFFERS) as OfferName[]) {
    for (const inFlight of IN_FLIGHT) {
      const row = (server: ServerName): ThroughputRow | undefined => results.throughput.find((r) => r.offer === offer && r.inFlight === inFlight && r.server === server);
      const [ferry, ctx, ws] = [row("ferry"), row("ferry-ctx"), row("ws")];
      const cell = (r: ThroughputRow | undefined, pick: (r: ThroughputRow) => string): string => (r === undefined ? "error" : pick(r));
      const all = (pick: (r: ThroughputRow) => string): string => [ferry, ctx, ws].map((r) => cell(r, pick)).join(" / ");
      lines.push(
        `| ${offer} | ${inFlight} | ${cell(ferry, (r) => rate(r.perSecond))} | ${cell(ctx, (r) => rate(r.perSecond))} | ${cell(ws, (r) => rate(r.perSecond))} | ${ratio(ferry?.perSecond, ws?.perSecond)} | ` +
          `${cell(ferry, (r) => rate(r.perServerCpuSecond))} | ${cell(ctx, (r) => rate(r.perServerCpuSecond))} | ${cell(ws, (r) => rate(r.perServerCpuSecond))} | ${ratio(ferry?.perServerCpuSecond, ws?.perServerCpuSecond)} | ` +
          `${all((r) => `${r.serverCpu.toFixed(0)}%`)} | ${all((r) => r.echoBytes.toFixed(0))} |`,
      );
    }
  }
  lines.push(
    "",
    `Memory per idle connection (${results.idleConnections} connections, each pass in a fresh server`,
    "process): without compression and with permessage-deflate negotiated (browser offer), each",
    "fresh and after every connection echoed one 4 KiB message (what state an idle connection",
    "keeps once used). Heap used + external after a forced GC, and RSS: Node leaves zlib's own",
    "allocations out of `external`, so only RSS shows a zlib stream kept per connection.",
    "",
    "| server | uncompressed | uncompressed, after a message | compressed | compressed, after a message | compressed / uncompressed, after a message |",
    "| :-- | --: | --: | --: | --: | --: |",
  );
  for (const row of results.memory) {
    const both = (cost: MemoryCost): string => `${kib(cost.heapAndExternal)} heap+ext, ${kib(cost.rss)} RSS`;
    const times = (a: number, b: number): string => `${(a / b).toFixed(2)}×`;
    lines.push(
      `| ${row.server} | ${both(row.plain)} | ${both(row.plainAfterMessage)} | ${both(row.compressed)} | ${both(row.afterMessage)} | ` +
        `${times(row.afterMessage.heapAndExternal, row.plainAfterMessage.heapAndExternal)} heap+ext, ${times(row.afterMessage.rss, row.plainAfterMessage.rss)} RSS |`,
    );
  }
  if (results.errors.length > 0) lines.push("", ...results.errors.map((error) => `- error: ${error}`));
  return `${lines.join("\n")}\n`;
}

function parseArgs(argv: readonly string[]): { options: CompressionBenchOptions; pin: boolean } {
  const options: CompressionBenchOptions = { warmupMs: 500, durationMs: 1500, repeat: 1, idleConnections: 2000, serverEnv: TUNED_ALLOCATOR };
  let pin = true;
  for (const arg of argv) {
    const [, name, value] = /^--([a-z-]+)(?:=(.*))?$/.exec(arg) ?? [];
    if (name === "duration") options.durationMs = Number(value) * 1000;
    else if (name === "warmup") options.warmupMs = Number(value) * 1000;
    else if (name === "repeat") options.repeat = Number(value);
    else if (name === "idle") options.idleConnections = Number(value);
    else if (name === "no-pin") pin = false;
    else if (name === "default-malloc") options.serverEnv = {};
    else throw new Error(`unknown argument ${arg}`);
  }
  return { options, pin };
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { options, pin } = parseArgs(process.argv.slice(2));
  const pinning = pin ? pinGenerator() : undefined;
  runCompressionBench(pinning, options).then(
    (results) => {
      console.log(`\n${renderCompression(results)}`);
      process.exit(0);
    },
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
