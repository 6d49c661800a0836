import type { Socket } from "node:net";
import { ConnectionClosureError, CorruptedFrameError, PayloadTooLargeError, WebSocketError, WriteTimedOutError } from "../errors.ts";
import { ABNORMAL_CLOSURE, isValidCloseCode, MAX_CLOSE_REASON_BYTES, NO_STATUS_RECEIVED } from "../protocol/close-codes.ts";
import {
  EV_BINARY,
  EV_CLOSE,
  EV_ERROR,
  EV_NONE,
  EV_PING,
  EV_PONG,
  EV_TEXT,
  type FrameParser,
  MAX_TEXT_BYTES,
} from "../protocol/frame-parser.ts";
import { encodeClosePayload, FIN, RSV1 } from "../protocol/frame-writer.ts";
import { OP_CLOSE, OP_CONTINUATION, OP_PING, OP_PONG, OP_TEXT } from "../protocol/opcodes.ts";
import type { DeflateParameters } from "../protocol/permessage-deflate-negotiation.ts";
import { isUtf8, truncateUtf8, utf8CutPoint } from "../protocol/utf8.ts";
import { MessageCompression, O_CLOSE, O_DEFLATE, O_END, O_PLAIN, type OutboundEntry, type ResolvedCompression } from "./compression.ts";
import { raiseMallocThresholds } from "./malloc-thresholds.ts";
import type { OutboundQueue } from "./outbound-queue.ts";
import { HEADER_SCRATCH, isScratch, type OwnReader, SCRATCH, startOwnReads } from "./own-reads.ts";
import { borrowParser, borrowQueue, returnParser, returnQueue } from "./pools.ts";

/** Shared by every connection of one service (or one client): one object, not one per connection. */
export interface ConnectionOptions {
  role: "server" | "client";
  /** Inbound frame limit, and the size at which outbound messages are fragmented. */
  maxFrameSize: number;
  maxMessageSize: number;
  /** Most frames one inbound message may have (over it: close 1008); 0 or less: no limit. [DEFAULT_MAX_FRAGMENTS] */
  maxFragments?: number;
  /** Unsent bytes beyond which writes wait, and unhandled inbound bytes beyond which reading pauses. */
  maxQueuedBytes: number;
  /** Seconds without a data frame read or written before `idle()` (control frames do not count); 0: never. */
  idleTimeout: number;
  /** Seconds between pings; a ping unanswered by the next one closes with 1011. 0: none. */
  pingInterval: number;
  /** Seconds to wait for the peer's side of the close handshake; -1: forever. */
  closeTimeout: number;
  /** Where open connections are kept (a listener's, to stop them); each removes itself on close. */
  registry?: Set<Connection>;
  /** permessage-deflate settings, for connections that negotiated it. */
  compression?: ResolvedCompression;
  /** The configuration's `mallocTuning` (see malloc-thresholds.ts). */
  mallocTuning?: boolean;
}

/**
 * What a connection reports upwards. Each call may return a promise: later events wait for
 * it (per-connection order), while pongs and the close handshake go on underneath.
 */
export interface ConnectionHandler {
  /** First event, before any message. */
  open(): unknown;
  message(data: string | Buffer, isText: boolean): unknown;
  /** When present, pings are handed over instead of answered automatically. */
  ping: ((data: Buffer) => unknown) | undefined;
  pong(data: Buffer): unknown;
  idle(): unknown;
  /** A protocol violation, after the close frame for it went out. */
  error(error: WebSocketError): unknown;
  /** Last event: the close code (1005 none in the frame, 1006 no close frame) and reason. */
  closed(code: number, reason: string): unknown;
}

const K_OPEN = 0;
const K_MESSAGE = 1;
const K_PING = 2;
const K_PONG = 3;
const K_IDLE = 4;
const K_ERROR = 5;
const K_CLOSED = 6;
/** A compressed message, inflated when its turn comes. */
const K_INFLATE = 7;

interface InboxItem {
  kind: number;
  data: string | Buffer | WebSocketError | undefined;
  isText: boolean;
  /** What it counts in `inboxBytes`: its payload and HELD_ITEM_COST. */
  size: number;
}

/**
 * @internal Bytes a held event costs beyond its payload (the item, its slot, the payload's Buffer or
 * string): counted against maxQueuedBytes, so that a flood of empty messages stops the
 * reading too, instead of growing the inbox without end.
 */
export const HELD_ITEM_COST = 64;

interface PendingWrite {
  opcode: number;
  payload: string | Uint8Array;
  resolve: () => void;
  reject: (error: Error) => void;
}

interface PendingClose {
  resolve: () => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout | undefined;
}

/** Timers and the close handshake in progress: most connections never need them. */
interface Timers {
  lastActivity: number;
  idle: NodeJS.Timeout | undefined;
  ping: NodeJS.Timeout | undefined;
  awaitingPong: boolean;
  tcp: NodeJS.Timeout | undefined;
  pendingClose: PendingClose | undefined;
}

