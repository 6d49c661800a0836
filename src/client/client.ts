import { AsyncLocalStorage } from "node:async_hooks";
import type { Binding, BoundMessage } from "../binding/bind.ts";
import { decodeMessage } from "../binding/decode.ts";
import { Connection, type ConnectionHandler } from "../connection/connection.ts";
import { PeerHandle } from "../peer/peer-handle.ts";
import { withOwnReads } from "../connection/own-reads.ts";
import { ConnectionClosureError, ConnectionError, PayloadBindingError, WebSocketError } from "../errors.ts";
import { ABNORMAL_CLOSURE, isValidCloseCode } from "../protocol/close-codes.ts";
import { type ClientConfiguration, type ResolvedClientConfiguration, resolveClientConfiguration } from "./client-configuration.ts";
import { type InboxFeed, MessageInbox } from "./message-inbox.ts";
import { type Handshake, type HttpResponse, openingHandshake, parseWebSocketUrl } from "./opening-handshake.ts";
import { answerPing, callOnPong } from "./ping-pong-hooks.ts";
import { abortableSleep, mayRetry, retryDelay } from "./retry-policy.ts";

/** Seconds `close()` waits for the server's close frame by default. */
const DEFAULT_CLOSE_TIMEOUT = 60;

/**
 * Seconds a connection must stay open, at least, before the retry count starts afresh: with
 * a shorter bar, a server that accepts and closes at once would be reconnected to forever.
 */
const MIN_PROVEN_SECONDS = 1;

