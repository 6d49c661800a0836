import type { Binding, BoundMessage } from "../binding/bind.ts";
import { decodeMessage } from "../binding/decode.ts";
import { Connection, type ConnectionHandler } from "../connection/connection.ts";
import { PeerHandle, pongCalls } from "../peer/peer-handle.ts";
import { outgoingKind, OUT_BINARY, toBytes } from "../binding/outgoing.ts";
import { withOwnReads } from "../connection/own-reads.ts";
import { ConnectionClosureError, ConnectionError, PayloadBindingError, WebSocketError } from "../errors.ts";
import { logError } from "../log.ts";
import { ABNORMAL_CLOSURE, isValidCloseCode } from "../protocol/close-codes.ts";
import { OP_PONG } from "../protocol/opcodes.ts";
import { type ClientConfiguration, type ResolvedClientConfiguration, resolveClientConfiguration } from "./client-configuration.ts";
import { MessageInbox } from "./message-inbox.ts";
import { type Handshake, type HttpResponse, openingHandshake, parseWebSocketUrl } from "./opening-handshake.ts";
import { mayRetry, retryDelay } from "./retry-policy.ts";

/** Seconds `close()` waits for the server's close frame by default. */
const DEFAULT_CLOSE_TIMEOUT = 60;

/** How a client's connection ended for good, as `client.closed` gives it. */
export interface ClientClosure {
  /** The close code: the server's (1005 when its frame had none), the client's own, or 1006 when TCP went without one. */
  code: number;
  /** The close reason that came with the code; "" when there was none. */
  reason: string;
}


/**
 * A WebSocket client with awaitable reads and writes (SPEC §10). It is event-driven
 * underneath: pings are answered and a server's close is echoed even while nobody reads,
 * and unread messages wait in order, bounded by maxQueuedBytes.
 */
export class Client extends PeerHandle implements AsyncIterable<string | Uint8Array> {
  readonly #url: URL;
  readonly #config: ResolvedClientConfiguration;
  readonly #inbox: MessageInbox;
  #connection!: Connection;
  #handshake!: Handshake;
  /** The user closed, or onReconnect failed: no more reconnects. */
  #closedByClient = false;
  /** Set by a close() during a reconnect: no further attempt is made. */
  #abandoned = false;
  /** Ends the wait before the next attempt at once (a close() during a reconnect). */
  #wakeRetry: (() => void) | undefined;
  /** A reconnect and its onReconnect; rejects with the error that ended the client. */
  #reconnecting: Promise<void> | undefined;
  /** onReconnect is running: its reads and writes go ahead of those that were waiting. */
  #inReconnectHook = false;
  /** The connection was lost again while onReconnect ran. */
  #reconnectAgain = false;
  #protocolError: WebSocketError | undefined;
  /** client.pong() was called while onPing ran, so no automatic pong is due. */
  #lastClosure: ClientClosure = { code: ABNORMAL_CLOSURE, reason: "" };
  readonly #closed: Promise<ClientClosure>;
  #settleClosed!: (closure: ClientClosure) => void;

  private constructor(url: URL, config: ResolvedClientConfiguration) {
    super();
    this.#url = url;
    this.#config = config;
    this.#inbox = new MessageInbox(config.maxQueuedBytes);
    this.#closed = new Promise((resolve) => (this.#settleClosed = resolve));
  }

  /**
   * Opens a connection to a `ws:` or `wss:` URL, retrying on I/O errors per `retryConfig`.
   * Rejects with `ConnectionError` (bad URL, refused, reset, retries given up),
   * `InvalidHandshakeError` (an answer other than a valid 101), `HandshakeTimedOutError`
   * (no answer within `handShakeTimeout` seconds) or `SslError` (TLS failed).
   */
  static async connect(url: string | URL, config: ClientConfiguration = {}): Promise<Client> {
    const client = new Client(parseWebSocketUrl(url), resolveClientConfiguration(config));
    await client.#establish();
    return client;
  }

  /** @internal */
  protected get connection(): Connection {
    return this.#connection;
  }

  /** @internal */
  protected get defaultCloseTimeout(): number {
    return DEFAULT_CLOSE_TIMEOUT;
  }