// State bits, packed: a connection is mostly idle, and its size is what 5,000 of them cost.
const IN_READ = 1 << 0;
const FLUSH_SCHEDULED = 1 << 1;
const BUSY = 1 << 2;
const READ_PAUSED = 1 << 3;
const WAITING_FOR_DRAIN = 1 << 4;
const CLOSE_SENT = 1 << 5;
const CLOSE_RECEIVED = 1 << 6;
const FINISHED = 1 << 7;
const FAILED = 1 << 8;
const PARSER_DONE = 1 << 9;
/** Reads land in ferry's memory (own-reads.ts), not in buffers Node allocates. */
const OWN_READS = 1 << 10;
/** The last read went to a read target: the next one takes only a frame header, so that the payload after it can go to its target too. */
const AFTER_TARGET = 1 << 11;
/** Our close frame was the echo of the peer's: the user never sent one, so a later close() has nothing to refuse. */
const ECHOED = 1 << 12;
/** A data message was queued since the last flush: the flush marks the activity the idle timeout counts. */
const DATA_QUEUED = 1 << 13;
/** Reading waits for the socket to take our pongs: a peer that pings and never reads would grow our write buffer without end. */
const PINGS_HELD = 1 << 14;

/**
 * A payload remainder at least this big is read into the message rather than into scratch: a
 * smaller one is cheaper to copy than a read of its own would be when more frames are waiting.
 */
const READ_TARGET_MINIMUM = 16 * 1024;

/** A thenable: handlers may return any promise implementation. */
export function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return value !== null && typeof value === "object" && typeof (value as { then?: unknown }).then === "function";
}

/**
 * Socket → connection, for one set of listener functions shared by every socket instead of
 * closures per connection. A property of the socket, not a WeakMap: after some thousands of
 * connections had come and gone, the WeakMap's ephemeron table about doubled V8's full
 * collections under load (512 connections echoing 64 KiB: 70 against 33–53 in 4 s, 15%
 * fewer messages). The property costs a socket a little more storage.
 */
const OWNER = Symbol("ferry.connection");
type OwnedSocket = Socket & { [OWNER]?: Connection };

function onSocketData(this: OwnedSocket, chunk: Buffer): void {
  this[OWNER]!.onData(chunk);
}
function onSocketEnd(this: OwnedSocket): void {
  this[OWNER]!.onEnd();
}
function onSocketError(): void {
  // The 'close' that follows reports 1006; the error itself has no one to go to.
}
function onSocketClose(this: OwnedSocket): void {
  this[OWNER]!.onSocketClose();
}
function onSocketDrain(this: OwnedSocket): void {
  this[OWNER]!.onDrain();
}

const PROCESS_TAG = process.pid.toString(36);
let nextSerial = 1;

/**
 * One WebSocket connection over a socket: feeds the parser, keeps events in order behind
 * busy handlers, answers pings, runs the close handshake, batches writes and applies
 * backpressure. Shared by server and client.
 */
export class Connection implements OwnReader {
  readonly socket: Socket;
  private readonly options: ConnectionOptions;
  private readonly serial: number;
  private handler: ConnectionHandler | undefined;
  /** Lent from the pool while a frame is half-read. */
  private parser: FrameParser | undefined;
  /** Lent from the pool while frames wait to be flushed. */
  private queue: OutboundQueue | undefined;
  private flags = 0;
  private inbox: InboxItem[] | undefined;
  private inboxBytes = 0;
  private waiters: PendingWrite[] | undefined;
  private code = ABNORMAL_CLOSURE;
  private reason = "";
  private timers: Timers | undefined;
  private readonly compression: MessageCompression | undefined;

  /**
   * `deflate`: what permessage-deflate negotiation agreed on, if it did (needs
   * `options.compression`). `ownReads`: the socket came from `withOwnReads`.
   */
  constructor(socket: Socket, options: ConnectionOptions, deflate?: DeflateParameters, ownReads = false) {
    this.socket = socket;
    this.options = options;
    if (ownReads) this.flags = OWN_READS;
    this.serial = nextSerial++;
    raiseMallocThresholds(options.mallocTuning);
    this.compression = deflate === undefined ? undefined : new MessageCompression(deflate, options.role, options.compression!);
  }

  get id(): string {
    return `${PROCESS_TAG}-${this.serial.toString(36)}`;
  }

  /** Seconds a close handshake waits for the peer by default. */
  get closeTimeout(): number {
    return this.options.closeTimeout;
  }

  /** Bytes accepted for sending and not yet written to the kernel. */
  get bufferedAmount(): number {
    return (this.queue?.queuedBytes ?? 0) + this.socket.writableLength + (this.compression?.pendingBytes ?? 0);
  }

  /** Open until a close frame has been sent or received. */
  get isOpen(): boolean {
    return (this.flags & (CLOSE_SENT | CLOSE_RECEIVED | FINISHED)) === 0;
  }

