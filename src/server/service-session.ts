import { type Binding, bindingOf } from "../binding/bind.ts";
import { decodeMessage, validate } from "../binding/decode.ts";
import { bindJson } from "../binding/kinds.ts";
import { methodNameFor } from "../binding/method-name.ts";
import { type MessageStream, OUT_BINARY, OUT_CLOSE, OUT_JSON, OUT_NOTHING, OUT_STREAM, outgoingKind, toBytes } from "../binding/outgoing.ts";
import { streamIdOf, streamWithId, withStreamId } from "../binding/stream-id.ts";
import { type Connection, type ConnectionHandler, isPromiseLike } from "../connection/connection.ts";
import { ConnectionClosureError, PayloadBindingError, WebSocketError } from "../errors.ts";
import { logError } from "../log.ts";
import { pongCalls, WRITTEN } from "../peer/peer-handle.ts";
import { MAX_CLOSE_REASON_BYTES } from "../protocol/close-codes.ts";
import { OP_PONG } from "../protocol/opcodes.ts";
import { truncateUtf8 } from "../protocol/utf8.ts";
import type { Caller } from "./caller.ts";
import { EVENT_HANDLERS, type ResolvedServiceConfig, type Service } from "./service.ts";

/** What becomes of a handler's return value (SPEC §4). */
const REPLY = 0;
/** onPing: returned bytes are the pong. */
const REPLY_PONG = 1;
/** onIdleTimeout, onError: only a close frame counts. */
const REPLY_CLOSE_ONLY = 2;
/** onPong, onClose: ignored. */
const REPLY_NONE = 3;
type ReplyMode = 0 | 1 | 2 | 3;

type Handler = (this: Service, caller: Caller, ...rest: unknown[]) => unknown;

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

/**
 * The service's handler `name`. A getter (or a Proxy) that throws gives a handler that throws
 * the same, so that the event fails like a handler that threw instead of failing the read.
 */
function method(service: Service, name: string): Handler | undefined {
  let candidate: unknown;
  try {
    candidate = (service as unknown as Record<string, unknown>)[name];
  } catch (error) {
    return () => {
      throw error;
    };
  }
  return typeof candidate === "function" ? (candidate as Handler) : undefined;
}

/**
 * Turns a connection's events into calls of a service's methods and sends back what they
 * return, through `caller.writeMessage`: the one way out (SPEC §4). The connection keeps the
 * order: a returned promise holds later events back.
 */
export class ServiceSession implements ConnectionHandler {
  readonly ping: ((data: Buffer) => unknown) | undefined;
  /**
   * A report running beside the events (a returned stream failed): the next event waits for
   * it, so that onError, like every handler, runs one at a time.
   */
  private reporting: Promise<unknown> | undefined;
  /** The last event whose handler was async: a report waits for it. */
  private current: PromiseLike<unknown> | undefined;
  /** onClose has been dispatched: it is the last event, so later failures are only logged. */
  private over = false;

  constructor(
    private readonly service: Service,
    private readonly caller: Caller,
    private readonly connection: Connection,
    private readonly config: ResolvedServiceConfig,
  ) {
    // Read directly, once: a getter that throws here makes the listener refuse the upgrade (500).
    const onPing = (service as { onPing?: unknown }).onPing;
    this.ping = typeof onPing === "function" ? (data) => this.pinged(onPing as Handler, data) : undefined;
  }

  /** The connection waits for what an event returns; a report beside it waits for that too. */
  private enter(result: unknown): unknown {
    if (isPromiseLike(result)) this.current = result;
    return result;
  }

  open(): unknown {
    if (this.reporting !== undefined) return this.enter(this.reporting.then(() => this.open()));
    return this.enter(this.invokeIfPresent("onOpen", undefined, REPLY));
  }

  /**
   * Text with a dispatcher key goes to the method its value names (SPEC §6); otherwise, or
   * when there is no such method, onTextMessage / onBinaryMessage, else onMessage, else dropped.
   */
  message(data: string | Buffer, isText: boolean): unknown {
    if (this.reporting !== undefined) return this.enter(this.reporting.then(() => this.message(data, isText)));
    return this.enter(this.deliver(data, isText));
  }

