/**
 * ferry's error classes (SPEC §11). Every error has a stable `code` that callers can switch
 * on, a message a person can act on, and where one applies the WebSocket close code or HTTP
 * status that went with it.
 */

/**
 * The `code` of every ferry error, one per class. `switch (error.code)` on a
 * {@link WebSocketError} narrows to these; a subclass's `code` is its own literal
 * (`SslError.code` is `"ERR_SSL"`), and a class with subclasses has its own code or theirs.
 */
export type WebSocketErrorCode =
  | "ERR_WEBSOCKET"
  | "ERR_INVALID_HANDSHAKE"
  | "ERR_PAYLOAD_TOO_LARGE"
  | "ERR_CORRUPTED_FRAME"
  | "ERR_INVALID_CONTINUATION_FRAME"
  | "ERR_CONNECTION"
  | "ERR_CONNECTION_CLOSURE"
  | "ERR_UPGRADE"
  | "ERR_HANDSHAKE_TIMED_OUT"
  | "ERR_READ_TIMED_OUT"
  | "ERR_WRITE_TIMED_OUT"
  | "ERR_AUTH"
  | "ERR_AUTHN"
  | "ERR_AUTHZ"
  | "ERR_SSL"
  | "ERR_PAYLOAD_BINDING"
  | "ERR_PAYLOAD_VALIDATION";

/** Options of the {@link WebSocketError} constructor and most of its subclasses. */
export interface WebSocketErrorOptions {
  /** What caused this error (an I/O error, a schema's issues, a handler's throw), kept as `error.cause`. */
  cause?: unknown;
  /** The WebSocket close code sent or received with this error, if any. */
  closeCode?: number;
  /** The HTTP status of an upgrade response, if any. */
  status?: number;
}

/**
 * The base of every error ferry throws, rejects with or passes to `onError` (the original's
 * `websocket:Error`). A handler's throw that is not an `Error` reaches `onError` wrapped in
 * one, with the thrown value as `cause`.
 */
export class WebSocketError extends Error {
  /** Stable, machine-readable identifier of the error class: switch on it rather than on `name` or the message. */
  readonly code: WebSocketErrorCode = "ERR_WEBSOCKET";
  /** The WebSocket close code sent or received with this error (1002, 1009, …); undefined when none applies. */
  readonly closeCode: number | undefined;
  /** The HTTP status that went with this error (a refused upgrade's, or the one sent); undefined when none applies. */
  readonly status: number | undefined;

  /**
   * @param message - What went wrong, for a person to act on.
   * @param options - The cause, close code and HTTP status to keep with it.
   */
  constructor(message: string, options: WebSocketErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.closeCode = options.closeCode;
    this.status = options.status;
  }
}

/**
 * The client's opening handshake failed: the server answered other than 101 (`status` is its
 * status, `body` the start of its body), or its 101 was wrong (a bad `Sec-WebSocket-Accept`,
 * a sub-protocol or extension the client did not offer).
 */
export class InvalidHandshakeError extends WebSocketError {
  /** Always `"ERR_INVALID_HANDSHAKE"`. */
  override readonly code = "ERR_INVALID_HANDSHAKE";
  /** The body of a non-101 answer, when the server sent one. */
  readonly body: string | undefined;

  /**
   * @param message - What was wrong with the answer.
   * @param options - As for {@link WebSocketError}, plus the `body` of a non-101 answer.
   */
  constructor(message: string, options: WebSocketErrorOptions & { body?: string } = {}) {
    super(message, options);
    this.body = options.body;
  }
}

/**
 * A frame over `maxFrameSize` or a message over `maxMessageSize` (inflated bytes counted as
 * they inflate) came in: the connection closes with 1009, its default `closeCode`.
 */
export class PayloadTooLargeError extends WebSocketError {
  /** Always `"ERR_PAYLOAD_TOO_LARGE"`. */
  override readonly code = "ERR_PAYLOAD_TOO_LARGE";

  /**
   * @param message - Which limit was passed, and by how much.
   * @param options - As for {@link WebSocketError}; `closeCode` defaults to 1009.
   */
  constructor(message: string, options: WebSocketErrorOptions = {}) {
    super(message, { closeCode: 1009, ...options });
  }
}

/**
 * The peer broke RFC 6455: a malformed frame (close 1002) or text that is not UTF-8 (close
 * 1007). Also rejects a `ping`/`pong` of more than 125 bytes before anything is sent.
 */
export class CorruptedFrameError extends WebSocketError {
  /** `"ERR_CORRUPTED_FRAME"`, or its subclass's code. */
  override readonly code: "ERR_CORRUPTED_FRAME" | "ERR_INVALID_CONTINUATION_FRAME" = "ERR_CORRUPTED_FRAME";
}

/** A continuation frame with no message to continue, or a new message before the last one ended: close 1002. */
export class InvalidContinuationFrameError extends CorruptedFrameError {
  /** Always `"ERR_INVALID_CONTINUATION_FRAME"`. */
  override readonly code = "ERR_INVALID_CONTINUATION_FRAME";
}

/**
 * The client cannot reach the server (refused, reset, a bad URL, retries given up), or the
 * connection was lost without a close frame (`closeCode` 1006).
 */
