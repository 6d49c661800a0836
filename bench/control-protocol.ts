/** Messages between the runner and a server child over the IPC channel. */

export interface ReadyMessage {
  type: "ready";
  port: number;
}

export interface ControlRequest {
  id: number;
  type: "cpu" | "memory";
}

export interface CpuSample {
  /** Microseconds, as process.cpuUsage() reports them. */
  user: number;
  system: number;
}

export interface MemorySample {
  rss: number;
  heapUsed: number;
  external: number;
}

export type ControlReply =
  | { id: number; type: "cpu"; cpu: CpuSample }
  | { id: number; type: "memory"; memory: MemorySample };
