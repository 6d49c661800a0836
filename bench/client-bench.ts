import { fork } from "node:child_process";
import { compiledScript } from "./compiled.ts";
import type { Pinning } from "./cpu-pinning.ts";
import type { DriverResult, DriverSettings } from "./client-driver.ts";
import { ServerProcess } from "./server-process.ts";

/**
 * The client case: ferry's Client and `ws`'s client, each in a process of its own, driving
 * the same `ws` echo server in turns. Client efficiency is messages per client CPU-second.
 */
export interface ClientCell {
  connections: number;
  size: number;
  inFlight: number;
}

export interface ClientRow extends ClientCell {
  ferry: DriverResult;
  ws: DriverResult;
}

export const CLIENT_CELLS: readonly ClientCell[] = [
  { connections: 1, size: 32, inFlight: 1 },
  { connections: 64, size: 32, inFlight: 16 },
  { connections: 64, size: 1024, inFlight: 16 },
  { connections: 16, size: 64 * 1024, inFlight: 4 },
];

const DRIVER = "bench/client-driver.ts";

function runDriver(settings: DriverSettings): Promise<DriverResult> {
  return new Promise((resolve) => {
    const child = fork(compiledScript(DRIVER), [JSON.stringify(settings)], { stdio: ["ignore", "ignore", "pipe", "ipc"] });
    let stderr = "";
    child.stderr?.on("data", (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2000)));
    const limit = setTimeout(() => child.kill("SIGKILL"), settings.warmupMs + settings.durationMs + 20_000);
    let result: DriverResult | undefined;
    child.on("message", (message: DriverResult) => (result = message));
    child.once("exit", () => {
      clearTimeout(limit);
      resolve(result ?? { messages: 0, cpuMs: 0, error: `driver exited without a result: ${stderr.trim()}` });
    });
  });
}

export async function runClientBench(
  pinning: Pinning | undefined,
  timing: { warmupMs: number; durationMs: number },
  log: (line: string) => void,
  serverEnv: Readonly<Record<string, string>>,
): Promise<ClientRow[]> {
  const server = await ServerProcess.spawn("ws", pinning, 15_000, serverEnv);
  const rows: ClientRow[] = [];
  try {
    for (const cell of CLIENT_CELLS) {
      const settings = { ...cell, port: server.port, ...timing };
      // Alternate, so that neither library always runs on a warmer or cooler machine.
      const ferry = await runDriver({ ...settings, library: "ferry" });
      const ws = await runDriver({ ...settings, library: "ws" });
      log(`  client ${cell.connections} × ${cell.size} B × ${cell.inFlight}: ferry ${rate(ferry, timing.durationMs)}, ws ${rate(ws, timing.durationMs)}`);
      rows.push({ ...cell, ferry, ws });
    }
  } finally {
    await server.stop();
  }
  return rows;
}

function rate(result: DriverResult, durationMs: number): string {
  if (result.error !== undefined) return `error (${result.error.split("\n")[0]})`;
  return `${Math.round((result.messages / durationMs) * 1000)} msg/s, ${Math.round((result.messages / result.cpuMs) * 1000)} msg/CPU-s`;
}

function formatCount(value: number): string {
  return value >= 1e6 ? `${(value / 1e6).toFixed(2)}M` : value >= 1e3 ? `${(value / 1e3).toFixed(1)}k` : String(Math.round(value));
}

export function renderClientRows(rows: readonly ClientRow[], durationMs: number): string {
  const lines = [
    "| conns | size | in flight | ferry msg/s | ws msg/s | ferry/ws msg/s | ferry msg/client CPU-s | ws msg/client CPU-s | ferry/ws efficiency |",
    "| --: | --: | --: | --: | --: | --: | --: | --: | --: |",
  ];
  for (const row of rows) {
    const ok = row.ferry.error === undefined && row.ws.error === undefined && row.ws.messages > 0;
    const perSecond = (r: DriverResult): number => (r.messages / durationMs) * 1000;
    const perCpu = (r: DriverResult): number => (r.cpuMs > 0 ? (r.messages / r.cpuMs) * 1000 : 0);
    lines.push(
      `| ${row.connections} | ${row.size >= 1024 ? `${row.size / 1024} KiB` : `${row.size} B`} | ${row.inFlight} | ` +
        (ok
          ? `${formatCount(perSecond(row.ferry))} | ${formatCount(perSecond(row.ws))} | ${(perSecond(row.ferry) / perSecond(row.ws)).toFixed(2)}× | ` +
            `${formatCount(perCpu(row.ferry))} | ${formatCount(perCpu(row.ws))} | ${(perCpu(row.ferry) / perCpu(row.ws)).toFixed(2)}× |`
          : `error | error | – | – | – | – |`),
    );
  }
  return lines.join("\n");
}
