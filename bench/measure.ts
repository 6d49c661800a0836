import { performance } from "node:perf_hooks";
import { runLimited, sleep } from "./concurrency.ts";
import { openConnection } from "./connect.ts";
import { HandshakeLoad } from "./handshake-rate.ts";
import { EchoLoad } from "./load-generator.ts";
import type { ServerProcess } from "./server-process.ts";
import {
  measureWindow,
  rates,
  settle,
  type Mark,
  type RateMeasurement,
  type Window,
} from "./measurement-window.ts";

const CONNECT_TIMEOUT_MS = 5_000;
const CONNECT_CONCURRENCY = 64;
const IDLE_CONNECT_CONCURRENCY = 100;
/**
 * How long the idle connections are left alone before RSS is read again. Opening thousands
 * of connections grows V8's young generation to its maximum, which stays resident until
 * V8's memory reducer sees the process idle for several seconds (about 12 s on the
 * development machine); only then does RSS show what the connections themselves keep.
 */
export const IDLE_SETTLE_MS = 15_000;

export interface EchoCell {
  connections: number;
  messageSize: number;
  inFlight: number;
}

export async function measureEcho(
  server: ServerProcess,
  cell: EchoCell,
  frame: Buffer,
  window: Window,
): Promise<RateMeasurement> {
  const opening = performance.now();
  const load = await EchoLoad.open({
    protocol: server.protocol,
    port: server.port,
    connections: cell.connections,
    inFlight: cell.inFlight,
    messageSize: cell.messageSize,
    frame,
    connectTimeoutMs: CONNECT_TIMEOUT_MS,
    connectConcurrency: CONNECT_CONCURRENCY,
  });
  const opened = performance.now();
  let start: Mark;
  let end: Mark;
  try {
    load.start();
    [start, end] = await measureWindow(server, () => load.completed, window);
  } finally {
    load.close();
  }
  const closed = performance.now();
  await settle(server);
  if (load.errors.length > 0) throw new Error(load.errors.join("; "));
  if (end.count === start.count) throw new Error("no echo completed in the window");
  return {
    ...rates(start, end),
    bytesPerSecond: ((end.count - start.count) * cell.messageSize * 1000) / (end.time - start.time),
    openSeconds: (opened - opening) / 1000,
    settleSeconds: (performance.now() - closed) / 1000,
  };
}

export async function measureHandshakes(
  server: ServerProcess,
  concurrency: number,
  window: Window,
): Promise<RateMeasurement> {
  const load = new HandshakeLoad({
    protocol: server.protocol,
    port: server.port,
    concurrency,
    timeoutMs: CONNECT_TIMEOUT_MS,
  });
  let start: Mark;
  let end: Mark;
  let failuresAtStart: number | undefined;
  let failuresAtEnd = 0;
  const count = (): number => {
    // The first call is the start mark, the last the end mark: failures between are the window's.
    failuresAtStart ??= load.failed;
    failuresAtEnd = load.failed;
    return load.completed;
  };
  try {
    load.start();
    [start, end] = await measureWindow(server, count, window);
  } finally {
    await load.stop();
  }
  await settle(server);
  if (end.count === start.count) throw new Error(`no handshake completed: ${load.error ?? "?"}`);
  return { ...rates(start, end), failures: failuresAtEnd - (failuresAtStart ?? 0) };
}

export interface IdleMemory {
  connections: number;
  /** Bytes per connection. */
  rss: number;
  /** RSS per connection once the idle server has given back what the handshakes grew. */
  settledRss: number;
  heapAndExternal: number;
}

export async function measureIdleMemory(
  server: ServerProcess,
  connections: number,
): Promise<IdleMemory> {
  const before = await server.memory();
  const opened = await runLimited(
    connections,
    IDLE_CONNECT_CONCURRENCY,
    () => openConnection(server.protocol, server.port, CONNECT_TIMEOUT_MS),
    (open) => open.socket.destroy(),
  );
  let closedEarly = 0;
  for (const { socket } of opened) socket.once("close", () => closedEarly++);
  try {
    // Let per-connection work that trails the handshake (timers, first reads) happen.
    await sleep(500);
    const after = await server.memory();
    await sleep(IDLE_SETTLE_MS);
    const settled = await server.memory();
    if (closedEarly > 0) throw new Error(`${closedEarly} idle connections were closed by the server`);
    return {
      connections,
      rss: (after.rss - before.rss) / connections,
      settledRss: (settled.rss - before.rss) / connections,
      heapAndExternal: (after.heapUsed + after.external - before.heapUsed - before.external) / connections,
    };
  } finally {
    for (const { socket } of opened) socket.destroy();
    await settle(server);
  }
}