  /** Closed without the peer's close frame, and not because we failed the connection. */
  get lostAbnormally(): boolean {
    return (this.flags & (FINISHED | CLOSE_RECEIVED | FAILED)) === FINISHED;
  }

  /** Queues raw bytes to leave before any frame (the 101 response). */
  preface(bytes: Uint8Array): void {
    (this.queue ??= borrowQueue()).pushRaw(bytes);
  }

  /** Starts reading; `head` holds bytes that arrived with the handshake. */
  start(handler: ConnectionHandler, head?: Buffer): void {
    this.handler = handler;
    const socket = this.socket;
    (socket as OwnedSocket)[OWNER] = this;
    socket.setNoDelay(true);
    socket.setTimeout(0);
    if ((this.flags & OWN_READS) === 0) socket.on("data", onSocketData);
    socket.on("end", onSocketEnd);
    socket.on("error", onSocketError);
    socket.on("close", onSocketClose);
    this.options.registry?.add(this);
    const { idleTimeout, pingInterval } = this.options;
    if (idleTimeout > 0 || pingInterval > 0) {
      const timers = this.ensureTimers();
      if (idleTimeout > 0) timers.idle = setTimeout(() => this.checkIdle(), idleTimeout * 1000);
      if (pingInterval > 0) timers.ping = setInterval(() => this.sendKeepAlivePing(), pingInterval * 1000);
    }
    this.flags |= IN_READ;
    this.deliver(K_OPEN, undefined, false, 0);
    this.flags &= ~IN_READ;
    if (head !== undefined && head.length > 0) this.onData(head);
    else this.flush();
    if ((this.flags & OWN_READS) !== 0) startOwnReads(socket, this, (this.flags & (READ_PAUSED | PINGS_HELD)) !== 0);
  }

  private ensureTimers(): Timers {
    return (this.timers ??= {
      lastActivity: Date.now(),
      idle: undefined,
      ping: undefined,
      awaitingPong: false,
      tcp: undefined,
      pendingClose: undefined,
    });
  }

  // ---- reading ----

  /** @internal A chunk from a socket's 'data' event (or the handshake's leftover): the parser may keep views of it. */
  onData(chunk: Buffer): void {
    this.receive(chunk, false, 0);
  }

  /** @internal Own reads: `n` bytes were read into `buffer`, scratch or the parser's read target. */
  onRead(n: number, buffer: Buffer): void {
    if (isScratch(buffer)) this.receive(buffer.subarray(0, n), true, 0);
    else this.receive(undefined, true, n);
  }

  /** Parses `chunk` (transient: scratch memory), or `targetBytes` read into the parser's read target. */
  private receive(chunk: Buffer | undefined, transient: boolean, targetBytes: number): void {
    if ((this.flags & PARSER_DONE) !== 0) return;
    this.flags |= IN_READ;
    const parser = (this.parser ??= borrowParser(this.options, this.compression !== undefined));
    if (chunk !== undefined) parser.push(chunk, transient);
    else parser.commitTarget(targetBytes);
    this.drainParser(parser);
    if (parser.dataFrameRead) {
      parser.dataFrameRead = false;
      if (this.timers !== undefined) this.timers.lastActivity = Date.now();
    }
    if (transient) this.parser?.retain();
    this.flags &= ~IN_READ;
    this.flush();
  }

  /** @internal Own reads: where the next read goes. */
  nextReadBuffer(): Buffer {
    const target = this.parser?.readTarget(READ_TARGET_MINIMUM);
    if (target !== undefined) {
      this.flags |= AFTER_TARGET;
      return target;
    }
    if ((this.flags & AFTER_TARGET) === 0) return SCRATCH;
    this.flags &= ~AFTER_TARGET;
    return HEADER_SCRATCH;
  }

  private drainParser(parser: FrameParser): void {
    for (;;) {
      switch (parser.next()) {
        case EV_NONE:
          if (parser.idle) {
            this.parser = undefined;
            returnParser(parser);
          }
          return;
        case EV_TEXT:
          if (!parser.compressed) this.deliver(K_MESSAGE, parser.text, true, parser.text.length);
          else if (!this.receiveCompressed(parser.data, true)) return;
          break;
        case EV_BINARY:
          if (!parser.compressed) this.deliver(K_MESSAGE, parser.data, false, parser.data.length);
          else if (!this.receiveCompressed(parser.data, false)) return;
          break;
        case EV_PING:
          // After our close frame nothing more is sent (RFC 6455 §5.5.1): that ping goes unanswered.
          if (this.handler!.ping === undefined) {
            if ((this.flags & CLOSE_SENT) === 0) this.sendControl(OP_PONG, parser.data);
          } else this.deliver(K_PING, parser.data, false, parser.data.length);
          break;
        case EV_PONG:
          if (this.timers !== undefined) this.timers.awaitingPong = false;
          this.deliver(K_PONG, parser.data, false, parser.data.length);
          break;
        case EV_CLOSE: {
          const { closeCode, closeReason } = parser;
          this.stopParsing(parser);
          this.onCloseFrame(closeCode, closeReason);
          return;
        }
        case EV_ERROR: {
          const error = parser.error!;
          this.stopParsing(parser);
          this.failConnection(error);
          return;
        }
      }
    }
  }

