import { type Binding, bindingOf } from "../binding/bind.ts";
import { decodeMessage, validate } from "../binding/decode.ts";
import { bindJson } from "../binding/kinds.ts";
import { methodNameFor } from "../binding/method-name.ts";
import { streamIdOf, withStreamId } from "../binding/stream-id.ts";
import { type Document, serializeXml } from "../binding/xml.ts";
import type { CloseFrame } from "../close-frame.ts";
import { type Connection, type ConnectionHandler, isPromiseLike } from "../connection/connection.ts";
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

/** Methods that a dispatcher value never selects by the name rule (a mapping entry still may). */
const EVENT_HANDLERS: ReadonlySet<string> = new Set([
  "onOpen",
  "onClose",
  "onError",
  "onPing",
  "onPong",
  "onIdleTimeout",
  "onTextMessage",
  "onBinaryMessage",
  "onMessage",
]);

/** No JSON object was parsed from the message (yet, or at all). */
const NOT_PARSED: unique symbol = Symbol("not parsed");

/** The message as a JSON object, or NOT_PARSED: dispatch looks only at objects. */
function parseJsonObject(text: string): unknown {
  // Most text that is not a JSON object is seen at its first character, without a parse.
  if (!/^\s*\{/.test(text)) return NOT_PARSED;
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === "object" && !Array.isArray(value) ? value : NOT_PARSED;
  } catch {
    return NOT_PARSED;
  }
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

  /**
   * Text with a dispatcher key goes to the method its value names (SPEC §6); otherwise, or
   * when there is no such method, onTextMessage / onBinaryMessage, else onMessage, else dropped.
   */
  message(data: string | Buffer, isText: boolean): unknown {
    const service = this.service;
    let parsed: unknown = NOT_PARSED;
    if (isText && this.config.dispatcherKey !== undefined) {
      parsed = parseJsonObject(data as string);
      const name = this.customMethodName(parsed);
      const custom = name === undefined ? undefined : method(service, name);
      if (custom !== undefined) return this.deliverBound(name!, custom, data, parsed, "json");
    }
    const name = isText ? "onTextMessage" : "onBinaryMessage";
    const direct = method(service, name);
    if (direct !== undefined) return this.deliverBound(name, direct, data, parsed, isText ? "text" : "binary");
    const onMessage = method(service, "onMessage");
    if (onMessage === undefined) return undefined;
    return this.deliverBound("onMessage", onMessage, data, parsed, "json");
  }

  private customMethodName(request: unknown): string | undefined {
    if (request === NOT_PARSED) return undefined;
    const value = (request as Record<string, unknown>)[this.config.dispatcherKey!];
    if (typeof value !== "string") return undefined;
    // Own entries only: "toString" or "constructor" must not find Object.prototype's.
    const mapping = this.config.dispatcherMapping;
    if (Object.hasOwn(mapping, value)) return mapping[value];
    const name = methodNameFor(value);
    // A peer must not reach lifecycle handlers, or another method's error handler, by naming them.
    if (EVENT_HANDLERS.has(name)) return undefined;
    if (name.endsWith("Error") && method(this.service, name.slice(0, -"Error".length)) !== undefined) return undefined;
    return name;
  }

  /**
   * Binds the message as the handler declared (else `fallback`) and calls it. JSON is parsed
   * once, and kept for the stream id: a schema may strip the id from its output.
   */
  private deliverBound(name: string, handler: Handler, data: string | Buffer, parsed: unknown, fallback: Binding): unknown {
    const binding = bindingOf(handler)?.binding ?? fallback;
    let argument: unknown;
    let streamId: unknown;
    try {
      if (binding === fallback && binding !== "json") {
        // onTextMessage with text, onBinaryMessage with bytes: nothing to convert.
        argument = data;
      } else if (binding === "json" || typeof binding === "object") {
        const json = parsed === NOT_PARSED ? bindJson(data) : parsed;
        parsed = json;
        argument = binding === "json" ? json : validate(binding, json, this.config.validation);
      } else {
        argument = decodeMessage(binding, data, this.config.validation);
      }
      if (parsed !== NOT_PARSED) streamId = streamIdOf(parsed, this.config.dispatcherStreamId);
    } catch (error) {
      return this.bindingFailed(name, error);
    }
    if (isPromiseLike(argument)) {
      return Promise.resolve(argument).then(
        (value) => this.invoke(name, handler, value, REPLY, streamId),
        (error: unknown) => this.bindingFailed(name, error),
      );
    }
    return this.invoke(name, handler, argument, REPLY, streamId);
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
  private bindingFailed(name: string, thrown: unknown): unknown {
    const error =
      thrown instanceof PayloadBindingError
        ? thrown
        : new PayloadBindingError(`data binding failed: ${thrown instanceof Error ? thrown.message : String(thrown)}`, { cause: thrown });
    // onXError answers like a message handler (an error reply to the peer, say); onError only closes.
    const specific = method(this.service, `${name}Error`);
    if (specific !== undefined) return this.invoke(`${name}Error`, specific, error, REPLY);
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
  private invoke(name: string, handler: Handler, argument: unknown, mode: ReplyMode, streamId?: unknown): unknown {
    let result: unknown;
    try {
      result = handler.call(this.service, this.caller, argument);
    } catch (error) {
      return this.handlerFailed(name, error);
    }
    return this.settle(name, result, mode, streamId);
  }

  /** A handler's result, sync or async, is replied to per `mode`; a rejection goes to onError. */
  private settle(name: string, result: unknown, mode: ReplyMode, streamId?: unknown): unknown {
    if (isPromiseLike(result)) {
      return Promise.resolve(result).then(
        (value) => this.reply(value, mode, streamId),
        (error: unknown) => this.handlerFailed(name, error),
      );
    }
    return this.reply(result, mode, streamId);
  }

  private handlerFailed(name: string, thrown: unknown): unknown {
    logError(`${name} failed`, thrown);
    if (name === "onError") return undefined;
    const onError = method(this.service, "onError");
    if (onError === undefined) return undefined;
    const error = thrown instanceof Error ? thrown : new WebSocketError(`${name} threw a non-error value`, { cause: thrown });
    return this.invoke("onError", onError, error, REPLY_CLOSE_ONLY);
  }

  private reply(value: unknown, mode: ReplyMode, streamId?: unknown): unknown {
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
      case OUT_XML:
        return this.send(OP_TEXT, serializeXml(value as Document));
      case OUT_STREAM:
        void this.pump(value as MessageStream, streamId);
        return undefined;
      case OUT_JSON: {
        const text = JSON.stringify(withStreamId(value, this.config.dispatcherStreamId, streamId));
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
  private async pump(stream: MessageStream, streamId: unknown): Promise<void> {
    try {
      for await (const element of iterateStream(stream)) {
        if (!this.connection.isOpen) return;
        await this.reply(element, REPLY, streamId);
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
