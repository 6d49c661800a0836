import { bindJson } from "../binding/kinds.ts";
import type { CloseFrame } from "../close-frame.ts";
import type { Connection, ConnectionHandler } from "../connection/connection.ts";
import {
  iterateStream,
  type MessageStream,
  OUT_BINARY,
  OUT_CLOSE,
  OUT_JSON,
  OUT_NOTHING,
  OUT_STREAM,
  OUT_TEXT,
  outgoingKind,
  toBytes,
} from "../connection/outgoing.ts";
import { PayloadBindingError, WebSocketError } from "../errors.ts";
import { logError } from "../log.ts";
import { MAX_CLOSE_REASON_BYTES } from "../protocol/close-codes.ts";
import { OP_BINARY, OP_PONG, OP_TEXT } from "../protocol/opcodes.ts";
import { truncateUtf8 } from "../protocol/utf8.ts";
import type { Caller } from "./caller.ts";
import type { ResolvedServiceConfig, Service } from "./service.ts";

/** What becomes of a handler's return value (SPEC §4). */
const REPLY = 0;
/** onPing: returned bytes are the pong. */
const REPLY_PONG = 1;
/** onIdleTimeout, onError: only a close frame counts. */
const REPLY_CLOSE_ONLY = 2;
/** onPong, onClose: ignored. */
const REPLY_NONE = 3;
type ReplyMode = 0 | 1 | 2 | 3;

type Handler = (this: Service, caller: Caller, argument: unknown) => unknown;

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return value !== null && typeof value === "object" && typeof (value as { then?: unknown }).then === "function";
}

function method(service: Service, name: string): Handler | undefined {
  const candidate = (service as unknown as Record<string, unknown>)[name];
  return typeof candidate === "function" ? (candidate as Handler) : undefined;
}

/**
 * Turns a connection's events into calls of a service's methods and sends back what they
 * return. The connection keeps the order: a returned promise holds later events back.
 */
export class ServiceSession implements ConnectionHandler {
  readonly ping: ((data: Buffer) => unknown) | undefined;

  constructor(
    private readonly service: Service,
    private readonly caller: Caller,
    private readonly connection: Connection,
    private readonly config: ResolvedServiceConfig,
  ) {
    const onPing = method(service, "onPing");
    this.ping = onPing === undefined ? undefined : (data) => this.invoke("onPing", onPing, data, REPLY_PONG);
  }

  open(): unknown {
    return this.invokeIfPresent("onOpen", undefined, REPLY);
  }

  message(data: string | Buffer, isText: boolean): unknown {
    const service = this.service;
    const direct = isText ? service.onTextMessage : service.onBinaryMessage;
    if (direct !== undefined) return this.invoke(isText ? "onTextMessage" : "onBinaryMessage", direct as Handler, data, REPLY);
    const onMessage = method(service, "onMessage");
    if (onMessage === undefined) return undefined;
    let bound: unknown;
    try {
      bound = bindJson(data);
    } catch (error) {
      return this.bindingFailed("onMessage", error as PayloadBindingError);
    }
    return this.invoke("onMessage", onMessage, bound, REPLY);
  }

  pong(data: Buffer): unknown {
    return this.invokeIfPresent("onPong", data, REPLY_NONE);
  }

  idle(): unknown {
    return this.invokeIfPresent("onIdleTimeout", undefined, REPLY_CLOSE_ONLY);
  }

  error(error: WebSocketError): unknown {
    return this.invokeIfPresent("onError", error, REPLY_CLOSE_ONLY);
  }

  closed(code: number, reason: string): unknown {
    const onClose = this.service.onClose;
    if (typeof onClose !== "function") return undefined;
    let result: unknown;
    try {
      result = onClose.call(this.service, this.caller, code, reason);
    } catch (error) {
      return this.handlerFailed("onClose", error);
    }
    return this.settle("onClose", result, REPLY_NONE);
  }

  /**
   * Binding failed for method `name`: `<name>Error` if the service has it, else onError
   * (the connection stays open), else close 1003 with the error's message.
   */
  private bindingFailed(name: string, error: PayloadBindingError): unknown {
    const specific = method(this.service, `${name}Error`);
    if (specific !== undefined) return this.invoke(`${name}Error`, specific, error, REPLY_CLOSE_ONLY);
    const onError = method(this.service, "onError");
    if (onError !== undefined) return this.invoke("onError", onError, error, REPLY_CLOSE_ONLY);
    if (this.connection.isOpen) this.connection.closeNow(1003, truncateUtf8(error.message, MAX_CLOSE_REASON_BYTES));
    return undefined;
  }

