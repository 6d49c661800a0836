/**
 * Type-level tests of the error codes, checked by `npm run typecheck`: each class's `code` is
 * a literal, so `switch (error.code)` narrows. If a code widens back to `string`, the lines
 * marked @ts-expect-error stop being errors and the check fails.
 */
import {
  ConnectionClosureError,
  ConnectionError,
  CorruptedFrameError,
  InvalidContinuationFrameError,
  PayloadBindingError,
  PayloadValidationError,
  SslError,
  WebSocketError,
  type WebSocketErrorCode,
} from "../../src/index.ts";

export function describeError(error: WebSocketError): string {
  const code: WebSocketErrorCode = error.code;
  switch (code) {
    case "ERR_SSL":
      return "check the certificates";
    case "ERR_READ_TIMED_OUT":
      return "read again";
    // @ts-expect-error no ferry error has this code
    case "ERR_SLL":
      return "a typo";
    default:
      return code;
  }
}

/** Every code handled: the `never` in the default branch fails to compile when a code is missing. */
export function exhaustive(code: WebSocketErrorCode): number {
  switch (code) {
    case "ERR_WEBSOCKET":
    case "ERR_INVALID_HANDSHAKE":
    case "ERR_PAYLOAD_TOO_LARGE":
    case "ERR_CORRUPTED_FRAME":
    case "ERR_INVALID_CONTINUATION_FRAME":
    case "ERR_CONNECTION":
    case "ERR_CONNECTION_CLOSURE":
    case "ERR_UPGRADE":
    case "ERR_HANDSHAKE_TIMED_OUT":
    case "ERR_READ_TIMED_OUT":
    case "ERR_WRITE_TIMED_OUT":
    case "ERR_AUTH":
    case "ERR_AUTHN":
    case "ERR_AUTHZ":
    case "ERR_SSL":
    case "ERR_PAYLOAD_BINDING":
    case "ERR_PAYLOAD_VALIDATION":
      return 1;
    default: {
      const missing: never = code;
      return missing;
    }
  }
}

export function literals(): void {
  const ssl: "ERR_SSL" = new SslError("x").code;
  // @ts-expect-error an SslError's code is ERR_SSL, nothing else
  const notSsl: "ERR_AUTH" = new SslError("x").code;
  const continuation: "ERR_INVALID_CONTINUATION_FRAME" = new InvalidContinuationFrameError("x").code;
  const closure: "ERR_CONNECTION_CLOSURE" = new ConnectionClosureError("x").code;
  const validation: "ERR_PAYLOAD_VALIDATION" = new PayloadValidationError("x").code;
  void [ssl, notSsl, continuation, closure, validation];
}

/** A base class's code covers its subclasses' codes, and nothing wider. */
export function subclasses(corrupted: CorruptedFrameError, connection: ConnectionError, binding: PayloadBindingError): void {
  const frame: "ERR_CORRUPTED_FRAME" | "ERR_INVALID_CONTINUATION_FRAME" = corrupted.code;
  // @ts-expect-error a CorruptedFrameError may be an InvalidContinuationFrameError
  const onlyCorrupted: "ERR_CORRUPTED_FRAME" = corrupted.code;
  const io: "ERR_CONNECTION" | "ERR_CONNECTION_CLOSURE" = connection.code;
  const bound: "ERR_PAYLOAD_BINDING" | "ERR_PAYLOAD_VALIDATION" = binding.code;
  // @ts-expect-error a ConnectionError is never a binding failure
  const wrong: "ERR_PAYLOAD_BINDING" = connection.code;
  void [frame, onlyCorrupted, io, bound, wrong];
}
