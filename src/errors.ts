/**
 * ferry's error classes (SPEC §11). Every error has a stable `code` that callers can switch
 * on, a message a person can act on, and where one applies the WebSocket close code or HTTP
 * status that went with it.
 */

export interface WebSocketErrorOptions {
  cause?: unknown;
  /** The WebSocket close code sent or received with this error, if any. */
  closeCode?: number;
  /** The HTTP status of an upgrade response, if any. */
  status?: number;
}

export class WebSocketError extends Error {
  /** Stable, machine-readable identifier of the error class. */
  readonly code: string = "ERR_WEBSOCKET";
  readonly closeCode: number | undefined;
  readonly status: number | undefined;

  constructor(message: string, options: WebSocketErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.closeCode = options.closeCode;
    this.status = options.status;
  }
}

export class InvalidHandshakeError extends WebSocketError {
  override readonly code: string = "ERR_INVALID_HANDSHAKE";
  /** The body of a non-101 answer, when the server sent one. */
  readonly body: string | undefined;
  constructor(message: string, options: WebSocketErrorOptions & { body?: string } = {}) {
    super(message, options);
    this.body = options.body;
  }
}

export class PayloadTooLargeError extends WebSocketError {
  override readonly code: string = "ERR_PAYLOAD_TOO_LARGE";
  constructor(message: string, options: WebSocketErrorOptions = {}) {
    super(message, { closeCode: 1009, ...options });
  }
}

export class CorruptedFrameError extends WebSocketError {
  override readonly code: string = "ERR_CORRUPTED_FRAME";
}

export class InvalidContinuationFrameError extends CorruptedFrameError {
  override readonly code: string = "ERR_INVALID_CONTINUATION_FRAME";
}

export class ConnectionError extends WebSocketError {
  override readonly code: string = "ERR_CONNECTION";
}

export class ConnectionClosureError extends ConnectionError {
  override readonly code: string = "ERR_CONNECTION_CLOSURE";
}

export interface UpgradeErrorOptions {
  /** HTTP status of the refusal: used when it is 400–599, else 400. */
  status?: number;
  headers?: Record<string, string>;
  cause?: unknown;
}

/** Refuses an upgrade: thrown or returned from `upgrade()`. */
export class UpgradeError extends WebSocketError {
  override readonly code: string = "ERR_UPGRADE";
  readonly headers: Record<string, string>;
  constructor(message: string, options: UpgradeErrorOptions = {}) {
    const status = options.status !== undefined && options.status >= 400 && options.status <= 599 ? options.status : 400;
    super(message, { status, cause: options.cause });
    this.headers = options.headers ?? {};
  }
}

export class HandshakeTimedOutError extends WebSocketError {
  override readonly code: string = "ERR_HANDSHAKE_TIMED_OUT";
}

export class ReadTimedOutError extends WebSocketError {
  override readonly code: string = "ERR_READ_TIMED_OUT";
}

export class WriteTimedOutError extends WebSocketError {
  override readonly code: string = "ERR_WRITE_TIMED_OUT";
}

/** The client could not obtain or present its credentials. */
export class AuthError extends WebSocketError {
  override readonly code: string = "ERR_AUTH";
}

/** Authentication failed on the upgrade: 401. */
export class AuthnError extends WebSocketError {
  override readonly code: string = "ERR_AUTHN";
  constructor(message = "Unauthorized", options: WebSocketErrorOptions = {}) {
    super(message, { status: 401, ...options });
  }
}

/** Authenticated but not allowed: 403. */
export class AuthzError extends WebSocketError {
  override readonly code: string = "ERR_AUTHZ";
  constructor(message = "Forbidden", options: WebSocketErrorOptions = {}) {
    super(message, { status: 403, ...options });
  }
}

export class SslError extends WebSocketError {
  override readonly code: string = "ERR_SSL";
}

export class PayloadBindingError extends WebSocketError {
  override readonly code: string = "ERR_PAYLOAD_BINDING";
}

export class PayloadValidationError extends PayloadBindingError {
  override readonly code: string = "ERR_PAYLOAD_VALIDATION";
}
