import { writeFileSync } from "node:fs";
import { renderClientRows, runClientBench } from "./client-bench.ts";
import { renderCompression, runCompressionBench } from "./compression.ts";
import { sleep } from "./concurrency.ts";
import { TUNED_ALLOCATOR } from "./allocator.ts";
import { repoPath } from "./compiled.ts";
import { pinGenerator } from "./cpu-pinning.ts";
import { buildMessageFrame } from "./frames.ts";
import { machineCpuSeconds } from "./machine-load.ts";
import { renderMallocTuning, runMallocTuningBench } from "./malloc-tuning.ts";
import { IDLE_SETTLE_MS, measureEcho, measureHandshakes, measureIdleMemory, type EchoCell } from "./measure.ts";
import { formatSize, parseOptions, type BenchOptions } from "./options.ts";
import {
  renderMarkdown,
  renderReport,
  summarizeError,
  type BenchResults,
  type Outcome,
  type PerServer,
} from "./report.ts";
import { ServerPool } from "./server-pool.ts";
import type { ServerName, ServerProcess } from "./server-process.ts";
import { systemInfo } from "./system-info.ts";
import { settle, type RateMeasurement } from "./measurement-window.ts";

const BENCHMARKS_FILE = repoPath("BENCHMARKS.md");

/**
 * Runs `task` once per server per round, rotating the order every round, and keeps each
 * server's median round (by `rank`): on a shared machine one unlucky round is common.
 */
async function eachServer<T>(
  pool: ServerPool,
  step: number,
  rounds: number,
  task: (server: ServerProcess) => Promise<T>,
  rank: (value: T) => number,
  show: (value: T) => string,
): Promise<PerServer<T>> {
  const collected = new Map<ServerName, Outcome<T>[]>();
  for (let round = 0; round < rounds; round++) {
    for (const name of pool.rotation(step + round)) {
      const server = await pool.get(name);
      if (server === undefined) continue;
      const began = Date.now();
      let outcome: Outcome<T>;
      try {
        outcome = { value: await task(server) };
      } catch (error) {
        outcome = { error: summarizeError(error) };
        // A server left drowning in the backlog of a failed run would fail the next ones
        // too; the pool starts a fresh one on next use.
        await settle(server).catch(() => server.killNow());
      }
      const took = ((Date.now() - began) / 1000).toFixed(1);
      const text = "value" in outcome ? show(outcome.value) : outcome.error;
      console.log(`  ${name.padEnd(5)} ${text} (${took} s)`);
      collected.set(name, [...(collected.get(name) ?? []), outcome]);
    }
  }
  const outcomes: PerServer<T> = {};
  for (const [name, list] of collected) {
    const errors = list.flatMap((outcome) => ("error" in outcome ? [outcome.error] : []));
    const values = list.flatMap((outcome) => ("value" in outcome ? [outcome.value] : []));
    values.sort((a, b) => rank(a) - rank(b));
    const median = values[Math.floor(values.length / 2)];
    outcomes[name] =
      median === undefined
        ? { error: errors[0]! }
        : errors.length === 0
          ? { value: median }
          : { value: median, failedRounds: errors };
  }
  return outcomes;
}

/** The context of a rate: competing load, and a window stretched because marks were slow. */
function context(measurement: RateMeasurement): string {
  const parts: string[] = [];
  if (measurement.otherCpu !== undefined) parts.push(`others ${measurement.otherCpu.toFixed(0)}%`);
  if (measurement.markLagSeconds > 0.1) {
    const { windowSeconds, markLagSeconds } = measurement;
    parts.push(`window ${windowSeconds.toFixed(1)} s, marks lag ${markLagSeconds.toFixed(1)} s`);
  }
  return parts.length === 0 ? "" : `, ${parts.join(", ")}`;
}

function cells(options: BenchOptions): EchoCell[] {
  const all: EchoCell[] = [];
  for (const connections of options.connections) {
    for (const messageSize of options.sizes) {
      for (const inFlight of options.inFlight) all.push({ connections, messageSize, inFlight });
    }
  }
  return all;
}

/** Generous: a run that overshoots this is stuck, and must not hang a terminal or CI job. */
function watchdogMs(options: BenchOptions, cellCount: number): number {
  const perStep = options.warmupMs + options.durationMs + 5_000;
  const steps =
    (cellCount + (options.handshakes ? 1 : 0) + (options.compression ? 12 : 0)) * options.repeat +
    (options.memory ? 4 : 0) +
    (options.client ? 8 : 0) +
    (options.mallocTuning ? 4 * Math.max(2, options.repeat) : 0);
  return 120_000 + 2 * steps * options.servers.length * perStep;
}

/** A busy machine makes every number below noise; say so before spending minutes on it. */
async function warnIfBusy(): Promise<void> {
  const before = machineCpuSeconds();
  const ownBefore = process.cpuUsage();
  await sleep(500);
  const after = machineCpuSeconds();
  if (before === undefined || after === undefined) return;
  const own = process.cpuUsage(ownBefore);
  const busy = (100 * (after - before - (own.user + own.system) / 1e6)) / 0.5;
  if (busy > 20) {
    console.log(`warning: other processes use ${busy.toFixed(0)}% of a core; expect noisy numbers`);
  }
}

