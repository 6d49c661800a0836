import { isValidCloseCode } from "./protocol/close-codes.ts";

const brand: unique symbol = Symbol("ferry.CloseFrame");

/**
 * A close frame to return from a handler (or a stream) to close the connection. Branded:
 * only `closeFrame()` and the constants below make one, so that no plain `{ status }` object
 * a service returns is mistaken for it.
 */
export class CloseFrame {
  declare private readonly [brand]: true;
  readonly status: number;
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

  static create(status: number, reason?: string): CloseFrame {
    return new CloseFrame(status, reason);
  }
}

export function closeFrame(status: number, reason?: string): CloseFrame {
  return CloseFrame.create(status, reason);
}

/** @internal */
export function isCloseFrame(value: unknown): value is CloseFrame {
  return value instanceof CloseFrame;
}

export const NORMAL_CLOSURE = closeFrame(1000);
export const GOING_AWAY = closeFrame(1001);
export const PROTOCOL_ERROR = closeFrame(1002);
export const UNSUPPORTED_DATA = closeFrame(1003);
export const INVALID_PAYLOAD = closeFrame(1007);
export const POLICY_VIOLATION = closeFrame(1008);
export const MESSAGE_TOO_BIG = closeFrame(1009);
export const INTERNAL_SERVER_ERROR = closeFrame(1011);
