import { createHash, randomBytes } from "node:crypto";

// RFC 6455 §1.3: the fixed GUID the server appends to the key before hashing.
const ACCEPT_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

export const OPCODE_TEXT = 0x1;
export const OPCODE_BINARY = 0x2;
export const OPCODE_CLOSE = 0x8;

export type FrameKind = "binary" | "text";

/**
 * A complete, masked client frame. Built once per message size and then written as is:
 * re-masking every message would make the generator, not the server, the thing we measure.
 */
export function buildMaskedFrame(opcode: number, payload: Buffer): Buffer {
  const length = payload.length;
  const lengthBytes = length < 126 ? 0 : length <= 0xffff ? 2 : 8;
  const headerSize = 2 + lengthBytes + 4;
  const frame = Buffer.allocUnsafe(headerSize + length);
  frame[0] = 0x80 | opcode;
  if (lengthBytes === 0) {
    frame[1] = 0x80 | length;
  } else if (lengthBytes === 2) {
    frame[1] = 0x80 | 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 0x80 | 127;
    frame.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
    frame.writeUInt32BE(length >>> 0, 6);
  }
  const mask = randomBytes(4);
  mask.copy(frame, 2 + lengthBytes);
  const payloadStart = headerSize;
  for (let i = 0; i < length; i++) {
    frame[payloadStart + i] = payload[i]! ^ mask[i & 3]!;
  }
  return frame;
}

/** ASCII for text frames so the payload is valid UTF-8 without any multi-byte edge cases. */
export function buildPayload(size: number): Buffer {
  const payload = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) payload[i] = 0x61 + (i % 26);
  return payload;
}

export function buildMessageFrame(kind: FrameKind, size: number): Buffer {
  return buildMaskedFrame(kind === "text" ? OPCODE_TEXT : OPCODE_BINARY, buildPayload(size));
}

/** A masked close frame with status 1000 and no reason. */
export function buildCloseFrame(): Buffer {
  const payload = Buffer.alloc(2);
  payload.writeUInt16BE(1000, 0);
  return buildMaskedFrame(OPCODE_CLOSE, payload);
}

export interface HandshakeRequest {
  request: Buffer;
  expectedAccept: string;
}

export function buildHandshakeRequest(host: string, port: number, path = "/"): HandshakeRequest {
  const key = randomBytes(16).toString("base64");
  const request =
    `GET ${path} HTTP/1.1\r\n` +
    `Host: ${host}:${port}\r\n` +
    "Upgrade: websocket\r\n" +
    "Connection: Upgrade\r\n" +
    `Sec-WebSocket-Key: ${key}\r\n` +
    "Sec-WebSocket-Version: 13\r\n" +
    "\r\n";
  return { request: Buffer.from(request, "latin1"), expectedAccept: acceptFor(key) };
}

export function acceptFor(key: string): string {
  return createHash("sha1").update(key + ACCEPT_GUID).digest("base64");
}
