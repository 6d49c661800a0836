import type { TLSSocket } from "node:tls";
import { type Document, serializeXml } from "../binding/xml.ts";
import type { CloseFrame } from "../close-frame.ts";
import { ConnectionClosureError, CorruptedFrameError } from "../errors.ts";
import { MAX_CONTROL_PAYLOAD, OP_BINARY, OP_PING, OP_PONG, OP_TEXT } from "../protocol/opcodes.ts";
import type { Connection } from "./connection.ts";
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
  toBytes,
} from "./outgoing.ts";

const RESOLVED: Promise<void> = Promise.resolve();
const EMPTY = new Uint8Array(0);

/**
 * What the server's Caller and the Client share (SPEC §4, §10): the write side, where writes
 * resolve once the data is queued for the socket and wait while more than maxQueuedBytes are
 * unsent; close; the connection's identity; and per-connection attributes.
 */
export abstract class PeerHandle {
  #attributes: Map<string, unknown> | undefined;

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
    return this.connection.send(opcode, payload, this.writeTimeout) ?? RESOLVED;
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
   * Strings and XML Documents go as text, bytes as binary, a close frame closes, a stream (async iterable or
   * generator) sends one message per element, null and undefined send nothing, and any other
   * value is sent as JSON text.
   */
  writeMessage(data: unknown): Promise<void> {
    switch (outgoingKind(data)) {
      case OUT_NOTHING:
        return RESOLVED;
      case OUT_TEXT:
        return this.writeTextMessage(data as string);
      case OUT_BINARY:
        return this.writeBinaryMessage(data as Uint8Array | ArrayBuffer);
      case OUT_CLOSE: {
        const frame = data as CloseFrame;
        return this.close(frame.status, frame.reason);
      }
      case OUT_STREAM:
        return this.writeStream(data as MessageStream);
      case OUT_JSON:
        return this.writeJson(data);
      case OUT_XML:
        return this.writeTextMessage(serializeXml(data as Document));
    }
  }

  private writeJson(data: unknown): Promise<void> {
    const text = JSON.stringify(data);
    return text === undefined ? RESOLVED : this.writeTextMessage(text);
  }

  private async writeStream(stream: MessageStream): Promise<void> {
    for await (const element of iterateStream(stream)) await this.writeMessage(element);
  }

  /** Sends a ping; rejects with `CorruptedFrameError` for more than 125 bytes, `ConnectionClosureError` after close. */
  ping(data: Uint8Array = EMPTY): Promise<void> {
    return this.control(OP_PING, data);
  }

  /** Sends a pong (from `onPing`, to choose its payload); rejects as `ping` does. */
  pong(data: Uint8Array = EMPTY): Promise<void> {
    return this.control(OP_PONG, data);
  }

  private control(opcode: typeof OP_PING | typeof OP_PONG, data: Uint8Array): Promise<void> {
    if (data.length > MAX_CONTROL_PAYLOAD) {
      const name = opcode === OP_PING ? "ping" : "pong";
      return Promise.reject(new CorruptedFrameError(`Failed to send ${name}: payload of ${data.length} bytes is over 125 bytes`));
    }
    try {
      this.connection.sendControl(opcode, data);
      return RESOLVED;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Sends a close frame and waits (up to `timeout` seconds, -1 forever) for the peer's; TCP is
   * closed either way. Codes outside 1000–1003, 1007–1014 and 3000–4999 are refused.
   */
  close(statusCode = 1000, reason = "", timeout?: number): Promise<void> {
    if (!Number.isInteger(statusCode)) {
      return Promise.reject(new ConnectionClosureError(`Failed to execute close. Invalid status code: ${statusCode}`));
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
