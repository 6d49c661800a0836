import { isValidCloseCode } from "./protocol/close-codes.ts";

const brand: unique symbol = Symbol("ferry.CloseFrame");

/**
 * A close frame to return from a handler (or a stream) to close the connection. Branded:
 * only `closeFrame()` and the constants below make one, so that no plain `{ status }` object
 * a service returns is mistaken for it.
 */
export class CloseFrame {
  declare private readonly [brand]: true;
  /** The close code (1000–1003, 1007–1014, 3000–4999 may be sent). */
  readonly status: number;
  /** The reason sent with the code; undefined for none. A close frame carries at most 123 bytes of it (UTF-8). */
  readonly reason: string | undefined;

  private constructor(status: number, reason: string | undefined) {
    this.status = status;
    this.reason = reason;
    Object.freeze(this);
  }

  /** Whether the status may be sent on the wire (RFC 6455 §7.4). */
  get valid(): boolean {
    return isValidCloseCode(this.status);
  }

  /** The same as {@link closeFrame}. */
  static create(status: number, reason?: string): CloseFrame {
    return new CloseFrame(status, reason);
  }
}

/**
 * A close frame with any code, to return from a handler: `return closeFrame(4000, "bye")`.
 * Nothing is checked here: a frame whose code may not be sent (see `valid`) drops TCP without
 * a close frame (the peer sees 1006), and ferry logs it.
 */
export function closeFrame(status: number, reason?: string): CloseFrame {
  return CloseFrame.create(status, reason);
}

/** @internal */
export function isCloseFrame(value: unknown): value is CloseFrame {
  return value instanceof CloseFrame;
}

/** 1000: the purpose of the connection is fulfilled. */
export const NORMAL_CLOSURE = closeFrame(1000);
/** 1001: the endpoint is going away (a server shutting down, a page navigating away). */
export const GOING_AWAY = closeFrame(1001);
/** 1002: the peer broke the protocol. */
export const PROTOCOL_ERROR = closeFrame(1002);
/** 1003: a kind of data the endpoint cannot accept (binary where only text is understood). */
export const UNSUPPORTED_DATA = closeFrame(1003);
/** 1007: a message's data does not match its type (text that is not UTF-8, say). */
export const INVALID_PAYLOAD = closeFrame(1007);
/** 1008: a message broke the endpoint's policy, when no other code fits. */
export const POLICY_VIOLATION = closeFrame(1008);
/** 1009: a message too big to process. */
export const MESSAGE_TOO_BIG = closeFrame(1009);
/** 1011: the server met a condition that kept it from fulfilling the request. */
export const INTERNAL_SERVER_ERROR = closeFrame(1011);
