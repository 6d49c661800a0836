import { HELD_ITEM_COST } from "../connection/connection.ts";
import { ConnectionClosureError, ConnectionError, ReadTimedOutError } from "../errors.ts";

/** A whole message as the connection handed it over: text as a string, binary as bytes. */
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

/** One connection's messages, from `open` until its last event (`finish`). */
export interface InboxFeed {
  /** Pushed and not read yet, in order. */
  readonly messages: InboundMessage[];
  /** What `messages` count against the bound. */
  bytes: number;
  /** The connection's last event came: nothing more will be pushed. */
  finished: boolean;
  /** Opened during a hold: its messages are for the priority reads until `release`. */
  held: boolean;
  /** Settles the promise the connection waits on for room. */
  room: (() => void) | undefined;
}

/**
 * Messages the client received and nobody read yet, and the reads waiting for them, both
 * first come, first served. Each connection pushes through its own feed: a reconnect can
 * happen while the old connection still hands over what it had read, and its messages come
 * first, so a later feed waits until the earlier ones have finished. Bounded: past `maxBytes`
 * unread, `push` returns a promise that settles when reads make room, and the connection
 * stops reading meanwhile.
 *
 * While held (a reconnect and its `onReconnect` run), the feeds opened go to the `priority`
 * reads made meanwhile, with a bound of their own, and wait for the others: the hook reads the
 * new connection's answers before the reads that were waiting go on.
 */
export class MessageInbox {
  /** In the order they were opened; a feed leaves once finished and read. */
  private feeds: InboxFeed[] = [];
  private readers: Reader[] = [];
  private priorityReaders: Reader[] = [];
  private ending: Ending | undefined;
  private holding = false;
  /** How many feeds wait for room: reads skip looking for them when none does. */
  private waiting = 0;

  constructor(private readonly maxBytes: number) {}

  /** A feed for a new connection: its messages come after those of every feed opened before. */
  open(): InboxFeed {
    const feed: InboxFeed = { messages: [], bytes: 0, finished: false, held: this.holding, room: undefined };
    this.feeds.push(feed);
    return feed;
  }

  push(feed: InboxFeed, message: InboundMessage): Promise<void> | undefined {
    const readers = feed.held ? this.priorityReaders : this.readers;
    if (readers.length > 0 && feed.messages.length === 0 && this.headOf(feed.held) === feed) {
      const reader = readers.shift()!;
      clearTimeout(reader.timer);
      reader.resolve(message);
      return undefined;
    }
    feed.messages.push(message);
    feed.bytes += cost(message);
    if (this.mayGoOn(feed)) return undefined;
    this.waiting++;
    return new Promise((resolve) => (feed.room = resolve));
  }

  /** The feed's connection delivered its last event: the next feed's messages may follow. */
  finish(feed: InboxFeed): void {
    feed.finished = true;
    if (feed.messages.length === 0) this.drop(feed);
    this.serve();
    this.wake();
  }

