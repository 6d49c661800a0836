import type { Socket } from "node:net";
import { ConnectionClosureError, type WebSocketError, WriteTimedOutError } from "../errors.ts";
import { ABNORMAL_CLOSURE, isValidCloseCode, MAX_CLOSE_REASON_BYTES, NO_STATUS_RECEIVED } from "../protocol/close-codes.ts";
import {
  EV_BINARY,
  EV_CLOSE,
  EV_ERROR,
  EV_NONE,
  EV_PING,
  EV_PONG,
  EV_TEXT,
  FrameParser,
} from "../protocol/frame-parser.ts";
import { encodeClosePayload, FIN } from "../protocol/frame-writer.ts";
import { OP_CLOSE, OP_CONTINUATION, OP_PING, OP_PONG, OP_TEXT } from "../protocol/opcodes.ts";
import { truncateUtf8, utf8CutPoint } from "../protocol/utf8.ts";
import { OutboundQueue } from "./outbound-queue.ts";

export interface ConnectionOptions {
  role: "server" | "client";
  /** Inbound frame limit, and the size at which outbound messages are fragmented. */
  maxFrameSize: number;
  maxMessageSize: number;
  /** Unsent bytes beyond which writes wait, and unhandled inbound bytes beyond which reading pauses. */
  maxQueuedBytes: number;
  /** Seconds without a frame read or written before `idle()`; 0: never. */
  idleTimeout: number;
  /** Seconds between pings; a ping unanswered by the next one closes with 1011. 0: none. */
  pingInterval: number;
  /** Seconds to wait for the peer's side of the close handshake; -1: forever. */
  closeTimeout: number;
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

const K_OPEN = 6;
const K_MESSAGE = 0;
const K_PING = 1;
const K_PONG = 2;
const K_IDLE = 3;
const K_ERROR = 4;
const K_CLOSED = 5;

interface InboxItem {
  kind: number;
  data: string | Buffer | WebSocketError | undefined;
  isText: boolean;
  code: number;
}

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

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return value !== null && typeof value === "object" && typeof (value as { then?: unknown }).then === "function";
}

let nextId = 1;

/**
 * One WebSocket connection over a socket: feeds the parser, keeps events in order behind
 * busy handlers, answers pings, runs the close handshake, batches writes and applies
 * backpressure. Shared by server and client.
 */
export class Connection {
  readonly id: string;
  readonly socket: Socket;
  private readonly options: ConnectionOptions;
  private readonly parser: FrameParser;
  private readonly queue: OutboundQueue;
  private handler: ConnectionHandler | undefined;

  private inRead = false;
  private flushScheduled = false;
  private busy = false;
  private inbox: InboxItem[] | undefined;
  private inboxBytes = 0;
  private readPaused = false;
  private waiters: PendingWrite[] | undefined;
  private waitingForDrain = false;

  private closeSent = false;
  private closeReceived = false;
  private finished = false;
  private failed = false;
  private code = ABNORMAL_CLOSURE;
  private reason = "";
  private pendingClose: PendingClose | undefined;
  private tcpTimer: NodeJS.Timeout | undefined;

  private lastActivity = 0;
  private idleTimer: NodeJS.Timeout | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  private awaitingPong = false;

  constructor(socket: Socket, options: ConnectionOptions) {
    this.id = `${process.pid.toString(36)}-${(nextId++).toString(36)}`;
    this.socket = socket;
    this.options = options;
    this.parser = new FrameParser({
      role: options.role,
      maxFrameSize: options.maxFrameSize,
      maxMessageSize: options.maxMessageSize,
    });
    this.queue = new OutboundQueue(socket, options.role === "client");
  }

  /** Bytes accepted for sending and not yet written to the kernel. */
  get bufferedAmount(): number {
    return this.queue.queuedBytes + this.socket.writableLength;
  }

  /** Open until a close frame has been sent or received. */
  get isOpen(): boolean {
    return !this.closeSent && !this.closeReceived && !this.finished;
  }

