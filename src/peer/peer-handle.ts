import type { TLSSocket } from "node:tls";
import {
  iterateStream,
  type MessageStream,
  OUT_BINARY,
  OUT_CLOSE,
  OUT_JSON,
  OUT_NOTHING,
  OUT_STREAM,
  OUT_TEXT,
  OUT_XML,
  outgoingKind,
  textOf,
  toBytes,
} from "../binding/outgoing.ts";
import type { CloseFrame } from "../close-frame.ts";
import type { Connection } from "../connection/connection.ts";
import { ConnectionClosureError, CorruptedFrameError } from "../errors.ts";
import { logError } from "../log.ts";
import { MAX_CLOSE_REASON_BYTES } from "../protocol/close-codes.ts";
import { MAX_CONTROL_PAYLOAD, OP_BINARY, OP_PING, OP_PONG, OP_TEXT } from "../protocol/opcodes.ts";
import { truncateUtf8 } from "../protocol/utf8.ts";

/**
 * @internal What every write queued at once returns. The server compares a reply's write with it, so
 * that the common case, a reply that fits in the queue, costs no promise and no microtask.
 */
export const WRITTEN: Promise<void> = Promise.resolve();

/**
 * @internal The longest delay, in seconds, that Node's timers keep: setTimeout turns any
 * longer one (or a non-finite one) into 1 ms, so a larger timeout would fire at once.
 */
export const MAX_TIMER_SECONDS = 2147483.647;

/** @internal Whether `seconds` is a delay Node's timers keep: from 0 to MAX_TIMER_SECONDS (NaN and Infinity are not). */
export function isTimerSeconds(seconds: number): boolean {
  return seconds >= 0 && seconds <= MAX_TIMER_SECONDS;
}

const EMPTY = new Uint8Array(0);

let readPongCalls!: (handle: PeerHandle) => number;

/** @internal How many pongs `pong()` sent: an `onPing` that sent one needs no automatic pong (SPEC §4). */
export function pongCalls(handle: PeerHandle): number {
  return readPongCalls(handle);
}

/** Ends a stream we stopped reading; its cleanup failing changes nothing about what was written. */
async function stop(elements: AsyncGenerator<unknown>): Promise<void> {
  try {
    await elements.return(undefined);
  } catch {
    // The write's own outcome is what the writer reports.
  }
}

/**
 * What the server's Caller and the Client share (SPEC §4, §10): the write side, where writes
 * resolve once the data is queued for the socket and wait while more than maxQueuedBytes are
 * unsent; close; the connection's identity; and per-connection attributes. `writeMessage` is
 * the one way out: the server sends a handler's return value through it too, so a value goes
 * out, or fails, the same way whichever path it takes.
 */
export abstract class PeerHandle {
  #attributes: Map<string, unknown> | undefined;
  #pongCalls = 0;

  static {
    readPongCalls = (handle) => handle.#pongCalls;
  }

  /** Protected so that the published types, which hide Caller's constructor, do not offer `new Caller()`. */
  protected constructor() {}

  /** @internal The connection writes go to now (a retrying client swaps it). */
  protected abstract get connection(): Connection;
  /** @internal Seconds `close()` waits for the peer by default. */
  protected abstract get defaultCloseTimeout(): number;

  /** @internal Seconds a write may wait for room in the queue; -1: no limit. */
  protected get writeTimeout(): number {
    return -1;
  }

  /** @internal Queues one data message; a retrying client overrides this to reconnect and send again. */
  protected sendData(opcode: number, payload: string | Uint8Array): Promise<void> {
    return this.connection.send(opcode, payload, this.writeTimeout) ?? WRITTEN;
  }

  /**
   * Sends a text message, fragmented at `maxFrameSize` on code-point boundaries. Resolves once
   * it is queued for the socket; waits while more than `maxQueuedBytes` are unsent. Rejects
   * with `ConnectionClosureError` after close (and `WriteTimedOutError` past a client's `writeTimeout`).
   */
  writeTextMessage(text: string): Promise<void> {
    return this.sendData(OP_TEXT, text);
  }

  /** Sends a binary message; resolves and rejects as `writeTextMessage` does. */
  writeBinaryMessage(data: Uint8Array | ArrayBuffer): Promise<void> {
    return this.sendData(OP_BINARY, toBytes(data));
  }

  /**
   * Strings and XML Documents go as text, bytes as binary, a close frame closes (its reason
   * cut to 123 bytes), a stream (async iterable or generator) sends one message per element
   * in order, null and undefined send nothing, and any other value is sent as JSON text.
   * A stream whose iteration throws closes the connection with 1011 "streaming failed: …",
   * and the promise rejects with what it threw.
   */
  writeMessage(data: unknown): Promise<void> {
    switch (outgoingKind(data)) {
      case OUT_NOTHING:
        return WRITTEN;
      case OUT_TEXT:
        return this.writeTextMessage(data as string);
      case OUT_BINARY:
        return this.writeBinaryMessage(data as Uint8Array | ArrayBuffer);
      case OUT_CLOSE:
        return this.writeClose(data as CloseFrame);
      case OUT_STREAM:
        return this.writeStream(data as MessageStream);
      case OUT_JSON:
        return this.writeText(data, OUT_JSON);
      case OUT_XML:
        return this.writeText(data, OUT_XML);
    }
  }