/** Marks the calls onReconnect makes, whatever they await, apart from those other code makes meanwhile. */
const reconnectHookCalls = new AsyncLocalStorage<object>();

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
  /** Where the connection's messages go in the inbox. */
  #feed!: InboxFeed;
  #handshake!: Handshake;
  /** When the connection was opened (Date.now()): one that stays long enough resets the retry count. */
  #connectedAt = 0;
  /** Retries since the last connection that stayed open long enough: one count across reconnects, so maxCount holds. */
  #retries = 0;
  /** The user closed, or onReconnect failed: no more reconnects. */
  #closedByClient = false;
  /** Aborted by a close() during a reconnect: the wait or the handshake under way stops, and no attempt follows. */
  readonly #abandon = new AbortController();
  /** A reconnect and its onReconnect; rejects with the error that ended the client. */
  #reconnecting: Promise<void> | undefined;
  /** Identifies the calls of the onReconnect that runs now (undefined when none does). */
  #hookRun: object | undefined;
  /** The connection was lost again while onReconnect ran. */
  #reconnectAgain = false;
  #protocolError: WebSocketError | undefined;
  #lastClosure: ClientClosure = { code: ABNORMAL_CLOSURE, reason: "" };
  /** The client is over for good: `closed` has resolved. */
  #over = false;
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
    await client.#establish(undefined);
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

  /**
   * Handshakes, with retries on I/O errors, each after its delay, up to maxCount retries since
   * the last connection that proved itself. `lost`: why the connection being replaced ended;
   * undefined for the first connect, whose first attempt goes at once.
   */
  async #establish(lost: Error | undefined): Promise<void> {
    const retry = this.#config.retry;
    let failure: unknown = lost;
    if (lost === undefined) {
      try {
        this.#attach(await openingHandshake(this.#url, this.#config));
        return;
      } catch (error) {
        if (retry === undefined || !(error instanceof ConnectionError)) throw error;
        failure = error;
      }
    }
    const signal = this.#abandon.signal;
    for (;;) {
      if (!mayRetry(retry!, this.#retries)) {
        throw new ConnectionError(`Cannot connect to ${this.#url.href}: gave up after ${this.#retries} retries`, { cause: failure });
      }
      await abortableSleep(retryDelay(retry!, this.#retries), signal);
      if (signal.aborted) throw this.#abandonedError(failure);
      this.#retries++;
      try {
        this.#attach(await openingHandshake(this.#url, this.#config, signal));
        return;
      } catch (error) {
        if (signal.aborted) throw this.#abandonedError(error);
        if (!(error instanceof ConnectionError)) throw error;
        failure = error;
      }
    }
  }

  #abandonedError(cause: unknown): ConnectionClosureError {
    return new ConnectionClosureError("Connection closed by the client while reconnecting", { cause });
  }

  #attach(handshake: Handshake): void {
    const config = this.#config;
    this.#handshake = handshake;
    this.#protocolError = undefined;
    this.#connectedAt = Date.now();
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
    const feed = this.#inbox.open();
    this.#connection = connection;
    this.#feed = feed;
    connection.start(this.#handlerFor(connection, feed), reading.head);
  }

  #handlerFor(connection: Connection, feed: InboxFeed): ConnectionHandler {
    const handlers = this.#config.pingPongHandler;
    const current = (): boolean => connection === this.#connection;
    return {
      open: () => undefined,
      message: (data) => this.#inbox.push(feed, data),
      ping: handlers?.onPing === undefined ? undefined : (data) => answerPing(handlers, this, connection, current, data),
      pong: handlers?.onPong === undefined ? () => undefined : (data) => callOnPong(handlers, this, data),
      idle: () => undefined,
      error: (error) => {
        // A connection already replaced hands over its last events late: they are not the new one's.
        if (connection === this.#connection) this.#protocolError = error;
      },
      closed: (code, reason) => {
        this.#inbox.finish(feed);
        if (connection !== this.#connection || this.#over) return;
        this.#lastClosure = { code, reason };
        // A write that met this closure has started the reconnect already, and decided.
        if (this.#reconnecting !== undefined && this.#hookRun === undefined) return;
        if (this.#reconnectsAfter(code)) {
          // The hook's own connection going starts another round.
          if (this.#hookRun !== undefined) this.#lostDuringReconnectHook();
          else void this.#reconnect();
          return;
        }
        if (this.#protocolError !== undefined || code === ABNORMAL_CLOSURE) this.#inbox.fail(this.#protocolError, code);
        else this.#inbox.closeFrame(code, reason);
        this.#finish();
      },
    };
  }

  /** The client is over for good. */
  #finish(): void {
    this.#over = true;
    this.#settleClosed(this.#lastClosure);
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
        const { interval } = this.#config.retry!;
        if (Date.now() - this.#connectedAt >= Math.max(interval, MIN_PROVEN_SECONDS) * 1000) this.#retries = 0;
        try {
          await this.#establish(this.#describeClosure());
        } catch (error) {
          this.#inbox.fail(error instanceof Error ? error : undefined, ABNORMAL_CLOSURE);
          this.#finish();
          throw error;
        }
        // After a close(), the new connection is only closed.
        if (onReconnect !== undefined && !this.#abandon.signal.aborted) await this.#runReconnectHook(onReconnect);
      } while (this.#reconnectAgain && !this.#abandon.signal.aborted);
      if (this.#reconnectAgain) {
        // A close() while onReconnect ran, and its connection was lost meanwhile: nothing is left to close.
        this.#inbox.fail(this.#abandonedError(undefined), ABNORMAL_CLOSURE);
        this.#finish();
      }
    } finally {
      this.#inbox.release();
    }
  }

  /** Why the connection a reconnect replaces ended, as the cause of giving up. */
  #describeClosure(): Error {
    const { code, reason } = this.#lastClosure;
    return code === ABNORMAL_CLOSURE
      ? new ConnectionError(`Connection lost without a close frame: Status code: ${code}`, { closeCode: code })
      : new ConnectionClosureError(`${reason}: Status code: ${code}`, { closeCode: code });
  }

  async #runReconnectHook(onReconnect: (client: Client) => unknown): Promise<void> {
    const run = {};
    this.#hookRun = run;
    try {
      await reconnectHookCalls.run(run, () => onReconnect(this));
    } catch (thrown) {
      // A hook that failed because its connection was lost is run again on the next one; one
      // that failed because of a close() is over.
      if (this.#reconnectAgain || this.#abandon.signal.aborted) return;
      const error = thrown instanceof Error ? thrown : new WebSocketError(`onReconnect failed: ${String(thrown)}`, { cause: thrown });
      this.#closedByClient = true;
      this.#inbox.fail(error, ABNORMAL_CLOSURE);
      const connection = this.#connection;
      // The closed handler reports how this connection ends.
      if (connection.isOpen) connection.close(1011, "onReconnect failed", DEFAULT_CLOSE_TIMEOUT).catch(() => undefined);
      else this.#finish();
      throw error;
    } finally {
      this.#hookRun = undefined;
    }
  }

  /** Whether the running onReconnect made the call under way (it goes ahead of those that were waiting). */
  get #calledByHook(): boolean {
    return this.#hookRun !== undefined && reconnectHookCalls.getStore() === this.#hookRun;
  }

  /** The connection onReconnect works on was lost: its reads fail at once, and a new round follows. */
  #lostDuringReconnectHook(): void {
    this.#reconnectAgain = true;
    this.#inbox.failPriority(new ConnectionError("Connection lost while onReconnect ran: Status code: 1006", { closeCode: ABNORMAL_CLOSURE }));
  }

  /** Whether a read or write must wait for the reconnect under way (not when onReconnect makes it). */
  get #mustWait(): boolean {
    return this.#reconnecting !== undefined && !this.#calledByHook;
  }

  /** Waits for the reconnect under way, or for a close() that stops it (onReconnect may never end). */
  #reconnected(): Promise<void> {
    const signal = this.#abandon.signal;
    if (signal.aborted) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const abandoned = (): void => resolve();
      signal.addEventListener("abort", abandoned, { once: true });
      this.#reconnecting!.then(resolve, reject).finally(() => signal.removeEventListener("abort", abandoned));
    });
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
      if (this.#mustWait) {
        await this.#reconnected();
        if (this.#abandon.signal.aborted) throw this.#abandonedError(undefined);
      }
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
    if (this.#calledByHook) throw error;
    if (connection !== this.#connection) return;
    if (connection.lostAbnormally) {
      await this.#reconnectBeforeClosed(ABNORMAL_CLOSURE);
      return;
    }
    if (this.#inbox.isWaiting(this.#feed)) {
      // The closed handler waits behind unread messages, and a socket that stopped reading may not
      // see TCP close before the close timeout: the close code the write met decides.
      const code = error.closeCode;
      if (code === undefined || !this.#config.retry.closeCodes.includes(code)) throw error;
      await this.#reconnectBeforeClosed(code);
      return;
    }
    // A close frame is under way: once TCP is closed, the closed handler has decided.
    await connection.whenClosed();
    if (this.#reconnecting === undefined && connection === this.#connection) throw error;
  }

  /** A write met the closure first (the closed handler may wait behind unread messages): what `closed` reports is known already. */
  #reconnectBeforeClosed(code: number): Promise<void> {
    if (this.#reconnecting === undefined) this.#lastClosure = { code, reason: "" };
    return this.#reconnect();
  }

  /**
   * Sends a close frame and waits (up to `timeout` seconds [60], -1 forever) for the server's;
   * TCP is closed either way. During a reconnect, no further attempt is made: the connection
   * being opened, if any, is closed; with none, it resolves at once. Rejects with
   * `ConnectionClosureError` for an invalid code, a second close, or no answer in time.
   */
  override async close(statusCode = 1000, reason = "", timeout?: number): Promise<void> {
    // A close during a reconnect stops the wait or the handshake under way; with no connection
    // left, there is nothing to close. One made while onReconnect runs closes its connection at once.
    if (this.#mustWait && isValidCloseCode(statusCode)) {
      this.#abandon.abort();
      if (this.#hookRun === undefined) {
        const reconnected = await this.#reconnecting!.then(
          () => true,
          () => false,
        );
        if (!reconnected) return;
      }
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
    return this.#inbox.take(this.#config.readTimeout, this.#calledByHook);
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