  /** Closed without the peer's close frame, and not because we failed the connection. */
  get lostAbnormally(): boolean {
    return this.finished && !this.closeReceived && !this.failed;
  }

  /** Queues raw bytes to leave before any frame (the 101 response). */
  preface(bytes: Uint8Array): void {
    this.queue.pushRaw(bytes);
  }

  /** Starts reading; `head` holds bytes that arrived with the handshake. */
  start(handler: ConnectionHandler, head?: Buffer): void {
    this.handler = handler;
    const socket = this.socket;
    socket.setNoDelay(true);
    socket.setTimeout(0);
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("end", () => this.onEnd());
    socket.on("error", () => {
      // The 'close' that follows reports 1006; the error itself has no one to go to.
    });
    socket.on("close", () => this.onSocketClose());
    socket.on("drain", () => this.onDrain());
    if (this.options.idleTimeout > 0) {
      this.lastActivity = Date.now();
      this.idleTimer = setTimeout(() => this.checkIdle(), this.options.idleTimeout * 1000);
    }
    if (this.options.pingInterval > 0) {
      this.pingTimer = setInterval(() => this.sendKeepAlivePing(), this.options.pingInterval * 1000);
    }
    this.inRead = true;
    this.deliver(K_OPEN, undefined, false, 0);
    this.inRead = false;
    if (head !== undefined && head.length > 0) this.onData(head);
    else this.flush();
  }

  // ---- reading ----

  private onData(chunk: Buffer): void {
    if (this.options.idleTimeout > 0) this.lastActivity = Date.now();
    this.inRead = true;
    this.parser.push(chunk);
    this.drainParser();
    this.inRead = false;
    this.flush();
  }

  private drainParser(): void {
    const parser = this.parser;
    for (;;) {
      const event = parser.next();
      switch (event) {
        case EV_NONE:
          return;
        case EV_TEXT:
          this.deliver(K_MESSAGE, parser.text, true, parser.text.length);
          break;
        case EV_BINARY:
          this.deliver(K_MESSAGE, parser.data, false, parser.data.length);
          break;
        case EV_PING:
          if (this.handler!.ping === undefined) this.sendControl(OP_PONG, parser.data);
          else this.deliver(K_PING, parser.data, false, parser.data.length);
          break;
        case EV_PONG:
          this.awaitingPong = false;
          this.deliver(K_PONG, parser.data, false, parser.data.length);
          break;
        case EV_CLOSE:
          this.onCloseFrame(parser.closeCode, parser.closeReason);
          return;
        case EV_ERROR:
          this.failConnection(parser.error!);
          return;
      }
      if (this.readPaused) return;
    }
  }

  private onCloseFrame(code: number, reason: string): void {
    this.closeReceived = true;
    this.code = code;
    this.reason = reason;
    if (!this.closeSent) this.sendCloseFrame(code === NO_STATUS_RECEIVED ? undefined : code, "");
    // RFC 6455 §7.1.1: the server closes TCP first; a client waits for it, within a bound.
    if (this.options.role === "server") this.endTcp();
    else this.armTcpTimer();
  }

  private failConnection(error: WebSocketError): void {
    const code = error.closeCode ?? 1002;
    if (!this.closeSent) {
      this.sendCloseFrame(code, truncateUtf8(error.message, MAX_CLOSE_REASON_BYTES));
      this.code = code;
      this.reason = error.message;
      this.failed = true;
    }
    this.deliver(K_ERROR, error, false, 0);
    this.endTcp();
  }

  private onEnd(): void {
    // The peer half-closed: nothing more will come, so finish our side too.
    this.flush();
    this.socket.end();
  }

