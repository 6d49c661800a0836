import { spawn, type ChildProcess } from "node:child_process";
import { compiledScript, repoPath } from "./compiled.ts";
import type { Protocol } from "./connect.ts";
import type { ControlReply, CpuSample, MemorySample, ReadyMessage } from "./control-protocol.ts";
import { serverCommand, type Pinning } from "./cpu-pinning.ts";

export type ServerName = "ferry" | "ws" | "raw";
export const SERVER_NAMES: readonly ServerName[] = ["ferry", "ws", "raw"];

const SCRIPTS: Record<ServerName, string> = {
  ferry: "bench/servers/ferry-echo.ts",
  ws: "bench/servers/ws-echo.ts",
  raw: "bench/servers/raw-echo.ts",
};
const REPO_ROOT = repoPath(".");
const OUTPUT_TAIL = 4096;
// Under the heaviest cells a busy event loop has been seen to take over 10 s per turn.
const REQUEST_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 3_000;

interface Pending {
  resolve: (reply: ControlReply) => void;
  reject: (error: Error) => void;
}

/** One echo server in its own child process, driven over IPC. */
export class ServerProcess {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private output = "";
  private exitReason: string | undefined;
  private boundPort = 0;

  private constructor(
    readonly name: ServerName,
    private readonly child: ChildProcess,
  ) {
    const collect = (chunk: Buffer): void => {
      this.output = (this.output + chunk.toString("utf8")).slice(-OUTPUT_TAIL);
    };
    child.stdout?.on("data", collect);
    child.stderr?.on("data", collect);
    child.on("error", (error) => this.exited(`could not run (${error.message})`));
    child.once("exit", (code, signal) => this.exited(`exited (${signal ?? `code ${code}`})`));
    child.on("message", (reply: ControlReply) => {
      const pending = this.pending.get(reply.id);
      this.pending.delete(reply.id);
      pending?.resolve(reply);
    });
  }

  static async spawn(
    name: ServerName,
    pinning: Pinning | undefined,
    timeoutMs: number,
    env: Readonly<Record<string, string>> = {},
  ): Promise<ServerProcess> {
    const [command, ...args] = serverCommand(pinning, [
      process.execPath,
      "--expose-gc",
      compiledScript(SCRIPTS[name]),
    ]);
    const child = spawn(command!, args, { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe", "ipc"] });
    const server = new ServerProcess(name, child);
    try {
      server.boundPort = await server.ready(timeoutMs);
    } catch (error) {
      server.killNow();
      throw error;
    }
    return server;
  }

  get port(): number {
    return this.boundPort;
  }

  get protocol(): Protocol {
    return this.name === "raw" ? "raw" : "websocket";
  }

  get alive(): boolean {
    return this.exitReason === undefined;
  }

  /** Why the child is gone, with the last few KB it printed. */
  describeExit(): string {
    const output = this.output.trim();
    return `${this.name} server ${this.exitReason ?? "is running"}${output ? `:\n${output}` : ""}`;
  }

  cpu(): Promise<CpuSample> {
    return this.request("cpu").then((reply) => (reply.type === "cpu" ? reply.cpu : unexpected(reply)));
  }

  memory(): Promise<MemorySample> {
    return this.request("memory").then((reply) =>
      reply.type === "memory" ? reply.memory : unexpected(reply),
    );
  }

  /** Asks the child to leave by closing its IPC channel, then kills it if it lingers. */
  async stop(): Promise<void> {
    if (!this.alive) return;
    const exited = new Promise<void>((resolve) => this.child.once("exit", () => resolve()));
    if (this.child.connected) this.child.disconnect();
    const timer = setTimeout(() => this.child.kill("SIGKILL"), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  }

  /** For exit paths, where nothing asynchronous runs any more. */
  killNow(): void {
    if (this.alive) this.child.kill("SIGKILL");
  }

  private ready(timeoutMs: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.child.off("message", onMessage);
        const output = this.output.trim();
        reject(new Error(`${this.name} server did not report a port within ${timeoutMs} ms:\n${output}`));
      }, timeoutMs);
      const onMessage = (message: ReadyMessage): void => {
        if (message.type !== "ready") return;
        clearTimeout(timer);
        this.child.off("message", onMessage);
        this.child.off("exit", onExit);
        resolve(message.port);
      };
      const onExit = (): void => {
        clearTimeout(timer);
        this.child.off("message", onMessage);
        reject(new Error(this.describeExit()));
      };
      this.child.on("message", onMessage);
      this.child.once("exit", onExit);
    });
  }

  private exited(reason: string): void {
    this.exitReason ??= reason;
    for (const pending of this.pending.values()) pending.reject(new Error(this.describeExit()));
    this.pending.clear();
  }

  private request(type: "cpu" | "memory"): Promise<ControlReply> {
    if (!this.alive) return Promise.reject(new Error(this.describeExit()));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.name} server did not answer a ${type} request in time`));
      }, REQUEST_TIMEOUT_MS);
      const settle = {
        resolve: (reply: ControlReply) => {
          clearTimeout(timer);
          resolve(reply);
        },
        reject: (error: Error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      this.pending.set(id, settle);
      this.child.send({ id, type }, (error) => {
        if (error === null || error === undefined) return;
        this.pending.delete(id);
        settle.reject(error);
      });
    });
  }
}

function unexpected(reply: ControlReply): never {
  throw new Error(`unexpected control reply ${JSON.stringify(reply)}`);
}