  /**
   * A compressed message is inflated when it is handled: held behind a busy handler it stays
   * compressed, so that the bound on held bytes bounds memory too. False when it failed the
   * connection, which ends parsing as a violation does.
   */
  private receiveCompressed(data: Buffer, isText: boolean): boolean {
    if ((this.flags & BUSY) !== 0 || this.inbox !== undefined) {
      this.deliver(K_INFLATE, data, isText, data.length);
      return true;
    }
    return this.inflate(data, isText);
  }

  /**
   * Stops reading until the socket has taken what is queued now, the last pong included (it
   * leaves with the read's flush, or with the flush scheduled before this tick).
   */
  private holdPings(): void {
    this.flags |= PINGS_HELD;
    this.socket.pause();
    process.nextTick(() => {
      // Ended meanwhile (a close frame came after the pings): a write now would fail the socket.
      if (this.socket.writableEnded) this.releasePings();
      else this.socket.write(EMPTY, () => this.releasePings());
    });
  }

  private releasePings(): void {
    this.flags &= ~PINGS_HELD;
    if ((this.flags & (READ_PAUSED | FINISHED)) === 0) this.socket.resume();
  }

  /** After a close frame or a violation nothing more is read (RFC 6455 §5.5.1, §7.1.7). */
  private stopParsing(parser: FrameParser): void {
    this.flags |= PARSER_DONE;
    this.parser = undefined;
    returnParser(parser);
  }

  private onCloseFrame(code: number, reason: string): void {
    this.flags |= CLOSE_RECEIVED;
    this.code = code;
    this.reason = reason;
    if ((this.flags & CLOSE_SENT) === 0) {
      this.flags |= ECHOED;
      this.sendCloseFrame(code === NO_STATUS_RECEIVED ? undefined : code, "");
    }
    // RFC 6455 §7.1.1: the server should close TCP first, but a client "MAY close the connection at
    // any time after sending and receiving a Close message": it ends its side at once, so that
    // close() and pending reads do not wait (up to the 60 s linger) on a server that keeps TCP open.
    this.endTcp();
  }

  private failConnection(error: WebSocketError): void {
    const code = error.closeCode ?? 1002;
    if ((this.flags & CLOSE_SENT) === 0) {
      this.sendCloseFrame(code, truncateUtf8(error.message, MAX_CLOSE_REASON_BYTES));
      this.code = code;
      this.reason = error.message;
      this.flags |= FAILED;
    }
    this.deliver(K_ERROR, error, false, 0);
    this.endTcp();
  }

  /** @internal The peer half-closed: nothing more will come, so finish our side too. */
  onEnd(): void {
    this.endSocket();
  }

  /** @internal */
  onSocketClose(): void {
    if ((this.flags & FINISHED) !== 0) return;
    this.flags |= FINISHED | CLOSE_SENT;
    this.options.registry?.delete(this);
    if (this.parser !== undefined) this.stopParsing(this.parser);
    if (this.queue !== undefined) {
      this.queue.clear();
      returnQueue(this.queue);
      this.queue = undefined;
    }
    const compression = this.compression;
    if (compression !== undefined) {
      compression.outbound = undefined;
      compression.pendingBytes = 0;
      compression.codec.close();
    }
    const timers = this.timers;
    let pending: PendingClose | undefined;
    if (timers !== undefined) {
      clearTimeout(timers.tcp);
      clearTimeout(timers.idle);
      clearInterval(timers.ping);
      pending = timers.pendingClose;
      timers.pendingClose = undefined;
    }
    // Without the peer's close frame the closure was abnormal, unless we failed it ourselves.
    if ((this.flags & (CLOSE_RECEIVED | FAILED)) === 0) {
      this.code = ABNORMAL_CLOSURE;
      this.reason = "";
    }
    const waiters = this.waiters;
    this.waiters = undefined;
    if (waiters !== undefined) for (const waiter of waiters) waiter.reject(this.closedError());
    if (pending !== undefined) {
      clearTimeout(pending.timer);
      if ((this.flags & CLOSE_RECEIVED) !== 0) pending.resolve();
      else pending.reject(new ConnectionClosureError("Connection closed before the peer answered the close frame", { closeCode: ABNORMAL_CLOSURE }));
    }
    this.deliver(K_CLOSED, undefined, false, 0);
  }

  // ---- ordered delivery ----