  private onSocketClose(): void {
    if (this.finished) return;
    this.finished = true;
    this.closeSent = true;
    clearTimeout(this.tcpTimer);
    clearTimeout(this.idleTimer);
    clearInterval(this.pingTimer);
    const closedError = new ConnectionClosureError("Connection already closed", { closeCode: this.code });
    const waiters = this.waiters;
    this.waiters = undefined;
    if (waiters !== undefined) for (const waiter of waiters) waiter.reject(closedError);
    const pending = this.pendingClose;
    if (pending !== undefined) {
      this.pendingClose = undefined;
      clearTimeout(pending.timer);
      if (this.closeReceived) pending.resolve();
      else pending.reject(new ConnectionClosureError("Connection closed before the peer answered the close frame", { closeCode: ABNORMAL_CLOSURE }));
    }
    // Without the peer's close frame the closure was abnormal, unless we failed it ourselves.
    if (!this.closeReceived && !this.failed) {
      this.code = ABNORMAL_CLOSURE;
      this.reason = "";
    }
    this.deliver(K_CLOSED, undefined, false, 0);
  }

  // ---- ordered delivery ----

  private deliver(kind: number, data: string | Buffer | WebSocketError | undefined, isText: boolean, size: number): void {
    if (!this.busy && this.inbox === undefined) {
      this.dispatch(kind, data, isText);
      return;
    }
    (this.inbox ??= []).push({ kind, data, isText, code: size });
    this.inboxBytes += size;
    if (this.inboxBytes > this.options.maxQueuedBytes && !this.readPaused && !this.finished) {
      this.readPaused = true;
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
    }
    if (isPromiseLike(result)) {
      this.busy = true;
      const settled = (): void => this.onHandlerSettled();
      result.then(settled, settled);
    }
  }

  private onHandlerSettled(): void {
    this.busy = false;
    const inbox = this.inbox;
    if (inbox === undefined) return;
    while (!this.busy) {
      const item = inbox.shift();
      if (item === undefined) break;
      this.inboxBytes -= item.code;
      this.dispatch(item.kind, item.data, item.isText);
    }
    if (inbox.length === 0) this.inbox = undefined;
    if (this.readPaused && this.inboxBytes <= this.options.maxQueuedBytes / 2 && !this.finished) {
      this.readPaused = false;
      this.socket.resume();
      // Bytes already pushed to the parser may hold whole messages.
      this.inRead = true;
      this.drainParser();
      this.inRead = false;
    }
    this.scheduleFlush();
  }

  // ---- writing ----