  private deliver(data: string | Buffer, isText: boolean): unknown {
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

  private pinged(onPing: Handler, data: Buffer): unknown {
    if (this.reporting !== undefined) return this.enter(this.reporting.then(() => this.pinged(onPing, data)));
    return this.enter(this.answerPing(onPing, data));
  }

  /**
   * onPing answers by returning bytes or calling `caller.pong()`; when it settles having done
   * neither, the automatic pong goes out then (SPEC §4): RFC 6455 requires one.
   */
  private answerPing(onPing: Handler, data: Buffer): unknown {
    const pongsBefore = pongCalls(this.caller);
    const result = this.invoke("onPing", onPing, data, REPLY_PONG);
    if (!isPromiseLike(result)) {
      this.pongUnlessAnswered(pongsBefore, data);
      return undefined;
    }
    const settled = (): void => this.pongUnlessAnswered(pongsBefore, data);
    return result.then(settled, settled);
  }

  private pongUnlessAnswered(pongsBefore: number, data: Buffer): void {
    if (pongCalls(this.caller) === pongsBefore && this.connection.isOpen) this.connection.sendControl(OP_PONG, data);
  }

  pong(data: Buffer): unknown {
    if (this.reporting !== undefined) return this.enter(this.reporting.then(() => this.pong(data)));
    return this.enter(this.invokeIfPresent("onPong", data, REPLY_NONE));
  }

  idle(): unknown {
    if (this.reporting !== undefined) return this.enter(this.reporting.then(() => this.idle()));
    return this.enter(this.invokeIfPresent("onIdleTimeout", undefined, REPLY_CLOSE_ONLY));
  }

  error(error: WebSocketError): unknown {
    if (this.reporting !== undefined) return this.enter(this.reporting.then(() => this.error(error)));
    return this.enter(this.invokeIfPresent("onError", error, REPLY_CLOSE_ONLY));
  }

  closed(code: number, reason: string): unknown {
    if (this.reporting !== undefined) return this.enter(this.reporting.then(() => this.closed(code, reason)));
    this.over = true;
    const onClose = method(this.service, "onClose");
    if (onClose === undefined) return undefined;
    let result: unknown;
    try {
      result = onClose.call(this.service, this.caller, code, reason);
    } catch (error) {
      return this.enter(this.handlerFailed("onClose", error));
    }
    return this.enter(this.settle("onClose", result, REPLY_NONE));
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
        (value) => this.reply(name, value, mode, streamId),
        (error: unknown) => this.handlerFailed(name, error),
      );
    }
    return this.reply(name, result, mode, streamId);
  }

  /**
   * Logged, and onError called if present (with the error itself, or a WebSocketError whose
   * cause it is), unless onClose has been dispatched: nothing comes after it.
   */
  private handlerFailed(name: string, thrown: unknown): unknown {
    logError(`${name} failed`, thrown);
    if (name === "onError" || this.over) return undefined;
    const onError = method(this.service, "onError");
    if (onError === undefined) return undefined;
    const error = thrown instanceof Error ? thrown : new WebSocketError(`${name} threw a non-error value`, { cause: thrown });
    return this.invoke("onError", onError, error, REPLY_CLOSE_ONLY);
  }

  /**
   * Sends a returned value as `caller.writeMessage` would. The next event waits for the write,
   * except for a stream, which runs beside later events, and for a close frame's handshake.
   */
  private reply(name: string, value: unknown, mode: ReplyMode, streamId?: unknown): unknown {
    if (mode === REPLY_NONE) return undefined;
    const kind = outgoingKind(value);
    if (kind === OUT_NOTHING) return undefined;
    const caller = this.caller;
    if (kind !== OUT_CLOSE && mode !== REPLY) {
      // onPing: bytes are the pong; onIdleTimeout, onError: only a close frame counts.
      if (mode !== REPLY_PONG || kind !== OUT_BINARY) return undefined;
      return this.written(name, caller.pong(toBytes(value as Uint8Array)));
    }
    const key = this.config.dispatcherStreamId;
    if (kind === OUT_STREAM) {
      const stream = key === undefined || streamId === undefined ? value : streamWithId(value as MessageStream, key, streamId);
      caller.writeMessage(stream).then(undefined, (error: unknown) => this.failedBeside(`${name}'s stream`, error));
      return undefined;
    }
    if (kind === OUT_CLOSE) {
      const wasOpen = this.connection.isOpen;
      const closing = caller.writeMessage(value);
      // Once the frame is out, later events need not wait for the peer's answer.
      if (wasOpen && !this.connection.isOpen) {
        closing.then(undefined, (error: unknown) => this.failedBeside(name, error));
        return undefined;
      }
      return this.written(name, closing);
    }
    return this.written(name, caller.writeMessage(kind === OUT_JSON ? withStreamId(value, key, streamId) : value));
  }

  /** The next event waits for a write that did not go out at once; its failure is reported in order. */
  private written(name: string, write: Promise<void>): unknown {
    if (write === WRITTEN) return undefined;
    return write.then(undefined, (error: unknown) => (tooLate(error, this.connection) ? undefined : this.handlerFailed(name, error)));
  }

  /** A write that failed beside later events (a stream, a close handshake): reported once the event in progress is done. */
  private failedBeside(name: string, error: unknown): void {
    if (tooLate(error, this.connection)) return;
    const run = (): unknown => this.handlerFailed(name, error);
    const done = (): void => {
      if (this.reporting === report) this.reporting = undefined;
    };
    const report: Promise<unknown> = Promise.resolve(this.reporting ?? this.current).then(run, run).then(done, done);
    this.reporting = report;
  }
}

/**
 * A reply that met a closed connection was too late, not wrong: the peer left, the network
 * dropped, the listener stopped, or the service closed while messages were still queued, and
 * onClose tells of it. It is dropped quietly; every other failed write is reported. A
 * destroyed socket counts as closed before its 'close' event: a returned close frame with an
 * invalid code destroys it (SPEC §7), and the writer has logged that already.
 */
function tooLate(error: unknown, connection: Connection): boolean {
  return error instanceof ConnectionClosureError && (!connection.isOpen || connection.socket.destroyed);
}
