/**
 * RFC 6455 §7.4 status codes. 1004, 1005, 1006 and 1015 are reserved for reporting and
 * must never travel in a close frame; 1012–1014 are IANA-registered since the RFC.
 */
export function isValidCloseCode(code: number): boolean {
  return (
    Number.isInteger(code) &&
    ((code >= 1000 && code <= 1003) ||
      (code >= 1007 && code <= 1014) ||
      (code >= 3000 && code <= 4999))
  );
}

/** No status code was present in the close frame (never sent on the wire). */
export const NO_STATUS_RECEIVED = 1005;
/** The connection was lost without a close frame (never sent on the wire). */
export const ABNORMAL_CLOSURE = 1006;

/** A close frame holds a 2-byte code and at most 123 bytes of reason. */
export const MAX_CLOSE_REASON_BYTES = 123;
