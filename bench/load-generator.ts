import type { Socket } from "node:net";
import { runLimited } from "./concurrency.ts";
import { openConnection, receive, type Protocol } from "./connect.ts";
import { ByteCounter, FrameCounter, type MessageCounter } from "./message-counters.ts";

export interface EchoLoadOptions {
  protocol: Protocol;
  port: number;
  connections: number;
  /** Messages each connection keeps outstanding. */
  inFlight: number;
  messageSize: number;
  /** The pre-masked frame every connection sends; for the raw server the same bytes. */
  frame: Buffer;
  connectTimeoutMs: number;
  connectConcurrency: number;
}

/** Closed-loop echo load: each connection sends a new message whenever an echo completes. */
export class EchoLoad {
  /** Echoes received back whole, over all connections, since `start`. */
  completed = 0;
  private running = false;
  private readonly failures: string[] = [];

  /** `inFlight` copies of the frame, end to end: no burst is longer. */
  private readonly burst: Buffer;

  private constructor(
    private readonly sockets: Socket[],
    private readonly options: EchoLoadOptions,
  ) {
    this.burst = Buffer.concat(Array.from({ length: options.inFlight }, () => options.frame));
  }

  static async open(options: EchoLoadOptions): Promise<EchoLoad> {
    const opened = await runLimited(
      options.connections,
      options.connectConcurrency,
      () => openConnection(options.protocol, options.port, options.connectTimeoutMs),
      (open) => open.socket.destroy(),
    );
    const load = new EchoLoad(
      opened.map((open) => open.socket),
      options,
    );
    opened.forEach((open) => load.wire(open.socket, open.leftover));
    return load;
  }

  /** The first few distinct things that went wrong (unexpected echoes, dropped connections). */
  get errors(): readonly string[] {
    return this.failures;
  }

  start(): void {
    this.running = true;
    for (const socket of this.sockets) this.send(socket, this.options.inFlight);
  }

  close(): void {
    this.running = false;
    for (const socket of this.sockets) socket.destroy();
  }

  private wire(socket: Socket, leftover: Buffer): void {
    const { protocol, messageSize, frame } = this.options;
    const counter: MessageCounter =
      protocol === "websocket"
        ? new FrameCounter(messageSize, frame[0]! & 0x0f)
        : new ByteCounter(frame.length);
    const onChunk = (chunk: Buffer): void => {
      const done = counter.push(chunk);
      if (counter.failure !== undefined) {
        this.fail(counter.failure);
        socket.destroy();
        return;
      }
      if (done === 0 || !this.running) return;
      this.completed += done;
      this.send(socket, done);
    };
    receive(socket, onChunk);
    socket.once("close", () => {
      if (this.running) this.fail("server closed a connection during the run");
    });
    if (leftover.length > 0) onChunk(leftover);
  }

  private send(socket: Socket, count: number): void {
    const frame = this.options.frame;
    if (count === 1) {
      socket.write(frame);
      return;
    }
    // A burst is a view of frames laid end to end ahead of time: one write and no
    // per-frame work, so that the generator does not cap small-message cells.
    socket.write(this.burst.subarray(0, count * frame.length));
  }

  private fail(message: string): void {
    if (this.failures.length < 5 && !this.failures.includes(message)) this.failures.push(message);
  }
}