  /** Handshakes, with retries on I/O errors; the retry count starts afresh each time. */
  async #establish(): Promise<void> {
    const retry = this.#config.retry;
    for (let attempt = 0; ; attempt++) {
      try {
        this.#attach(await openingHandshake(this.#url, this.#config));
        return;
      } catch (error) {
        const ioError = error instanceof ConnectionError;
        if (retry === undefined || !ioError) throw error;
        if (!mayRetry(retry, attempt)) {
          throw new ConnectionError(`Cannot connect to ${this.#url.href}: gave up after ${attempt} retries`, { cause: error });
        }
        if (!this.#abandoned) await this.#waitToRetry(retryDelay(retry, attempt));
        if (this.#abandoned) throw new ConnectionClosureError("Connection closed by the client while reconnecting", { cause: error });
      }
    }
  }

  #waitToRetry(seconds: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.#wakeRetry = undefined;
        resolve();
      };
      const timer = setTimeout(wake, seconds * 1000);
      this.#wakeRetry = wake;
    });
  }

  #attach(handshake: Handshake): void {
    const config = this.#config;
    this.#handshake = handshake;
    this.#protocolError = undefined;
    const reading = withOwnReads(handshake.socket, handshake.head, config.ownReads);
    const connection = new Connection(handshake.socket, {
      role: "client",
      maxFrameSize: config.maxFrameSize,
      maxMessageSize: config.maxMessageSize,
      maxFragments: config.maxFragments,
      maxQueuedBytes: config.maxQueuedBytes,
      idleTimeout: 0,
      pingInterval: 0,
      closeTimeout: DEFAULT_CLOSE_TIMEOUT,
      compression: config.compression,
      mallocTuning: config.mallocTuning,
    }, handshake.deflate, reading.ownReads);
    this.#connection = connection;
    connection.start(this.#handlerFor(connection), reading.head);
  }

  #handlerFor(connection: Connection): ConnectionHandler {
    const handlers = this.#config.pingPongHandler;
    const onPing = handlers?.onPing;
    return {
      open: () => undefined,
      message: (data, isText) => this.#inbox.push(isText ? data : (data as Buffer)),
      ping: onPing === undefined ? undefined : (data) => this.#answerPing(connection, data),
      pong: (data) => handlers?.onPong?.call(handlers, this, data),
      idle: () => undefined,
      error: (error) => {
        this.#protocolError = error;
      },
      closed: (code, reason) => {
        if (connection !== this.#connection) return;
        this.#lastClosure = { code, reason };
        if (this.#reconnectsAfter(code)) {
          // A write may have started the reconnect already; the hook's own connection going starts another round.
          if (this.#inReconnectHook) this.#lostDuringReconnectHook();
          else void this.#reconnect();
          return;
        }
        if (this.#protocolError !== undefined || code === ABNORMAL_CLOSURE) this.#inbox.fail(this.#protocolError, code);
        else this.#inbox.closeFrame(code, reason);
        this.#settleClosed(this.#lastClosure);
      },
    };
  }

  /**
   * SPEC §4: RFC 6455 requires a pong, so when onPing settles having neither returned bytes
   * nor called pong(), the automatic one goes out (an onPing that only logs must not stop pongs).
   */
  async #answerPing(connection: Connection, data: Buffer): Promise<void> {
    const handlers = this.#config.pingPongHandler!;
    // Kept for the automatic pong after the handler's awaits (at most 125 bytes).
    const payload = Buffer.from(data);
    const pongsBefore = pongCalls(this);
    let answer: unknown;
    try {
      answer = await handlers.onPing!.call(handlers, this, payload);
    } catch (error) {
      logError("pingPongHandler.onPing threw; the ping is answered automatically", error);
    }
    if (!connection.isOpen || connection !== this.#connection) return;
    if (outgoingKind(answer) === OUT_BINARY) {
      await this.pong(toBytes(answer as Uint8Array)).catch((error: unknown) => {
        logError("pingPongHandler.onPing returned an invalid pong; the ping is answered automatically", error);
        connection.sendControl(OP_PONG, payload);
      });
    } else if (pongCalls(this) === pongsBefore) {
      connection.sendControl(OP_PONG, payload);
    }
  }

  /** A lost connection, or a server's close with one of retryConfig.closeCodes, reconnects unless the client closed. */
  #reconnectsAfter(code: number): boolean {
    const retry = this.#config.retry;
    if (retry === undefined || this.#closedByClient) return false;
    return code === ABNORMAL_CLOSURE || (this.#protocolError === undefined && retry.closeCodes.includes(code));
  }

  #reconnect(): Promise<void> {
    if (this.#reconnecting === undefined) {
      const reconnecting = this.#reestablish();
      this.#reconnecting = reconnecting;
      const done = (): void => {
        if (this.#reconnecting === reconnecting) this.#reconnecting = undefined;
      };
      reconnecting.then(done, done);
    }
    return this.#reconnecting;
  }

  /**
   * Connects again and runs onReconnect, again while the new connection is lost during it; a
   * failure of either ends the client, with that error.
   */
  async #reestablish(): Promise<void> {
    const onReconnect = this.#config.retry!.onReconnect;
    if (onReconnect !== undefined) this.#inbox.hold();
    try {
      do {
        this.#reconnectAgain = false;
        try {
          await this.#establish();
        } catch (error) {
          this.#inbox.fail(error instanceof Error ? error : undefined, ABNORMAL_CLOSURE);
          this.#settleClosed(this.#lastClosure);
          throw error;
        }
        if (onReconnect !== undefined) await this.#runReconnectHook(onReconnect);
      } while (this.#reconnectAgain);
    } finally {
      this.#inbox.release();
    }
  }

  async #runReconnectHook(onReconnect: (client: Client) => unknown): Promise<void> {
    this.#inReconnectHook = true;
    try {
      await onReconnect(this);
    } catch (thrown) {
      // A hook that failed because its connection was lost is run again on the next one.
      if (this.#reconnectAgain) return;
      const error = thrown instanceof Error ? thrown : new WebSocketError(`onReconnect failed: ${String(thrown)}`, { cause: thrown });
      this.#closedByClient = true;
      this.#inbox.fail(error, ABNORMAL_CLOSURE);
      const connection = this.#connection;
      // The closed handler reports how this connection ends.
      if (connection.isOpen) connection.close(1011, "onReconnect failed", DEFAULT_CLOSE_TIMEOUT).catch(() => undefined);
      else this.#settleClosed(this.#lastClosure);
      throw error;
    } finally {
      this.#inReconnectHook = false;
    }
  }

  /** The connection onReconnect works on was lost: its reads fail at once, and a new round follows. */
  #lostDuringReconnectHook(): void {
    this.#reconnectAgain = true;
    this.#inbox.failPriority(new ConnectionError("Connection lost while onReconnect ran: Status code: 1006", { closeCode: ABNORMAL_CLOSURE }));
  }

  /** Whether a read or write must wait for the reconnect under way (not when onReconnect makes it). */
  get #mustWait(): boolean {
    return this.#reconnecting !== undefined && !this.#inReconnectHook;
  }

  /** @internal Writes wait for a reconnect under way, and are sent again when the connection was lost under them. */
  protected override get writeTimeout(): number {
    return this.#config.writeTimeout;
  }

  /** @internal */
  protected override sendData(opcode: number, payload: string | Uint8Array): Promise<void> {
    return this.#config.retry === undefined ? super.sendData(opcode, payload) : this.#sendWithRetry(opcode, payload);
  }

  async #sendWithRetry(opcode: number, payload: string | Uint8Array): Promise<void> {
    for (;;) {
      if (this.#mustWait) await this.#reconnecting;
      const connection = this.#connection;
      try {
        await connection.send(opcode, payload, this.#config.writeTimeout);
        return;
      } catch (error) {
        await this.#reconnectAfter(error, connection);
      }
    }
  }

  /** Rethrows unless the write met a closure that retryConfig reconnects after; then the loop above sends again. */
  async #reconnectAfter(error: unknown, connection: Connection): Promise<void> {
    if (!(error instanceof ConnectionClosureError) || this.#config.retry === undefined || this.#closedByClient || this.#inbox.ended) throw error;
    // onReconnect's own writes do not wait for the reconnect that runs it.
    if (this.#inReconnectHook) throw error;
    if (connection !== this.#connection) return;
    if (connection.lostAbnormally) {
      await this.#reconnect();
      return;
    }
    // A close frame is under way: once TCP is closed, the closed handler has decided.
    await connection.whenClosed();
    if (this.#reconnecting === undefined && connection === this.#connection) throw error;
  }

  /**
   * Sends a close frame and waits (up to `timeout` seconds [60], -1 forever) for the server's;
   * TCP is closed either way. During a reconnect, no further attempt is made: the connection
   * being opened, if any, is closed; with none, it resolves at once. Rejects with
   * `ConnectionClosureError` for an invalid code, a second close, or no answer in time.
   */
  override async close(statusCode = 1000, reason = "", timeout?: number): Promise<void> {
    // A close during a reconnect makes no further attempt, and closes the new connection if
    // one is being opened; with none left, there is nothing to close.
    if (this.#mustWait && isValidCloseCode(statusCode)) {
      this.#abandoned = true;
      this.#wakeRetry?.();
      const reconnected = await this.#reconnecting!.then(
        () => true,
        () => false,
      );
      if (!reconnected) return;
    }
    const closing = super.close(statusCode, reason, timeout);
    // Only a close that went out stops reconnecting: a refused one (invalid code, reason or timeout) leaves the client as it was.
    if (!this.#connection.isOpen) this.#closedByClient = true;
    return closing;
  }

  /**
   * Resolves once the connection is over for good (after the last retry, if any) with its
   * close code and reason; never rejects. A `for await` loop that ended can read it.
   */
  get closed(): Promise<ClientClosure> {
    return this.#closed;
  }

  /** The next message, text or binary, as it came. */
  #next(): Promise<string | Buffer> {
    return this.#inbox.take(this.#config.readTimeout, this.#inReconnectHook);
  }

  /**
   * The next message, which must be text. Rejects with `PayloadBindingError` on a binary
   * message (consumed), `ReadTimedOutError` after `readTimeout` seconds, `ConnectionClosureError`
   * when a close frame comes first, `ConnectionError` when the connection is lost without one.
   */
  async readTextMessage(): Promise<string> {
    const message = await this.#next();
    if (typeof message !== "string") throw new PayloadBindingError("data binding failed: expected a text message, got a binary one");
    return message;
  }

  /** The next message, which must be binary; rejects as `readTextMessage` does, on a text message with `PayloadBindingError`. */
  async readBinaryMessage(): Promise<Uint8Array> {
    const message = await this.#next();
    if (typeof message === "string") throw new PayloadBindingError("data binding failed: expected a binary message, got a text one");
    return message;
  }

  /**
   * The next message bound as SPEC §5 says: "text", "binary", "json" [the default], "xml",
   * or a Standard Schema (validated unless `validation` is false). A message that does not
   * bind is consumed, and the read rejects with PayloadBindingError or PayloadValidationError.
   */
  async readMessage<const B extends Binding = "json">(binding?: B): Promise<BoundMessage<B>> {
    const message = await this.#next();
    return (await decodeMessage(binding ?? "json", message, this.#config.validation)) as BoundMessage<B>;
  }

  /**
   * Each message in order, text as strings and binary as bytes, until a close frame (then
   * `closed` says which). Each wait is bounded by readTimeout (ReadTimedOutError).
   */
  async *[Symbol.asyncIterator](): AsyncIterator<string | Uint8Array> {
    for (;;) {
      if (this.#inbox.drainedAfterClose) return;
      try {
        yield await this.#next();
      } catch (error) {
        if (this.#inbox.drainedAfterClose) return;
        throw error;
      }
    }
  }

  /** The handshake's HTTP response. */
  getHttpResponse(): HttpResponse {
    return this.#handshake.response;
  }

  /** The sub-protocol the server chose from `subProtocols`; undefined when none was. */
  getNegotiatedSubProtocol(): string | undefined {
    return this.#handshake.subProtocol;
  }
}