  /**
   * Sends a data message, fragmented at maxFrameSize (text on code-point boundaries).
   * Returns undefined when it was queued at once, or a promise when it waits for room.
   */
  send(opcode: number, payload: string | Uint8Array, timeout = -1): Promise<void> | undefined {
    if (this.closeSent || this.finished) return Promise.reject(this.closedError());
    if (this.waiters !== undefined || this.bufferedAmount > this.options.maxQueuedBytes) {
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
        this.waitForDrain();
      });
    }
    this.enqueueMessage(opcode, payload);
    return undefined;
  }

  private enqueueMessage(opcode: number, payload: string | Uint8Array): void {
    const length = typeof payload === "string" ? Buffer.byteLength(payload) : payload.length;
    const limit = this.options.maxFrameSize > 0 ? this.options.maxFrameSize : 65536;
    if (length <= limit) {
      this.queue.pushFrame(FIN | opcode, payload, length);
    } else {
      const bytes = typeof payload === "string" ? Buffer.from(payload) : payload;
      let start = 0;
      let op = opcode;
      while (start < length) {
        const end = opcode === OP_TEXT ? utf8CutPoint(bytes, start, limit) : Math.min(start + limit, length);
        const fin = end === length ? FIN : 0;
        this.queue.pushFrame(fin | op, bytes.subarray(start, end), end - start);
        op = OP_CONTINUATION;
        start = end;
      }
    }
    this.scheduleFlush();
  }

  /** Ping and pong: never wait behind queued data, as they keep the connection alive. */
  sendControl(opcode: typeof OP_PING | typeof OP_PONG, payload: Uint8Array): void {
    if (this.closeSent || this.finished) throw this.closedError();
    this.queue.pushFrame(FIN | opcode, payload, payload.length);
    this.scheduleFlush();
  }

  private sendCloseFrame(code: number | undefined, reason: string): void {
    this.closeSent = true;
    if (this.finished) return;
    const payload = encodeClosePayload(code, reason);
    this.queue.pushFrame(FIN | OP_CLOSE, payload, payload.length);
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.inRead || this.flushScheduled) return;
    this.flushScheduled = true;
    process.nextTick(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    if (this.queue.empty || this.finished) return;
    if (this.options.idleTimeout > 0) this.lastActivity = Date.now();
    if (!this.queue.flush()) this.waitForDrain();
  }

  private waitForDrain(): void {
    this.waitingForDrain = true;
  }

  private onDrain(): void {
    if (!this.waitingForDrain) return;
    this.waitingForDrain = false;
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
  }

  private closedError(): ConnectionClosureError {
    return new ConnectionClosureError("Connection already closed", { closeCode: this.code });
  }

  // ---- closing ----

  /**
   * Starts the close handshake and resolves once the peer answered and TCP is closed.
   * `timeout` in seconds; -1 waits forever.
   */
  close(code: number, reason: string, timeout: number): Promise<void> {
    if (!isValidCloseCode(code)) {
      return Promise.reject(new ConnectionClosureError(`Failed to execute close. Invalid status code: ${code}`));
    }
    if (timeout < 0 && timeout !== -1) {
      return Promise.reject(new ConnectionClosureError(`Failed to execute close. Invalid timeout: ${timeout}`));
    }
    if (this.closeSent || this.finished) return Promise.reject(new ConnectionClosureError("Close frame already sent"));
    if (Buffer.byteLength(reason) > MAX_CLOSE_REASON_BYTES) {
      return Promise.reject(new ConnectionClosureError(`Failed to execute close. Reason over ${MAX_CLOSE_REASON_BYTES} bytes`));
    }
    return new Promise((resolve, reject) => {
      const pending: PendingClose = { resolve, reject, timer: undefined };
      if (timeout !== -1) {
        pending.timer = setTimeout(() => {
          if (this.pendingClose !== pending) return;
          this.pendingClose = undefined;
          reject(new ConnectionClosureError(`Connection closure timed out: no close frame from the peer within ${timeout} seconds`));
          this.socket.destroy();
        }, timeout * 1000);
      }
      this.pendingClose = pending;
      this.code = code;
      this.reason = reason;
      this.sendCloseFrame(code, reason);
    });
  }

  /** Sends a close frame without waiting for the answer; TCP closes when the peer answers or after the close timeout. */
  closeNow(code: number, reason = ""): void {
    if (this.closeSent || this.finished) return;
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
    this.flush();
    this.socket.end();
    this.armTcpTimer();
  }

  private armTcpTimer(): void {
    if (this.tcpTimer !== undefined || this.finished) return;
    const timeout = this.options.closeTimeout;
    if (timeout < 0) return;
    this.tcpTimer = setTimeout(() => this.socket.destroy(), timeout * 1000);
  }

  // ---- keep-alive ----

  private checkIdle(): void {
    const period = this.options.idleTimeout * 1000;
    const idleFor = Date.now() - this.lastActivity;
    if (idleFor >= period) {
      this.lastActivity = Date.now();
      this.deliver(K_IDLE, undefined, false, 0);
      this.idleTimer = setTimeout(() => this.checkIdle(), period);
    } else {
      this.idleTimer = setTimeout(() => this.checkIdle(), period - idleFor);
    }
  }

  private sendKeepAlivePing(): void {
    if (!this.isOpen) return;
    if (this.awaitingPong) {
      this.closeNow(1011, "No pong received within pingInterval");
      return;
    }
    this.awaitingPong = true;
    this.sendControl(OP_PING, EMPTY);
  }
}

const EMPTY = new Uint8Array(0);
