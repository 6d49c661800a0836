import { HELD_ITEM_COST } from "../connection/connection.ts";
import { ConnectionClosureError, ConnectionError, ReadTimedOutError } from "../errors.ts";

export type InboundMessage = string | Buffer;

/** What an unread message counts against maxQueuedBytes: an empty one costs too, or a flood of them would never pause reading. */
function cost(message: InboundMessage): number {
  return message.length + HELD_ITEM_COST;
}

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
 *
 * While held (a reconnect and its `onReconnect` run), messages that arrive go to the
 * `priority` reads made meanwhile and wait for the others: the hook reads the new
 * connection's answers before the reads that were waiting go on.
 */
export class MessageInbox {
  private messages: InboundMessage[] = [];
  private bytes = 0;
  private readers: Reader[] = [];
  private ending: Ending | undefined;
  private room: (() => void) | undefined;
  /** undefined: not held; otherwise how many messages at the front came before the hold. */
  private earlier: number | undefined;
  private priorityReaders: Reader[] = [];

  constructor(private readonly maxBytes: number) {}

  push(message: InboundMessage): Promise<void> | undefined {
    const reader = this.earlier === undefined ? this.readers.shift() : this.priorityReaders.shift();
    if (reader !== undefined) {
      clearTimeout(reader.timer);
      reader.resolve(message);
      return undefined;
    }
    this.messages.push(message);
    this.bytes += cost(message);
    if (this.bytes <= this.maxBytes) return undefined;
    return new Promise((resolve) => (this.room = resolve));
  }

  /**
   * The next message; `timeout` seconds (-1: forever) → ReadTimedOutError, the inbox
   * unchanged. While held, a `priority` read takes the messages that came since the hold, and
   * any other read only those from before it.
   */
  take(timeout: number, priority = false): Promise<InboundMessage> {
    const message = this.shiftFor(priority);
    if (message !== undefined) {
      this.bytes -= cost(message);
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
          this.forget(reader);
          reject(new ReadTimedOutError(`Read timed out: no message within ${timeout} seconds`));
        }, timeout * 1000);
      }
      (priority && this.earlier !== undefined ? this.priorityReaders : this.readers).push(reader);
    });
  }

  /** A read that timed out leaves its queue, whichever it is in by now. */
  private forget(reader: Reader): void {
    for (const queue of [this.readers, this.priorityReaders]) {
      const at = queue.indexOf(reader);
      if (at >= 0) queue.splice(at, 1);
    }
  }

  private shiftFor(priority: boolean): InboundMessage | undefined {
    const earlier = this.earlier;
    if (earlier === undefined) return this.messages.shift();
    if (!priority) {
      if (earlier === 0) return undefined;
      this.earlier = earlier - 1;
      return this.messages.shift();
    }
    return this.messages.length > earlier ? this.messages.splice(earlier, 1)[0] : undefined;
  }

  /** Holds the reads waiting now, and those made until `release`, back from what arrives from now on. */
  hold(): void {
    this.earlier ??= this.messages.length;
  }

  /** Ends the hold: what arrived meanwhile and was not read goes to the waiting reads, in order. */
  release(): void {
    if (this.earlier === undefined) return;
    this.earlier = undefined;
    // Priority reads still waiting go first: they were made after the others, but for the new connection.
    this.readers = [...this.priorityReaders, ...this.readers];
    this.priorityReaders = [];
    while (this.readers.length > 0 && this.messages.length > 0) {
      const reader = this.readers.shift()!;
      const message = this.messages.shift()!;
      this.bytes -= cost(message);
      clearTimeout(reader.timer);
      reader.resolve(message);
    }
    if (this.room !== undefined && this.bytes <= this.maxBytes) {
      const room = this.room;
      this.room = undefined;
      room();
    }
  }

  /** The priority reads fail (their connection was lost while held); the others wait on. */
  failPriority(error: Error): void {
    const readers = this.priorityReaders;
    this.priorityReaders = [];
    for (const reader of readers) {
      clearTimeout(reader.timer);
      reader.reject(error);
    }
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

  /** The connection was lost, or failed with a protocol error (or the error that ended the client). */
  fail(error: Error | undefined, code: number): void {
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
    const readers = [...this.priorityReaders, ...this.readers];
    this.readers = [];
    this.priorityReaders = [];
    // What is left is read in order by whoever reads next.
    this.earlier = undefined;
    for (const reader of readers) {
      clearTimeout(reader.timer);
      reader.reject(ending.pending);
    }
    this.room?.();
    this.room = undefined;
  }
}
