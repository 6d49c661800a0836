import { ConnectionClosureError, ConnectionError, ReadTimedOutError, type WebSocketError } from "../errors.ts";

export type InboundMessage = string | Buffer;

interface Reader {
  resolve: (message: InboundMessage) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout | undefined;
}

/** How the inbox ended: what a read that was waiting gets, and what later ones get. */
interface Ending {
  pending: Error;
  later: Error;
  /** True when a close frame ended it: iteration stops quietly. */
  clean: boolean;
}

/**
 * Messages the client received and nobody read yet, and the reads waiting for them, both
 * first come, first served. Bounded: past `maxBytes` unread, `push` returns a promise that
 * settles when reads make room, and the connection stops reading meanwhile.
 */
export class MessageInbox {
  private messages: InboundMessage[] = [];
  private bytes = 0;
  private readers: Reader[] = [];
  private ending: Ending | undefined;
  private room: (() => void) | undefined;

  constructor(private readonly maxBytes: number) {}

  push(message: InboundMessage): Promise<void> | undefined {
    const reader = this.readers.shift();
    if (reader !== undefined) {
      clearTimeout(reader.timer);
      reader.resolve(message);
      return undefined;
    }
    this.messages.push(message);
    this.bytes += message.length;
    if (this.bytes <= this.maxBytes) return undefined;
    return new Promise((resolve) => (this.room = resolve));
  }

  /** The next message; `timeout` seconds (-1: forever) → ReadTimedOutError, the inbox unchanged. */
  take(timeout: number): Promise<InboundMessage> {
    const message = this.messages.shift();
    if (message !== undefined) {
      this.bytes -= message.length;
      if (this.room !== undefined && this.bytes <= this.maxBytes) {
        const room = this.room;
        this.room = undefined;
        room();
      }
      return Promise.resolve(message);
    }
    if (this.ending !== undefined) return Promise.reject(this.ending.later);
    return new Promise((resolve, reject) => {
      const reader: Reader = { resolve, reject, timer: undefined };
      if (timeout >= 0) {
        reader.timer = setTimeout(() => {
          this.readers = this.readers.filter((r) => r !== reader);
          reject(new ReadTimedOutError(`Read timed out: no message within ${timeout} seconds`));
        }, timeout * 1000);
      }
      this.readers.push(reader);
    });
  }

  /** Whether the inbox has ended cleanly (a close frame) with nothing left to read. */
  get drainedAfterClose(): boolean {
    return this.messages.length === 0 && this.ending?.clean === true;
  }

  get ended(): boolean {
    return this.ending !== undefined;
  }

  /** A close frame came: waiting reads fail with its code and reason. */
  closeFrame(code: number, reason: string): void {
    this.end({
      pending: new ConnectionClosureError(`${reason}: Status code: ${code}`, { closeCode: code }),
      later: new ConnectionClosureError("Connection already closed", { closeCode: code }),
      clean: true,
    });
  }

  /** The connection was lost, or failed with a protocol error. */
  fail(error: WebSocketError | undefined, code: number): void {
    const lost = new ConnectionError(`Connection lost without a close frame: Status code: ${code}`, { closeCode: code });
    this.end({
      pending: error ?? lost,
      later: new ConnectionClosureError("Connection already closed", { closeCode: code, cause: error ?? lost }),
      clean: false,
    });
  }

  private end(ending: Ending): void {
    if (this.ending !== undefined) return;
    this.ending = ending;
    const readers = this.readers;
    this.readers = [];
    for (const reader of readers) {
      clearTimeout(reader.timer);
      reader.reject(ending.pending);
    }
    this.room?.();
    this.room = undefined;
  }
}