  /**
   * The next message; `timeout` seconds (-1: forever) → ReadTimedOutError, the inbox
   * unchanged. While held, a `priority` read takes the messages of the feeds opened since the
   * hold, and any other read only those of the feeds before it.
   */
  take(timeout: number, priority = false): Promise<InboundMessage> {
    const held = priority && this.holding;
    const message = this.shift(held);
    if (message !== undefined) {
      this.wake();
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
      (held ? this.priorityReaders : this.readers).push(reader);
    });
  }

  /** A read that timed out leaves its queue, whichever it is in by now. */
  private forget(reader: Reader): void {
    for (const queue of [this.readers, this.priorityReaders]) {
      const at = queue.indexOf(reader);
      if (at >= 0) queue.splice(at, 1);
    }
  }

  /** The first feed of a class (held or not) still in the inbox: the one reads of that class take from. */
  private headOf(held: boolean): InboxFeed | undefined {
    for (const feed of this.feeds) if (feed.held === held) return feed;
    return undefined;
  }

  /** The next message for a read of the class; an unfinished feed keeps later ones back. */
  private shift(held: boolean): InboundMessage | undefined {
    const feeds = this.feeds;
    if (feeds.length === 1 && feeds[0]!.held === held && feeds[0]!.messages.length > 0) {
      // The usual case: one connection, messages waiting.
      const feed = feeds[0]!;
      const message = feed.messages.shift()!;
      feed.bytes -= cost(message);
      if (feed.finished && feed.messages.length === 0) feeds.length = 0;
      return message;
    }
    for (let at = 0; at < feeds.length; ) {
      const feed = feeds[at]!;
      if (feed.held !== held) {
        // Feeds opened during the hold come after all the others.
        if (!held) return undefined;
        at++;
        continue;
      }
      const message = feed.messages.shift();
      if (message !== undefined) {
        feed.bytes -= cost(message);
        if (feed.finished && feed.messages.length === 0) this.drop(feed);
        return message;
      }
      if (!feed.finished) return undefined;
      this.drop(feed);
    }
    return undefined;
  }

  private drop(feed: InboxFeed): void {
    const at = this.feeds.indexOf(feed);
    if (at >= 0) this.feeds.splice(at, 1);
  }

  /**
   * A feed goes on once the feeds of its class before it have finished (their messages come
   * first, and its own would only pile up behind them) and the class is within the bound.
   */
  private mayGoOn(feed: InboxFeed): boolean {
    if (this.feeds.length === 1) return feed.bytes <= this.maxBytes;
    let bytes = 0;
    for (const other of this.feeds) {
      if (other.held !== feed.held) continue;
      bytes += other.bytes;
      if (other === feed) return bytes <= this.maxBytes;
      if (!other.finished) return false;
    }
    return true;
  }

  /** Lets each waiting feed that may go on read again. */
  private wake(): void {
    if (this.waiting === 0) return;
    for (const feed of this.feeds) {
      const room = feed.room;
      if (room !== undefined && this.mayGoOn(feed)) {
        feed.room = undefined;
        this.waiting--;
        room();
      }
    }
  }

  /** Hands queued messages to the reads waiting for them, now that they may have them. */
  private serve(): void {
    for (const [readers, held] of [[this.readers, false], [this.priorityReaders, true]] as const) {
      while (readers.length > 0) {
        const message = this.shift(held);
        if (message === undefined) break;
        const reader = readers.shift()!;
        clearTimeout(reader.timer);
        reader.resolve(message);
      }
    }
  }

  /** Holds the reads waiting now, and those made until `release`, back from the feeds opened from now on. */
  hold(): void {
    this.holding = true;
  }

  /** Ends the hold: what the held feeds brought and was not read goes to the waiting reads, in order. */
  release(): void {
    if (!this.holding) return;
    this.holding = false;
    for (const feed of this.feeds) feed.held = false;
    // Priority reads still waiting go first: they were made after the others, but for the new connection.
    this.readers = [...this.priorityReaders, ...this.readers];
    this.priorityReaders = [];
    this.serve();
    this.wake();
  }

  /** The priority reads fail (their connection was lost while held); the others wait on. */
  failPriority(error: Error): void {
    const readers = this.priorityReaders;
    this.priorityReaders = [];
    this.rejectAll(readers, error);
  }

  /** Whether the feed's connection waits for room (and so cannot hand over its close yet). */
  isWaiting(feed: InboxFeed): boolean {
    return feed.room !== undefined;
  }

  /** Whether the inbox has ended cleanly (a close frame) with nothing left to read. */
  get drainedAfterClose(): boolean {
    return this.ending?.clean === true && this.feeds.every((feed) => feed.messages.length === 0);
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
    this.holding = false;
    for (const feed of this.feeds) feed.held = false;
    this.rejectAll(readers, ending.pending);
    for (const feed of this.feeds) {
      feed.room?.();
      feed.room = undefined;
    }
    this.waiting = 0;
  }

  private rejectAll(readers: Reader[], error: Error): void {
    for (const reader of readers.splice(0)) {
      clearTimeout(reader.timer);
      reader.reject(error);
    }
  }
}