  private deliver(kind: number, data: string | Buffer | WebSocketError | undefined, isText: boolean, size: number): void {
    if ((this.flags & BUSY) === 0 && this.inbox === undefined) {
      this.dispatch(kind, data, isText);
      return;
    }
    // Pausing stops new reads; what one read brought is still parsed, so that pings and a
    // close in it are answered at once, and the queue exceeds its bound by one read at most.
    const cost = size + HELD_ITEM_COST;
    (this.inbox ??= []).push({ kind, data, isText, size: cost });
    this.inboxBytes += cost;
    if (this.inboxBytes > this.options.maxQueuedBytes && (this.flags & (READ_PAUSED | FINISHED)) === 0) {
      this.flags |= READ_PAUSED;
      this.socket.pause();
    }
  }

  private dispatch(kind: number, data: string | Buffer | WebSocketError | undefined, isText: boolean): void {
    const handler = this.handler!;
    let result: unknown;
    switch (kind) {
      case K_OPEN:
        result = handler.open();
        break;
      case K_MESSAGE:
        result = handler.message(data as string | Buffer, isText);
        break;
      case K_PING:
        result = handler.ping!(data as Buffer);
        break;
      case K_PONG:
        result = handler.pong(data as Buffer);
        break;
      case K_IDLE:
        result = handler.idle();
        break;
      case K_ERROR:
        result = handler.error(data as WebSocketError);
        break;
      case K_CLOSED:
        result = handler.closed(this.code, this.reason);
        break;
      case K_INFLATE:
        this.inflate(data as Buffer, isText);
        return;
    }
    if (isPromiseLike(result)) {
      this.flags |= BUSY;
      const settled = (): void => this.onHandlerSettled();
      result.then(settled, settled);
    }
  }

  private onHandlerSettled(): void {
    this.flags &= ~BUSY;
    const inbox = this.inbox;
    if (inbox === undefined) return;
    while ((this.flags & BUSY) === 0) {
      const item = inbox.shift();
      if (item === undefined) break;
      this.inboxBytes -= item.size;
      this.dispatch(item.kind, item.data, item.isText);
    }
    if (inbox.length === 0 && this.inbox === inbox) this.inbox = undefined;
    if ((this.flags & READ_PAUSED) !== 0 && this.inboxBytes <= this.options.maxQueuedBytes / 2 && (this.flags & FINISHED) === 0) {
      this.flags &= ~READ_PAUSED;
      if ((this.flags & PINGS_HELD) === 0) this.socket.resume();
    }
    this.scheduleFlush();
  }

  /**
   * Inflates at once when the codec can (see PerMessageDeflate), else through the thread
   * pool, holding later events back meanwhile as a busy handler does. False when it failed
   * the connection.
   */
  private inflate(data: Buffer, isText: boolean): boolean {
    const compression = this.compression!;
    const now = compression.codec.decompressNow(data, this.options.maxMessageSize);
    if (now !== undefined) return now instanceof WebSocketError ? this.failInflate(now) : this.onInflated(now, isText);
    const limiter = compression.settings.limiter;
    this.flags |= BUSY;
    limiter.run(() => {
      compression.codec.decompress(data, this.options.maxMessageSize, (error, bytes) => {
        limiter.done();
        this.flags &= ~BUSY;
        if (error === undefined) this.onInflated(bytes, isText);
        else this.failInflate(error);
        if ((this.flags & BUSY) === 0) this.onHandlerSettled();
      });
    });
    return true;
  }

  private onInflated(bytes: Buffer, isText: boolean): boolean {
    if (!isText) this.dispatch(K_MESSAGE, bytes, false);
    else if (bytes.length > MAX_TEXT_BYTES) return this.failInflate(textTooLong());
    else if (isUtf8(bytes)) this.dispatch(K_MESSAGE, bytes.toString("utf8"), true);
    else return this.failInflate(invalidUtf8());
    return true;
  }

  /** Fails the connection (1007 or 1009); what was read after the failed message never counts (RFC 6455 §7.1.7). */
  private failInflate(error: WebSocketError): false {
    const inbox = this.inbox;
    const closedItem = inbox?.find((item) => item.kind === K_CLOSED);
    if (inbox !== undefined) {
      // Emptied in place: a dispatch loop may be walking it.
      inbox.length = 0;
      this.inbox = undefined;
      this.inboxBytes = 0;
    }
    if (this.parser !== undefined) this.stopParsing(this.parser);
    this.flags |= PARSER_DONE;
    if ((this.flags & READ_PAUSED) !== 0) {
      // Reading on lets the peer's answer to our close frame, and its FIN, arrive.
      this.flags &= ~READ_PAUSED;
      if ((this.flags & FINISHED) === 0) this.socket.resume();
    }
    this.failConnection(error);
    if (closedItem !== undefined) this.deliver(K_CLOSED, undefined, false, 0);
    return false;
  }

  // ---- writing ----