export class ConnectionError extends WebSocketError {
  /** `"ERR_CONNECTION"`, or its subclass's code. */
  override readonly code: "ERR_CONNECTION" | "ERR_CONNECTION_CLOSURE" = "ERR_CONNECTION";
}

/**
 * The close handshake got in the way: a write or read after the connection closed, a read
 * interrupted by the peer's close frame (`closeCode` is its code), a `close()` with an invalid
 * status code, a second `close()`, or no close frame back within the close timeout.
 */
export class ConnectionClosureError extends ConnectionError {
  /** Always `"ERR_CONNECTION_CLOSURE"`. */
  override readonly code = "ERR_CONNECTION_CLOSURE";
}

/** Options of the {@link UpgradeError} constructor. */
export interface UpgradeErrorOptions {
  /** HTTP status of the refusal: used when it is 400–599, else 400. [400] */
  status?: number;
  /** Headers added to the refusal (`WWW-Authenticate`, `Retry-After`, …). */
  headers?: Record<string, string>;
  /** What caused the refusal, kept as `error.cause` (never sent to the client). */
  cause?: unknown;
}

/**
 * Refuses an upgrade: thrown or returned from `upgrade()`, it answers with its `status`, its
 * `headers`, and its message as the body.
 */
export class UpgradeError extends WebSocketError {
  /** Always `"ERR_UPGRADE"`. */
  override readonly code = "ERR_UPGRADE";
  /** Headers sent with the refusal. */
  readonly headers: Record<string, string>;

  /**
   * @param message - The body of the refusal: the client sees it.
   * @param options - Status (400–599, else 400), headers and cause.
   */
  constructor(message: string, options: UpgradeErrorOptions = {}) {
    const status = options.status !== undefined && options.status >= 400 && options.status <= 599 ? options.status : 400;
    super(message, { status, cause: options.cause });
    this.headers = options.headers ?? {};
  }
}

/** The client's opening handshake took longer than `handShakeTimeout` seconds; the socket is closed. */
export class HandshakeTimedOutError extends WebSocketError {
  /** Always `"ERR_HANDSHAKE_TIMED_OUT"`. */
  override readonly code = "ERR_HANDSHAKE_TIMED_OUT";
}

/** No message came within the client's `readTimeout` seconds; the connection stays usable. */
export class ReadTimedOutError extends WebSocketError {
  /** Always `"ERR_READ_TIMED_OUT"`. */
  override readonly code = "ERR_READ_TIMED_OUT";
}

/** A write waited longer than the client's `writeTimeout` seconds for room in the send queue. */
export class WriteTimedOutError extends WebSocketError {
  /** Always `"ERR_WRITE_TIMED_OUT"`. */
  override readonly code = "ERR_WRITE_TIMED_OUT";
}

/** The client could not obtain or present its credentials (SPEC §9.3). */
export class AuthError extends WebSocketError {
  /** Always `"ERR_AUTH"`. */
  override readonly code = "ERR_AUTH";
}

/** Authentication failed on the upgrade: thrown or returned from `upgrade()`, it answers 401. */
export class AuthnError extends WebSocketError {
  /** Always `"ERR_AUTHN"`. */
  override readonly code = "ERR_AUTHN";

  /**
   * @param message - The body of the 401. ["Unauthorized"]
   * @param options - As for {@link WebSocketError}; `status` defaults to 401.
   */
  constructor(message = "Unauthorized", options: WebSocketErrorOptions = {}) {
    super(message, { status: 401, ...options });
  }
}

/** Authenticated but not allowed: thrown or returned from `upgrade()`, it answers 403. */
export class AuthzError extends WebSocketError {
  /** Always `"ERR_AUTHZ"`. */
  override readonly code = "ERR_AUTHZ";

  /**
   * @param message - The body of the 403. ["Forbidden"]
   * @param options - As for {@link WebSocketError}; `status` defaults to 403.
   */
  constructor(message = "Forbidden", options: WebSocketErrorOptions = {}) {
    super(message, { status: 403, ...options });
  }
}

/**
 * TLS failed: the handshake with the server (an untrusted or misnamed certificate), or TLS
 * material that cannot be read or decrypted, which throws at construction.
 */
export class SslError extends WebSocketError {
  /** Always `"ERR_SSL"`. */
  override readonly code = "ERR_SSL";
}

/**
 * A message did not bind to what its handler or `readMessage` asked for (SPEC §5): not JSON,
 * not XML, not UTF-8, or text where bytes were wanted. The message is consumed.
 */
export class PayloadBindingError extends WebSocketError {
  /** `"ERR_PAYLOAD_BINDING"`, or its subclass's code. */
  override readonly code: "ERR_PAYLOAD_BINDING" | "ERR_PAYLOAD_VALIDATION" = "ERR_PAYLOAD_BINDING";
}

/** A message bound but its schema refused it; `cause` holds the schema's issues. */
export class PayloadValidationError extends PayloadBindingError {
  /** Always `"ERR_PAYLOAD_VALIDATION"`. */
  override readonly code = "ERR_PAYLOAD_VALIDATION";
}
