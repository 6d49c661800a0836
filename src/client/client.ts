import type { Binding, BoundMessage } from "../binding/bind.ts";
import { decodeMessage } from "../binding/decode.ts";
import { Connection, type ConnectionHandler } from "../connection/connection.ts";
import { PeerHandle } from "../connection/peer-handle.ts";
import { outgoingKind, OUT_BINARY, toBytes } from "../connection/outgoing.ts";
import { withOwnReads } from "../connection/own-reads.ts";
import { ConnectionClosureError, ConnectionError, PayloadBindingError, WebSocketError } from "../errors.ts";
import { ABNORMAL_CLOSURE } from "../protocol/close-codes.ts";
import { OP_PONG } from "../protocol/opcodes.ts";
import { type ClientConfiguration, type ResolvedClientConfiguration, resolveClientConfiguration } from "./client-configuration.ts";
import { MessageInbox } from "./message-inbox.ts";
import { type Handshake, type HttpResponse, openingHandshake, parseWebSocketUrl } from "./opening-handshake.ts";
import { mayRetry, retryDelay } from "./retry-policy.ts";

/** Seconds `close()` waits for the server's close frame by default. */
const DEFAULT_CLOSE_TIMEOUT = 60;

function sleep(seconds: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, seconds * 1000));
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
  #userClosed = false;
  #reconnecting: Promise<void> | undefined;
  #protocolError: WebSocketError | undefined;

  private constructor(url: URL, config: ResolvedClientConfiguration) {
    super();
    this.#url = url;
    this.#config = config;
    this.#inbox = new MessageInbox(config.maxQueuedBytes);
  }

  /** Opens a connection to a `ws:` or `wss:` URL, retrying on I/O errors per `retryConfig`. */
  static async connect(url: string | URL, config: ClientConfiguration = {}): Promise<Client> {
    const client = new Client(parseWebSocketUrl(url), resolveClientConfiguration(config));
    await client.#establish();
    return client;
  }

  protected get connection(): Connection {
    return this.#connection;
  }

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
        await sleep(retryDelay(retry, attempt));
      }
    }
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
      ping:
        onPing === undefined
          ? undefined
          : async (data) => {
              const answer = await onPing.call(handlers, this, data);
              if (outgoingKind(answer) === OUT_BINARY && connection.isOpen) connection.sendControl(OP_PONG, toBytes(answer as Uint8Array));
            },
      pong: (data) => handlers?.onPong?.call(handlers, this, data),
      idle: () => undefined,
      error: (error) => {
        this.#protocolError = error;
      },
      closed: (code, reason) => {
        if (connection !== this.#connection) return;
        if (code === ABNORMAL_CLOSURE && this.#config.retry !== undefined && !this.#userClosed) {
          this.#reconnect();
        } else if (this.#protocolError !== undefined || code === ABNORMAL_CLOSURE) {
          this.#inbox.fail(this.#protocolError, code);
        } else {
          this.#inbox.closeFrame(code, reason);
        }
      },
    };
  }

  #reconnect(): Promise<void> {
    this.#reconnecting ??= this.#establish().then(
      () => {
        this.#reconnecting = undefined;
      },
      (error: unknown) => {
        this.#reconnecting = undefined;
        this.#inbox.fail(error instanceof WebSocketError ? error : undefined, ABNORMAL_CLOSURE);
      },
    );
    return this.#reconnecting;
  }

  /** Writes wait for a reconnect under way, and are sent again when the connection was lost under them. */
  protected override get writeTimeout(): number {
    return this.#config.writeTimeout;
  }

  protected override sendData(opcode: number, payload: string | Uint8Array): Promise<void> {
    return this.#config.retry === undefined ? super.sendData(opcode, payload) : this.#sendWithRetry(opcode, payload);
  }

  async #sendWithRetry(opcode: number, payload: string | Uint8Array): Promise<void> {
    for (;;) {
      if (this.#reconnecting !== undefined) await this.#reconnecting;
      const connection = this.#connection;
      try {
        await connection.send(opcode, payload, this.#config.writeTimeout);
        return;
      } catch (error) {
        await this.#reconnectAfter(error, connection);
      }
    }
  }

  /** Rethrows unless the write met a lost connection that retryConfig lets us replace. */
  async #reconnectAfter(error: unknown, connection: Connection): Promise<void> {
    const lost = error instanceof ConnectionClosureError && connection.lostAbnormally;
    if (!lost || this.#config.retry === undefined || this.#userClosed || this.#inbox.ended) throw error;
    if (connection === this.#connection) await this.#reconnect();
  }

  override async close(statusCode = 1000, reason = "", timeout?: number): Promise<void> {
    // A close during a reconnect closes the new connection, not the one already lost.
    if (this.#reconnecting !== undefined) await this.#reconnecting;
    const closing = super.close(statusCode, reason, timeout);
    // Only a close that went out stops reconnecting: a refused one (invalid code, reason or timeout) leaves the client as it was.
    if (!this.#connection.isOpen) this.#userClosed = true;
    return closing;
  }

  /** The next message, text or binary, as it came. */
  #next(): Promise<string | Buffer> {
    return this.#inbox.take(this.#config.readTimeout);
  }

  async readTextMessage(): Promise<string> {
    const message = await this.#next();
    if (typeof message !== "string") throw new PayloadBindingError("data binding failed: expected a text message, got a binary one");
    return message;
  }

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

  /** Each message in order, text as strings and binary as bytes, until a close frame. */
  async *[Symbol.asyncIterator](): AsyncIterator<string | Uint8Array> {
    for (;;) {
      if (this.#inbox.drainedAfterClose) return;
      try {
        yield await this.#inbox.take(-1);
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

  getNegotiatedSubProtocol(): string | undefined {
    return this.#handshake.subProtocol;
  }
}
