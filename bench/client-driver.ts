/**
 * One client library driving an echo server, in a process of its own so that its CPU time
 * is its own: N connections, each keeping `inFlight` messages outstanding, for a while.
 * Started by client-bench.ts with its settings as JSON in argv; answers with one IPC message.
 */
import WebSocket from "ws";
import { Client } from "../src/index.ts";

export interface DriverSettings {
  library: "ferry" | "ws";
  port: number;
  connections: number;
  inFlight: number;
  size: number;
  warmupMs: number;
  durationMs: number;
}

export interface DriverResult {
  messages: number;
  cpuMs: number;
  /** Minor page faults of the driver process in the measuring window. */
  faults?: number;
  /** Resident set size at the end of the window, and after the connections closed and a second of idleness (after a GC when run with --expose-gc). */
  rss?: number;
  idleRss?: number;
  error?: string;
}

type Loop = (onEcho: () => void, stopped: () => boolean) => Promise<void>;

async function ferryLoops(settings: DriverSettings, payload: Buffer): Promise<Loop[]> {
  const clients = await Promise.all(
    Array.from({ length: settings.connections }, () =>
      Client.connect(`ws://127.0.0.1:${settings.port}/`, { webSocketCompressionEnabled: false, maxFrameSize: 4 << 20 }),
    ),
  );
  return clients.map((client) => async (onEcho, stopped) => {
    for (let i = 0; i < settings.inFlight; i++) void client.writeBinaryMessage(payload);
    while (!stopped()) {
      await client.readBinaryMessage();
      onEcho();
      void client.writeBinaryMessage(payload);
    }
    await client.close(1000, "", 1).catch(() => undefined);
  });
}

async function wsLoops(settings: DriverSettings, payload: Buffer): Promise<Loop[]> {
  const sockets = await Promise.all(
    Array.from(
      { length: settings.connections },
      () =>
        new Promise<WebSocket>((resolve, reject) => {
          const ws = new WebSocket(`ws://127.0.0.1:${settings.port}/`, { perMessageDeflate: false });
          ws.once("open", () => resolve(ws));
          ws.once("error", reject);
        }),
    ),
  );
  return sockets.map((ws) => (onEcho, stopped) => {
    for (let i = 0; i < settings.inFlight; i++) ws.send(payload);
    return new Promise<void>((resolve) => {
      ws.on("message", () => {
        onEcho();
        if (stopped()) {
          ws.terminate();
          resolve();
        } else {
          ws.send(payload);
        }
      });
    });
  });
}

async function drive(settings: DriverSettings): Promise<DriverResult> {
  const payload = Buffer.alloc(settings.size, 0x61);
  const loops = await (settings.library === "ferry" ? ferryLoops(settings, payload) : wsLoops(settings, payload));
  let counting = false;
  let messages = 0;
  let stop = false;
  const running = loops.map((loop) =>
    loop(
      () => {
        if (counting) messages++;
      },
      () => stop,
    ),
  );
  await new Promise((resolve) => setTimeout(resolve, settings.warmupMs));
  counting = true;
  const cpuBefore = process.cpuUsage();
  const faultsBefore = process.resourceUsage().minorPageFault;
  await new Promise((resolve) => setTimeout(resolve, settings.durationMs));
  const cpu = process.cpuUsage(cpuBefore);
  const faults = process.resourceUsage().minorPageFault - faultsBefore;
  const rss = process.memoryUsage.rss();
  counting = false;
  stop = true;
  await Promise.race([Promise.all(running), new Promise((resolve) => setTimeout(resolve, 2000))]);
  await new Promise((resolve) => setTimeout(resolve, 1000));
  (globalThis as { gc?: () => void }).gc?.();
  return { messages, cpuMs: (cpu.user + cpu.system) / 1000, faults, rss, idleRss: process.memoryUsage.rss() };
}

const settings = JSON.parse(process.argv[2] ?? "{}") as DriverSettings;
drive(settings).then(
  (result) => process.send!(result, () => process.exit(0)),
  (error: unknown) => process.send!({ messages: 0, cpuMs: 0, error: String(error) } satisfies DriverResult, () => process.exit(1)),
);
