import { performance } from "node:perf_hooks";
import { sleep } from "./concurrency.ts";
import type { CpuSample } from "./control-protocol.ts";
import { machineCpuSeconds } from "./machine-load.ts";
import type { ServerProcess } from "./server-process.ts";

/** Time for the server to notice closed sockets before the next measurement starts. */
const SETTLE_MS = 150;
/** A control round trip under this means the server's event loop is no longer backed up. */
const PROMPT_REPLY_MS = 50;
const SETTLE_LIMIT_MS = 30_000;
/** The window is stretched to this many slowest control round trips, up to the cap. */
const WINDOW_PER_LAG = 10;
const MAX_WINDOW_MS = 8_000;

export interface Window {
  warmupMs: number;
  durationMs: number;
}

/** Rates over one measuring window, with the CPU both sides spent in it. */
export interface RateMeasurement {
  perSecond: number;
  /** Per CPU-second of the server child: what the server costs, whoever was the bottleneck. */
  perServerCpuSecond: number;
  /** Share of one core, in percent. */
  serverCpu: number;
  generatorCpu: number;
  /**
   * What every other process on the machine used, so a reader can tell a slow server from
   * a busy machine; undefined where it cannot be measured.
   */
  otherCpu: number | undefined;
  /** Payload bytes per second in one direction (echo matrix only). */
  bytesPerSecond?: number;
  /** Cycles that failed in the window (handshakes only). */
  failures?: number;
  /** The measuring window, stretched from the configured one when marks were slow. */
  windowSeconds: number;
  /** The slowest control round trip of the window's marks: its uncertainty at each end. */
  markLagSeconds: number;
  /** Time taken to open the connections and to let the server settle after closing them. */
  openSeconds?: number;
  settleSeconds?: number;
}

export interface Mark {
  time: number;
  lag: number;
  count: number;
  server: CpuSample;
  generator: NodeJS.CpuUsage;
  machine: number | undefined;
}

async function mark(server: ServerProcess, count: () => number): Promise<Mark> {
  // The child samples its CPU somewhere between our request and its reply, which can be far
  // apart when both event loops are busy; the midpoint keeps count and CPU together to
  // within half that round trip.
  const sentAt = performance.now();
  const countAtSend = count();
  const cpu = await server.cpu();
  const repliedAt = performance.now();
  return {
    time: (sentAt + repliedAt) / 2,
    lag: repliedAt - sentAt,
    count: (countAtSend + count()) / 2,
    server: cpu,
    generator: process.cpuUsage(),
    machine: machineCpuSeconds(),
  };
}

export function rates(start: Mark, end: Mark): RateMeasurement {
  const seconds = (end.time - start.time) / 1000;
  const count = end.count - start.count;
  const serverCpuSeconds =
    (end.server.user + end.server.system - start.server.user - start.server.system) / 1e6;
  const generatorCpuSeconds =
    (end.generator.user + end.generator.system - start.generator.user - start.generator.system) / 1e6;
  const otherCpuSeconds =
    start.machine === undefined || end.machine === undefined
      ? undefined
      : Math.max(0, end.machine - start.machine - serverCpuSeconds - generatorCpuSeconds);
  return {
    windowSeconds: seconds,
    markLagSeconds: Math.max(start.lag, end.lag) / 1000,
    perSecond: count / seconds,
    perServerCpuSecond: serverCpuSeconds > 0 ? count / serverCpuSeconds : 0,
    serverCpu: (100 * serverCpuSeconds) / seconds,
    generatorCpu: (100 * generatorCpuSeconds) / seconds,
    otherCpu: otherCpuSeconds === undefined ? undefined : (100 * otherCpuSeconds) / seconds,
  };
}

/**
 * Warm-up, then the measuring window between two marks. Under heavy load both event loops
 * can take seconds per turn, so a mark may lag by that much; the window is then stretched
 * (within a cap) to keep that uncertainty a small part of it.
 */
export async function measureWindow(
  server: ServerProcess,
  count: () => number,
  window: Window,
): Promise<[Mark, Mark]> {
  await sleep(window.warmupMs);
  const start = await mark(server, count);
  await sleep(window.durationMs);
  let end = await mark(server, count);
  let lag = Math.max(start.lag, end.lag);
  const cap = Math.max(window.durationMs, MAX_WINDOW_MS);
  while (end.time - start.time < Math.min(WINDOW_PER_LAG * lag, cap)) {
    await sleep(Math.min(WINDOW_PER_LAG * lag, cap) - (end.time - start.time));
    end = await mark(server, count);
    lag = Math.max(lag, end.lag);
  }
  end.lag = lag;
  return [start, end];
}

/**
 * Waits until the server answers promptly again, so that the next run does not start on
 * the backlog of this one; throws if it is still busy after SETTLE_LIMIT_MS.
 */
export async function settle(server: ServerProcess): Promise<void> {
  await sleep(SETTLE_MS);
  const deadline = performance.now() + SETTLE_LIMIT_MS;
  for (;;) {
    const sentAt = performance.now();
    await server.cpu();
    if (performance.now() - sentAt < PROMPT_REPLY_MS) return;
    if (performance.now() > deadline) {
      const limit = SETTLE_LIMIT_MS / 1000;
      throw new Error(`${server.name} server still busy ${limit} s after the load stopped`);
    }
    await sleep(100);
  }
}