  private invokeIfPresent(name: string, argument: unknown, mode: ReplyMode): unknown {
    const handler = method(this.service, name);
    return handler === undefined ? undefined : this.invoke(name, handler, argument, mode);
  }

  /** Runs a handler; a throw goes to onError. */
  private invoke(name: string, handler: Handler, argument: unknown, mode: ReplyMode): unknown {
    let result: unknown;
    try {
      result = handler.call(this.service, this.caller, argument);
    } catch (error) {
      return this.handlerFailed(name, error);
    }
    return this.settle(name, result, mode);
  }

  /** A handler's result, sync or async, is replied to per `mode`; a rejection goes to onError. */
  private settle(name: string, result: unknown, mode: ReplyMode): unknown {
    if (isPromiseLike(result)) {
      return Promise.resolve(result).then(
        (value) => this.reply(value, mode),
        (error: unknown) => this.handlerFailed(name, error),
      );
    }
    return this.reply(result, mode);
  }

  private handlerFailed(name: string, thrown: unknown): unknown {
    logError(`${name} failed`, thrown);
    if (name === "onError") return undefined;
    const onError = method(this.service, "onError");
    if (onError === undefined) return undefined;
    const error = thrown instanceof Error ? thrown : new WebSocketError(`${name} threw a non-error value`, { cause: thrown });
    return this.invoke("onError", onError, error, REPLY_CLOSE_ONLY);
  }

  private reply(value: unknown, mode: ReplyMode): unknown {
    const kind = outgoingKind(value);
    if (kind === OUT_NOTHING || mode === REPLY_NONE) return undefined;
    if (kind === OUT_CLOSE) {
      this.closeWith(value as CloseFrame);
      return undefined;
    }
    if (mode === REPLY_CLOSE_ONLY) return undefined;
    if (mode === REPLY_PONG) {
      if (kind === OUT_BINARY && this.connection.isOpen) this.connection.sendControl(OP_PONG, toBytes(value as Uint8Array));
      return undefined;
    }
    switch (kind) {
      case OUT_TEXT:
        return this.send(OP_TEXT, value as string);
      case OUT_BINARY:
        return this.send(OP_BINARY, toBytes(value as Uint8Array));
      case OUT_STREAM:
        void this.pump(value as MessageStream);
        return undefined;
      case OUT_JSON: {
        const text = JSON.stringify(value);
        return text === undefined ? undefined : this.send(OP_TEXT, text);
      }
    }
    return undefined;
  }

  /** A reply to a connection that closed meanwhile is dropped: there is no one to tell. */
  private send(opcode: number, payload: string | Uint8Array): unknown {
    if (!this.connection.isOpen) return undefined;
    return this.connection.send(opcode, payload)?.catch(() => undefined);
  }

  /** Streams run beside later messages; an element that throws closes with 1011. */
  private async pump(stream: MessageStream): Promise<void> {
    try {
      for await (const element of iterateStream(stream)) {
        if (!this.connection.isOpen) return;
        await this.reply(element, REPLY);
      }
    } catch (error) {
      logError("a returned stream failed", error);
      if (!this.connection.isOpen) return;
      const detail = error instanceof Error ? error.message : String(error);
      this.connection.closeNow(1011, truncateUtf8(`streaming failed: ${detail}`, MAX_CLOSE_REASON_BYTES));
    }
  }

  private closeWith(frame: CloseFrame): void {
    if (!frame.valid) {
      logError(`a service returned a close frame with the invalid status ${frame.status}; dropping the connection`);
      this.connection.destroy();
      return;
    }
    if (!this.connection.isOpen) return;
    const reason = frame.reason ?? "";
    const sent = truncateUtf8(reason, MAX_CLOSE_REASON_BYTES);
    if (sent !== reason) logError(`a close reason of ${Buffer.byteLength(reason)} bytes was cut to ${MAX_CLOSE_REASON_BYTES}`);
    this.connection.close(frame.status, sent, this.config.connectionClosureTimeout).catch(() => undefined);
  }
}
