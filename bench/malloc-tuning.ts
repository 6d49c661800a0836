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
 * keeps from the rest of the host). Run alone, small enough for a shared machine:
 *
 *   npx tsx bench/malloc-tuning.ts [--duration=S] [--rounds=N] [--size=64k] [--no-pin]
 */
import { fork } from "node:child_process";
import { compiledScript } from "./compiled.ts";
import { pinGenerator, type Pinning } from "./cpu-pinning.ts";
import type { DriverResult, DriverSettings } from "./client-driver.ts";
import { buildMessageFrame } from "./frames.ts";
import { measureEcho } from "./measure.ts";
import { ServerProcess } from "./server-process.ts";

const CONNECTIONS = 16;
const IN_FLIGHT = 4;
const FIXED_ALLOCATOR = { MALLOC_MMAP_THRESHOLD_: String(32 << 20), MALLOC_TRIM_THRESHOLD_: String(64 << 20) };

interface Row {
  role: "client" | "server";
  tuning: boolean;
  perSecond: number;
  perCpuSecond: number;
  faultsPerMessage: number | undefined;
  rss: number;
  idleRss: number | undefined;
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

async function clientRow(pinning: Pinning | undefined, size: number, durationMs: number, tuning: boolean): Promise<Row> {
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
      rss: result.rss!,
      idleRss: result.idleRss,
    };
  } finally {
    await server.stop();
  }
}

async function serverRow(pinning: Pinning | undefined, size: number, durationMs: number, tuning: boolean): Promise<Row> {
  const server = await ServerProcess.spawn("ferry", pinning, 15_000, tuningEnv(tuning));
  try {
    const frame = buildMessageFrame("binary", size);
    const measured = await measureEcho(server, { connections: CONNECTIONS, messageSize: size, inFlight: IN_FLIGHT }, frame, { warmupMs: 1000, durationMs });
    const loaded = await server.memory();
    return { role: "server", tuning, perSecond: measured.perSecond, perCpuSecond: measured.perServerCpuSecond, faultsPerMessage: undefined, rss: loaded.rss, idleRss: undefined };
  } finally {
    await server.stop();
  }
}

function format(row: Row): string {
  const mib = (bytes: number): string => `${(bytes / (1 << 20)).toFixed(0)} MiB`;
  return (
    `${row.role.padEnd(6)} tuning ${row.tuning ? "on " : "off"}: ${row.perSecond.toFixed(0)} msg/s, ${row.perCpuSecond.toFixed(0)} msg/CPU-s` +
    (row.faultsPerMessage === undefined ? "" : `, ${row.faultsPerMessage.toFixed(2)} faults/msg`) +
    `, RSS ${mib(row.rss)}${row.idleRss === undefined ? " after the run (GC)" : ` under load, ${mib(row.idleRss)} idle after GC`}`
  );
}

async function main(): Promise<void> {
  let durationMs = 3000;
  let rounds = 2;
  let size = 64 * 1024;
  let pin = true;
  for (const arg of process.argv.slice(2)) {
    const [, name, value = ""] = /^--([a-z-]+)(?:=(.*))?$/.exec(arg) ?? [];
    if (name === "duration") durationMs = Number(value) * 1000;
    else if (name === "rounds") rounds = Number(value);
    else if (name === "size") size = Number(value.replace(/k$/i, "")) * (/k$/i.test(value) ? 1024 : 1);
    else if (name === "no-pin") pin = false;
    else throw new Error(`unknown argument ${arg}`);
  }
  // glibc's own variables would take the decision out of ferry's hands; children inherit this.
  for (const name of Object.keys(process.env)) if (name.startsWith("MALLOC_") || name === "GLIBC_TUNABLES") delete process.env[name];
  const pinning = pin ? pinGenerator() : undefined;
  console.log(`malloc tuning on and off, node ${process.version}: ${CONNECTIONS} connections × ${size} B × ${IN_FLIGHT} in flight, ${durationMs / 1000} s per run`);
  for (let round = 0; round < rounds; round++) {
    // Alternate, so that neither setting always runs on a warmer or cooler machine.
    const order = round % 2 === 0 ? [true, false] : [false, true];
    for (const tuning of order) console.log(format(await clientRow(pinning, size, durationMs, tuning)));
    for (const tuning of order) console.log(format(await serverRow(pinning, size, durationMs, tuning)));
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