  /**
   * Sends a data message, fragmented at maxFrameSize (text on code-point boundaries).
   * Returns undefined when it was queued at once, or a promise when it waits for room
   * (`timeout` seconds at most, -1: no limit).
   */
  send(opcode: number, payload: string | Uint8Array, timeout = -1): Promise<void> | undefined {
    if ((this.flags & (CLOSE_SENT | FINISHED)) !== 0) return Promise.reject(this.closedError());
    if (this.waiters !== undefined || this.bufferedAmount > this.options.maxQueuedBytes) {
      return this.waitForRoom(opcode, payload, timeout);
    }
    this.enqueueMessage(opcode, payload);
    return undefined;
  }

  private waitForRoom(opcode: number, payload: string | Uint8Array, timeout: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const waiter: PendingWrite = { opcode, payload, resolve, reject };
      if (timeout >= 0) {
        const timer = setTimeout(() => {
          const index = this.waiters?.indexOf(waiter) ?? -1;
          if (index < 0) return;
          this.waiters!.splice(index, 1);
          reject(new WriteTimedOutError(`Write timed out: the peer did not take the data within ${timeout} seconds`));
        }, timeout * 1000);
        waiter.resolve = () => {
          clearTimeout(timer);
          resolve();
        };
        waiter.reject = (error) => {
          clearTimeout(timer);
          reject(error);
        };
      }
      (this.waiters ??= []).push(waiter);
      this.flush();
      this.awaitRoom();
    });
  }

  private enqueueMessage(opcode: number, payload: string | Uint8Array): void {
    this.flags |= DATA_QUEUED;
    const length = typeof payload === "string" ? Buffer.byteLength(payload) : payload.length;
    const compression = this.compression;
    if (compression !== undefined && (compression.outbound !== undefined || length >= compression.settings.threshold)) {
      const output = compression.outbound === undefined ? compression.codec.compressNow(payload, length) : undefined;
      if (output !== undefined) {
        this.pushCompressed(opcode, output);
        return;
      }
      const kind = length >= compression.settings.threshold ? O_DEFLATE : O_PLAIN;
      this.enqueueOutbound(compression, { kind, opcode, payload, length, started: false, output: undefined });
      return;
    }
    this.pushMessage(opcode, payload, length);
  }

  /** Queues a message's frames as they are, fragmented at maxFrameSize (text on code points). */
  private pushMessage(opcode: number, payload: string | Uint8Array, length: number): void {
    const queue = (this.queue ??= borrowQueue());
    const masked = this.options.role === "client";
    const limit = this.options.maxFrameSize;
    if (length <= limit) {
      queue.pushFrame(FIN | opcode, payload, length, masked);
    } else {
      const bytes = typeof payload === "string" ? Buffer.from(payload) : payload;
      let start = 0;
      let op = opcode;
      while (start < length) {
        const end = opcode === OP_TEXT ? utf8CutPoint(bytes, start, limit) : Math.min(start + limit, length);
        queue.pushFrame((end === length ? FIN : 0) | op, bytes.subarray(start, end), end - start, masked);
        op = OP_CONTINUATION;
        start = end;
      }
    }
    this.scheduleFlush();
  }

  /** A compressed message: RSV1 on its first frame only (RFC 7692 §6.1). */
  private pushCompressed(opcode: number, payload: Buffer): void {
    const queue = (this.queue ??= borrowQueue());
    const masked = this.options.role === "client";
    const limit = this.options.maxFrameSize;
    const length = payload.length;
    let first = RSV1 | opcode;
    let start = 0;
    do {
      const end = Math.min(start + limit, length);
      queue.pushFrame((end === length ? FIN : 0) | first, payload.subarray(start, end), end - start, masked);
      first = OP_CONTINUATION;
      start = end;
    } while (start < length);
    this.scheduleFlush();
  }

  private enqueueOutbound(compression: MessageCompression, entry: OutboundEntry): void {
    (compression.outbound ??= []).push(entry);
    compression.pendingBytes += entry.length;
    this.pumpOutbound(compression);
  }

  /** Moves the finished writes at the head of the line to the queue, and starts compressing the next. */
  private pumpOutbound(compression: MessageCompression): void {
    const outbound = compression.outbound!;
    for (;;) {
      const entry = outbound[0];
      if (entry === undefined) break;
      if (entry.kind === O_DEFLATE) {
        if (entry.output === undefined) {
          if (!entry.started) this.deflate(compression, entry);
          return;
        }
        this.pushCompressed(entry.opcode, entry.output);
      } else if (entry.kind === O_PLAIN) {
        this.pushMessage(entry.opcode, entry.payload, entry.length);
      } else if (entry.kind === O_CLOSE) {
        const payload = entry.payload as Uint8Array;
        (this.queue ??= borrowQueue()).pushFrame(FIN | OP_CLOSE, payload, payload.length, this.options.role === "client");
        this.scheduleFlush();
      } else {
        this.endNow();
      }
      outbound.shift();
      compression.pendingBytes -= entry.length;
    }
    compression.outbound = undefined;
  }

  private deflate(compression: MessageCompression, entry: OutboundEntry): void {
    entry.started = true;
    const limiter = compression.settings.limiter;
    limiter.run(() => {
      const data = typeof entry.payload === "string" ? Buffer.from(entry.payload) : entry.payload;
      compression.codec.compress(data, (error, output) => {
        limiter.done();
        if ((this.flags & FINISHED) !== 0) return;
        // An uncompressed message is always allowed: the peer's context does not depend on ours.
        if (error === undefined) entry.output = output;
        else entry.kind = O_PLAIN;
        this.pumpOutbound(compression);
        if (this.waiters !== undefined && (this.flags & WAITING_FOR_DRAIN) === 0) this.admitWaiters();
      });
    });
  }

  /**
   * Ping and pong: never wait behind queued data, as they keep the connection alive. A pong
   * beyond maxQueuedBytes of unsent bytes stops reading (and so the pings) until they left.
   */
  sendControl(opcode: typeof OP_PING | typeof OP_PONG, payload: Uint8Array): void {
    if ((this.flags & (CLOSE_SENT | FINISHED)) !== 0) throw this.closedError();
    (this.queue ??= borrowQueue()).pushFrame(FIN | opcode, payload, payload.length, this.options.role === "client");
    this.scheduleFlush();
    if (opcode === OP_PONG && (this.flags & PINGS_HELD) === 0 && this.bufferedAmount > this.options.maxQueuedBytes) this.holdPings();
  }

  private sendCloseFrame(code: number | undefined, reason: string): void {
    this.flags |= CLOSE_SENT;
    if ((this.flags & FINISHED) !== 0) return;
    const payload = encodeClosePayload(code, reason);
    const compression = this.compression;
    if (compression?.outbound !== undefined) {
      this.enqueueOutbound(compression, { kind: O_CLOSE, opcode: OP_CLOSE, payload, length: 0, started: false, output: undefined });
      return;
    }
    (this.queue ??= borrowQueue()).pushFrame(FIN | OP_CLOSE, payload, payload.length, this.options.role === "client");
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if ((this.flags & (IN_READ | FLUSH_SCHEDULED)) !== 0) return;
    this.flags |= FLUSH_SCHEDULED;
    process.nextTick(() => {
      this.flags &= ~FLUSH_SCHEDULED;
      this.flush();
    });
  }

  /** Everything queued since the last flush leaves in one write. */
  private flush(): void {
    const queue = this.queue;
    if (queue === undefined || (this.flags & FINISHED) !== 0) return;
    this.queue = undefined;
    if ((this.flags & DATA_QUEUED) !== 0) {
      this.flags &= ~DATA_QUEUED;
      if (this.timers !== undefined) this.timers.lastActivity = Date.now();
    }
    queue.flush(this.socket, this.options.role === "client");
    returnQueue(queue);
  }

  /** @internal */
  onDrain(): void {
    this.flags &= ~WAITING_FOR_DRAIN;
    if ((this.flags & FINISHED) === 0) this.admitWaiters();
  }

  /** Lets waiting writes in, in order, while there is room. */
  private admitWaiters(): void {
    const waiters = this.waiters;
    if (waiters === undefined) return;
    const max = this.options.maxQueuedBytes;
    while (waiters.length > 0 && this.bufferedAmount <= max) {
      const waiter = waiters.shift()!;
      this.enqueueMessage(waiter.opcode, waiter.payload);
      waiter.resolve();
    }
    if (waiters.length === 0) this.waiters = undefined;
    this.flush();
    if (this.waiters !== undefined) this.awaitRoom();
  }

  /**
   * Waits for the socket to take what it holds. 'drain' is listened to only while a write
   * waits (a listener costs memory on every socket), and comes only when the socket asked
   * for it; below the socket's own high-water mark an empty write's callback tells instead.
   */
  private awaitRoom(): void {
    if ((this.flags & WAITING_FOR_DRAIN) !== 0) return;
    const socket = this.socket;
    if (socket.writableLength <= this.options.maxQueuedBytes) {
      // Messages still being compressed count as queued; each one done lets waiters in again.
      if ((this.compression?.pendingBytes ?? 0) > 0 && this.bufferedAmount > this.options.maxQueuedBytes) return;
      this.admitWaiters();
      return;
    }
    this.flags |= WAITING_FOR_DRAIN;
    if (socket.writableNeedDrain) socket.once("drain", onSocketDrain);
    else socket.write(EMPTY, () => this.onDrain());
  }

  private closedError(): ConnectionClosureError {
    return new ConnectionClosureError("Connection already closed", { closeCode: this.code });
  }

  // ---- closing ----

  /**
   * Starts the close handshake and resolves once the peer answered and TCP is closed.
   * `timeout` in seconds; -1 waits forever. After the peer closed first, resolves at once.
   */
  close(code: number, reason: string, timeout: number): Promise<void> {
    if (!isValidCloseCode(code)) {
      return Promise.reject(new ConnectionClosureError(`Failed to execute close. Invalid status code: ${code}`));
    }
    if (timeout < 0 && timeout !== -1) {
      return Promise.reject(new ConnectionClosureError(`Failed to execute close. Invalid timeout: ${timeout}`));
    }
    if (Buffer.byteLength(reason) > MAX_CLOSE_REASON_BYTES) {
      return Promise.reject(new ConnectionClosureError(`Failed to execute close. Reason over ${MAX_CLOSE_REASON_BYTES} bytes`));
    }
    // The peer closed first and its frame was echoed: the connection is closed, as asked (SPEC §4).
    if ((this.flags & ECHOED) !== 0) return Promise.resolve();
    if ((this.flags & (CLOSE_SENT | FINISHED)) !== 0) return Promise.reject(new ConnectionClosureError("Close frame already sent"));
    return new Promise((resolve, reject) => {
      const pending: PendingClose = { resolve, reject, timer: undefined };
      const timers = this.ensureTimers();
      if (timeout !== -1) {
        pending.timer = setTimeout(() => {
          if (timers.pendingClose !== pending) return;
          timers.pendingClose = undefined;
          // A peer that answered but keeps TCP open has still closed the WebSocket.
          if ((this.flags & CLOSE_RECEIVED) !== 0) resolve();
          else reject(new ConnectionClosureError(`Connection closure timed out: no close frame from the peer within ${timeout} seconds`));
          this.socket.destroy();
        }, timeout * 1000);
      }
      timers.pendingClose = pending;
      this.code = code;
      this.reason = reason;
      this.sendCloseFrame(code, reason);
    });
  }

  /** Sends a close frame without waiting for the answer; TCP closes when the peer answers or after the close timeout. */
  closeNow(code: number, reason = ""): void {
    if ((this.flags & (CLOSE_SENT | FINISHED)) !== 0) return;
    this.code = code;
    this.reason = reason;
    this.sendCloseFrame(code, truncateUtf8(reason, MAX_CLOSE_REASON_BYTES));
    this.armTcpTimer();
  }

  /** Drops TCP at once, with no close frame: the peer sees 1006. */
  destroy(): void {
    this.socket.destroy();
  }

  /** Resolves once the socket is closed. */
  whenClosed(): Promise<void> {
    if (this.socket.closed) return Promise.resolve();
    return new Promise((resolve) => this.socket.once("close", () => resolve()));
  }

  private endTcp(): void {
    this.endSocket();
    this.armTcpTimer();
  }

  /** Ends our side of TCP once everything written before has gone out. */
  private endSocket(): void {
    const compression = this.compression;
    if (compression?.outbound !== undefined) {
      this.enqueueOutbound(compression, { kind: O_END, opcode: 0, payload: EMPTY, length: 0, started: false, output: undefined });
      return;
    }
    this.endNow();
  }

  private endNow(): void {
    this.flush();
    // Ending twice (our close, then the peer's FIN) costs Node an error object each time.
    if (!this.socket.writableEnded) this.socket.end();
  }

  private armTcpTimer(): void {
    const timeout = this.options.closeTimeout;
    if ((this.flags & FINISHED) !== 0 || timeout < 0) return;
    const timers = this.ensureTimers();
    timers.tcp ??= setTimeout(() => this.socket.destroy(), timeout * 1000);
  }

  // ---- keep-alive ----

  private checkIdle(): void {
    // Closing: the close handshake has its own timeout, and an idle event would only confuse.
    if (!this.isOpen) return;
    const timers = this.timers!;
    const period = this.options.idleTimeout * 1000;
    const idleFor = Date.now() - timers.lastActivity;
    if (idleFor >= period) {
      timers.lastActivity = Date.now();
      this.deliver(K_IDLE, undefined, false, 0);
      timers.idle = setTimeout(() => this.checkIdle(), period);
    } else {
      timers.idle = setTimeout(() => this.checkIdle(), period - idleFor);
    }
  }

  private sendKeepAlivePing(): void {
    const timers = this.timers!;
    if (!this.isOpen) return;
    if (timers.awaitingPong) {
      this.closeNow(1011, "No pong received within pingInterval");
      return;
    }
    timers.awaitingPong = true;
    this.sendControl(OP_PING, EMPTY);
  }
}

const EMPTY = new Uint8Array(0);

function invalidUtf8(): CorruptedFrameError {
  return new CorruptedFrameError("Invalid UTF-8 in text message", { closeCode: 1007 });
}

/** An inflated text message longer than any string Node can hold: decoding it would throw (see MAX_TEXT_BYTES). */
function textTooLong(): PayloadTooLargeError {
  return new PayloadTooLargeError(`Text message inflates to more than ${MAX_TEXT_BYTES} bytes, the longest string Node can hold`);
}