  private writeText(data: unknown, kind: typeof OUT_JSON | typeof OUT_XML): Promise<void> {
    let text: string | undefined;
    try {
      text = textOf(data, kind);
    } catch (error) {
      return Promise.reject(error);
    }
    return text === undefined ? WRITTEN : this.writeTextMessage(text);
  }

  /**
   * A close frame as a value: a reason over 123 bytes is cut on a character boundary rather
   * than refused. One with a status that may not travel drops TCP without a close frame and
   * is logged (SPEC §7): a peer kept waiting for a close that cannot come is worse.
   */
  private writeClose(frame: CloseFrame): Promise<void> {
    if (!frame.valid) {
      logError(`a close frame with the invalid status ${frame.status} was written; dropping the connection`);
      this.connection.destroy();
      return Promise.reject(new ConnectionClosureError(`Failed to execute close. Invalid status code: ${frame.status}`));
    }
    const reason = frame.reason ?? "";
    const sent = truncateUtf8(reason, MAX_CLOSE_REASON_BYTES);
    if (sent !== reason) logError(`a close reason of ${Buffer.byteLength(reason)} bytes was cut to ${MAX_CLOSE_REASON_BYTES}`);
    return this.close(frame.status, sent);
  }

  /**
   * Elements go out one after another. A close frame ends the stream, and a failed write
   * stops it: either way the source is ended, so that its `finally` blocks run.
   */
  private async writeStream(stream: MessageStream): Promise<void> {
    const elements = iterateStream(stream);
    for (;;) {
      let step: IteratorResult<unknown>;
      try {
        step = await elements.next();
      } catch (error) {
        this.streamFailed(error);
        throw error;
      }
      if (step.done === true) return;
      if (outgoingKind(step.value) === OUT_CLOSE) {
        await Promise.all([this.writeClose(step.value as CloseFrame), stop(elements)]);
        return;
      }
      try {
        await this.writeMessage(step.value);
      } catch (error) {
        await stop(elements);
        throw error;
      }
    }
  }

  private streamFailed(error: unknown): void {
    const connection = this.connection;
    if (!connection.isOpen) return;
    const detail = error instanceof Error ? error.message : String(error);
    connection.closeNow(1011, truncateUtf8(`streaming failed: ${detail}`, MAX_CLOSE_REASON_BYTES));
  }

  /** Sends a ping; rejects with `CorruptedFrameError` for more than 125 bytes, `ConnectionClosureError` after close. */
  ping(data: Uint8Array = EMPTY): Promise<void> {
    return this.control(OP_PING, data);
  }

  /**
   * Sends a pong (from `onPing`, to choose its payload); rejects as `ping` does. Only a pong
   * that went out counts as `onPing`'s answer: after a refused one the automatic pong still goes.
   */
  pong(data: Uint8Array = EMPTY): Promise<void> {
    const sent = this.control(OP_PONG, data);
    if (sent === WRITTEN) this.#pongCalls++;
    return sent;
  }

  private control(opcode: typeof OP_PING | typeof OP_PONG, data: Uint8Array): Promise<void> {
    if (data.length > MAX_CONTROL_PAYLOAD) {
      const name = opcode === OP_PING ? "ping" : "pong";
      return Promise.reject(new CorruptedFrameError(`Failed to send ${name}: payload of ${data.length} bytes is over 125 bytes`));
    }
    try {
      this.connection.sendControl(opcode, data);
      return WRITTEN;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Sends a close frame and waits (up to `timeout` seconds, at most 2147483.647; -1 forever)
   * for the peer's; TCP is closed either way. Codes outside 1000–1003, 1007–1014 and
   * 3000–4999, and other timeouts, are refused with `ConnectionClosureError`.
   */
  close(statusCode = 1000, reason = "", timeout?: number): Promise<void> {
    if (!Number.isInteger(statusCode)) {
      return Promise.reject(new ConnectionClosureError(`Failed to execute close. Invalid status code: ${statusCode}`));
    }
    if (timeout !== undefined && timeout !== -1 && !isTimerSeconds(timeout)) {
      return Promise.reject(
        new ConnectionClosureError(`Failed to execute close. Invalid timeout: ${timeout} (0 to ${MAX_TIMER_SECONDS} seconds, or -1 for no limit)`),
      );
    }
    return this.connection.close(statusCode, reason, timeout ?? this.defaultCloseTimeout);
  }

  /** An identifier of the connection, unique in this process, for logs and maps. */
  getConnectionId(): string {
    return this.connection.id;
  }

  /** True over TLS. */
  isSecure(): boolean {
    return (this.connection.socket as Partial<TLSSocket>).encrypted === true;
  }

  /** Keeps a value with this connection (a user id, a subscription) until it is removed. */
  setAttribute(key: string, value: unknown): void {
    (this.#attributes ??= new Map()).set(key, value);
  }

  /** The value set under `key`; undefined when none was. */
  getAttribute(key: string): unknown {
    return this.#attributes?.get(key);
  }

  /** Removing a key that is not there is fine. */
  removeAttribute(key: string): void {
    this.#attributes?.delete(key);
  }

  /** True until a close frame has been sent or received. */
  isOpen(): boolean {
    return this.connection.isOpen;
  }

  /** Bytes accepted for sending and not yet handed to the kernel. */
  get bufferedAmount(): number {
    return this.connection.bufferedAmount;
  }
}
