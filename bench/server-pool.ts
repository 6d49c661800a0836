import type { Pinning } from "./cpu-pinning.ts";
import { summarizeError } from "./report.ts";
import { ServerProcess, type ServerName } from "./server-process.ts";

const START_TIMEOUT_MS = 30_000;

/** The echo servers of one run, kept in a fixed order and brought back if one dies. */
export class ServerPool {
  private readonly servers = new Map<ServerName, ServerProcess>();
  /** Servers that could not be started, with the reason. */
  readonly unavailable: Partial<Record<ServerName, string>> = {};

  constructor(
    private readonly pinning: Pinning | undefined,
    private readonly env: Readonly<Record<string, string>>,
  ) {}

  get size(): number {
    return this.servers.size;
  }

  async start(names: readonly ServerName[]): Promise<void> {
    const started = await Promise.all(names.map((name) => this.spawn(name)));
    // Insert in the order asked for, whatever order the children came up in.
    started.forEach((server) => server !== undefined && this.servers.set(server.name, server));
  }

  /** Each step starts with a different server, so none is always first or last. */
  rotation(step: number): ServerName[] {
    const names = [...this.servers.keys()];
    const shift = step % Math.max(names.length, 1);
    return [...names.slice(shift), ...names.slice(0, shift)];
  }

  /** The running server, restarted first if it died earlier, so one crash costs one cell. */
  async get(name: ServerName): Promise<ServerProcess | undefined> {
    const server = this.servers.get(name);
    if (server === undefined || server.alive) return server;
    console.log(`  ${name}: ${summarizeError(server.describeExit())}; restarting it`);
    this.servers.delete(name);
    const fresh = await this.spawn(name);
    if (fresh !== undefined) this.servers.set(name, fresh);
    return fresh;
  }

  async stop(): Promise<void> {
    await Promise.all([...this.servers.values()].map((server) => server.stop()));
    this.servers.clear();
  }

  /** For exit paths, where nothing asynchronous runs any more. */
  kill(): void {
    for (const server of this.servers.values()) server.killNow();
  }

  private async spawn(name: ServerName): Promise<ServerProcess | undefined> {
    try {
      return await ServerProcess.spawn(name, this.pinning, START_TIMEOUT_MS, this.env);
    } catch (error) {
      this.unavailable[name] = summarizeError(error);
      console.log(`${name} server did not start: ${this.unavailable[name]}`);
      return undefined;
    }
  }
}
