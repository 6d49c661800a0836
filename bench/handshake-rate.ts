import { once } from "node:events";
import { sleep } from "./concurrency.ts";
import { openConnection, receive, type Protocol } from "./connect.ts";
import { buildCloseFrame, OPCODE_CLOSE } from "./frames.ts";

const CLOSE_FRAME = buildCloseFrame();

export interface HandshakeLoadOptions {
  protocol: Protocol;
  port: number;
  concurrency: number;
  timeoutMs: number;
}

/**
 * Opens and closes connections back to back from `concurrency` loops until `stop`.
 * A WebSocket cycle is the full life: upgrade, close frame, the server's close echo and
 * the TCP close; a raw cycle is TCP connect and close.
 */
export class HandshakeLoad {
  completed = 0;
  failed = 0;
  private running = false;
  private loops: Promise<void>[] = [];
  private lastError: string | undefined;

  constructor(private readonly options: HandshakeLoadOptions) {}

  get error(): string | undefined {
    return this.lastError;
  }

  start(): void {
    this.running = true;
    this.loops = Array.from({ length: this.options.concurrency }, () => this.loop());
  }

  /** Stops starting cycles and waits (bounded by the cycle timeout) for those under way. */
  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }

  private async loop(): Promise<void> {
    while (this.running) {
      try {
        await this.cycle();
        this.completed++;
      } catch (error) {
        this.failed++;
        this.lastError = error instanceof Error ? error.message : String(error);
        // A refusing server would otherwise turn this loop into a busy spin.
        await sleep(10);
      }
    }
  }

  private async cycle(): Promise<void> {
    const { protocol, port, timeoutMs } = this.options;
    const { socket } = await openConnection(protocol, port, timeoutMs);
    const closed = once(socket, "close");
    const timer = setTimeout(() => socket.destroy(new Error("close timed out")), timeoutMs);
    let failure: Error | undefined;
    socket.once("error", (error) => (failure = error));
    try {
      if (protocol === "raw") {
        socket.end();
      } else {
        // The server's close echo is the only thing it sends now; once it is here, end
        // our side so the cycle does not depend on which peer closes TCP first.
        receive(socket, (chunk) => {
          if ((chunk[0]! & 0x0f) === OPCODE_CLOSE) socket.end();
        });
        socket.write(CLOSE_FRAME);
      }
      await closed;
    } finally {
      clearTimeout(timer);
    }
    if (failure !== undefined) throw failure;
  }
}