/** Module-level so that exit paths can stop the children whatever state main is in. */
let pool: ServerPool | undefined;

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2), process.env);
  const system = systemInfo();
  const pinning = options.pin ? pinGenerator() : undefined;
  const plan = cells(options);
  const started = Date.now();
  const watchdog = setTimeout(() => {
    console.error("bench: overall time limit reached; stopping the servers");
    process.exit(2);
  }, watchdogMs(options, plan.length));
  watchdog.unref();

  console.log(`ferry bench: ${system.cpuModel}, ${system.cores} cores, node ${system.node}`);
  console.log(
    pinning === undefined
      ? "not pinned to cores (no taskset, fewer than 2 cores, or --no-pin)"
      : `generator pinned to core ${pinning.generatorCore}, servers to core ${pinning.serverCore}`,
  );
  const serverEnv = options.tunedAllocator ? TUNED_ALLOCATOR : {};
  const servers = new ServerPool(pinning, serverEnv);
  pool = servers;
  await Promise.all([servers.start(options.servers), warnIfBusy()]);
  if (servers.size === 0) throw new Error("no server started");

  const results: BenchResults = {
    system,
    options,
    pinning,
    unavailable: servers.unavailable,
    memory: {},
    handshakes: {},
    cells: [],
    elapsedSeconds: 0,
  };
  let step = 0;
  // Memory first, while the servers' heaps are fresh: RSS growth is hidden once a process
  // has pages to reuse from earlier load.
  if (options.memory) {
    console.log(`\nmemory per idle connection (${options.idleConnections} connections)`);
    results.memory = await eachServer(
      servers,
      step++,
      1,
      (server) => measureIdleMemory(server, options.idleConnections),
      (m) => m.rss,
      (m) =>
        `RSS ${(m.rss / 1024).toFixed(1)} KiB, ${(m.settledRss / 1024).toFixed(1)} KiB after ${IDLE_SETTLE_MS / 1000} s idle, ` +
        `heap+external ${(m.heapAndExternal / 1024).toFixed(1)} KiB`,
    );
  }
  if (options.handshakes) {
    console.log(`\nhandshakes per second (${options.handshakeConcurrency} concurrent)`);
    results.handshakes = await eachServer(
      servers,
      step++,
      options.repeat,
      (server) => measureHandshakes(server, options.handshakeConcurrency, options),
      (m) => m.perSecond,
      (m) =>
        `${m.perSecond.toFixed(0)}/s, ${m.perServerCpuSecond.toFixed(0)} per server CPU-s, ` +
        `${m.failures} failed${context(m)}`,
    );
  }

  const frames = new Map(
    options.sizes.map((size) => [size, buildMessageFrame(options.frameKind, size)]),
  );
  for (const [index, cell] of plan.entries()) {
    const title =
      `[${index + 1}/${plan.length}] ${cell.connections} conns × ` +
      `${formatSize(cell.messageSize)} × ${cell.inFlight} in flight`;
    if (cell.connections * cell.inFlight * cell.messageSize > options.maxOutstandingBytes) {
      console.log(`\n${title}: skipped, more than --max-outstanding in flight`);
      results.cells.push({ cell, results: {}, skipped: true });
      continue;
    }
    console.log(`\n${title}`);
    const outcomes = await eachServer(
      servers,
      step++,
      options.repeat,
      (server) => measureEcho(server, cell, frames.get(cell.messageSize)!, options),
      (m) => m.perSecond,
      (m) =>
        `${m.perSecond.toFixed(0)} msg/s, ${m.perServerCpuSecond.toFixed(0)} msg/CPU-s, ` +
        `CPU server ${m.serverCpu.toFixed(0)}%, generator ${m.generatorCpu.toFixed(0)}%${context(m)}; ` +
        `open ${m.openSeconds?.toFixed(1)} s, settle ${m.settleSeconds?.toFixed(1)} s`,
    );
    results.cells.push({ cell, results: outcomes });
  }

  await servers.stop();

  const timing = { warmupMs: options.warmupMs, durationMs: options.durationMs };
  let extra = "";
  if (options.compression) {
    const compression = await runCompressionBench(pinning, { ...timing, repeat: options.repeat, idleConnections: 2000, serverEnv });
    extra += `\n${renderCompression(compression)}\n`;
  }
  if (options.client) {
    console.log("\nclient case: ferry's Client and ws's client against the same ws echo server");
    const rows = await runClientBench(pinning, timing, console.log, serverEnv);
    extra +=
      "\n## Clients\n\nferry's `Client` and `ws`'s client, each in a process of its own, drive the same `ws` echo " +
      "server in turns (bench/client-bench.ts); efficiency is messages per client CPU-second.\n\n" +
      `${renderClientRows(rows, options.durationMs)}\n`;
  }
  if (options.mallocTuning) {
    console.log("");
    const tuning = { durationMs: options.durationMs, rounds: Math.max(2, options.repeat), size: 64 * 1024 };
    extra += `\n${renderMallocTuning(await runMallocTuningBench(pinning, tuning, console.log), tuning)}`;
  }
  results.elapsedSeconds = (Date.now() - started) / 1000;

  console.log(`\n${renderReport(results, "text")}${extra}`);
  if (options.write) {
    writeFileSync(BENCHMARKS_FILE, renderMarkdown(results) + extra);
    console.log(`wrote ${BENCHMARKS_FILE}`);
  } else {
    console.log("(BENCHMARKS.md not written: partial run; pass --write to write it anyway)");
  }
}

// Every way out goes through process.exit, and so through this.
process.on("exit", () => pool?.kill());
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => process.exit(signal === "SIGINT" ? 130 : 143));
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(`bench: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
