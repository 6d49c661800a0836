import { applyMask } from "./mask.ts";

/** Bytes needed for a frame header with this payload length. */
export function frameHeaderSize(payloadLength: number, masked: boolean): number {
  const base = payloadLength < 126 ? 2 : payloadLength < 65536 ? 4 : 10;
  return masked ? base + 4 : base;
}

/**
 * Writes a frame header into `target` at `offset` and returns the offset after it.
 * `first` is the first byte (FIN, RSV1–3 and opcode together), so that callers that fragment
 * or compress compute it once.
 */
export function writeFrameHeader(
  target: Uint8Array,
  offset: number,
  first: number,
  payloadLength: number,
  maskKey: Uint8Array | undefined,
): number {
  const maskBit = maskKey === undefined ? 0 : 0x80;
  target[offset++] = first;
  if (payloadLength < 126) {
    target[offset++] = maskBit | payloadLength;
  } else if (payloadLength < 65536) {
    target[offset++] = maskBit | 126;
    target[offset++] = payloadLength >>> 8;
    target[offset++] = payloadLength & 0xff;
  } else {
    target[offset++] = maskBit | 127;
    const high = Math.floor(payloadLength / 0x100000000);
    const low = payloadLength >>> 0;
    target[offset++] = high >>> 24;
    target[offset++] = (high >>> 16) & 0xff;
    target[offset++] = (high >>> 8) & 0xff;
    target[offset++] = high & 0xff;
    target[offset++] = low >>> 24;
    target[offset++] = (low >>> 16) & 0xff;
    target[offset++] = (low >>> 8) & 0xff;
    target[offset++] = low & 0xff;
  }
  if (maskKey !== undefined) {
    target[offset++] = maskKey[0]!;
    target[offset++] = maskKey[1]!;
    target[offset++] = maskKey[2]!;
    target[offset++] = maskKey[3]!;
  }
  return offset;
}

export const FIN = 0x80;
export const RSV1 = 0x40;

/** One frame as a single buffer: for control frames, handshakes in tests and the slow path. */
export function encodeFrame(
  first: number,
  payload: Uint8Array,
  maskKey?: Uint8Array,
): Buffer {
  const headerSize = frameHeaderSize(payload.length, maskKey !== undefined);
  const frame = Buffer.allocUnsafe(headerSize + payload.length);
  writeFrameHeader(frame, 0, first, payload.length, maskKey);
  frame.set(payload, headerSize);
  if (maskKey !== undefined) applyMask(frame, headerSize, frame.length, maskKey);
  return frame;
}

/** The payload of a close frame: the code, then the UTF-8 reason; empty without a code. */
export function encodeClosePayload(code: number | undefined, reason = ""): Buffer {
  if (code === undefined) return Buffer.alloc(0);
  const reasonLength = Buffer.byteLength(reason);
  const payload = Buffer.allocUnsafe(2 + reasonLength);
  payload.writeUInt16BE(code, 0);
  payload.write(reason, 2);
  return payload;
}
