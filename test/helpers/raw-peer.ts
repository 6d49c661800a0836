/**
 * What the raw peers of the tests (test/helpers/raw-ws.ts, test/conformance/raw-client.ts,
 * test/client/raw-server.ts) share: building frames, cutting received bytes into frames as
 * they were on the wire, reading FrameParser's events into objects a test can keep, reading
 * the HTTP head of the opening handshake, and waiting for their state to change.
 */
import type { Socket } from "node:net";
import { EV_BINARY, EV_CLOSE, EV_ERROR, EV_NONE, EV_PING, EV_PONG, EV_TEXT, type FrameParser } from "../../src/protocol/frame-parser.ts";
import { encodeFrame } from "../../src/protocol/frame-writer.ts";
import { nextMaskKey } from "../../src/protocol/mask.ts";

export { FIN } from "../../src/protocol/frame-writer.ts";
export { OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_PONG, OP_TEXT } from "../../src/protocol/opcodes.ts";

export type Payload = Uint8Array | string;

/** The bytes of a payload; a string as UTF-8. */
export function payloadBytes(payload: Payload): Uint8Array {
  return typeof payload === "string" ? Buffer.from(payload, "utf8") : payload;
}

/** One frame as bytes, unmasked unless a key is given; `first` is FIN|RSV|opcode. `payload` is not modified. */
export function frame(first: number, payload: Payload = "", maskKey?: Uint8Array): Buffer {
  return encodeFrame(first, payloadBytes(payload), maskKey);
}

/** One frame masked with a fresh key, as a client must send it. */
export function maskedFrame(first: number, payload: Payload = ""): Buffer {
  return frame(first, payload, nextMaskKey());
}

/** One frame exactly as it came off the wire. */
export interface WireFrame {
  fin: boolean;
  /** RSV1–3 as a 3-bit number (4 = RSV1). */
  rsv: number;
  opcode: number;
  masked: boolean;
  maskKey: Buffer | undefined;
  /** The whole frame, header included. */
  bytes: Buffer;
  /** The payload within `bytes`, still masked if the frame was. */
  payload: Buffer;
}

/**
 * Cuts a byte stream into whole frames by reading only their headers, independently of
 * FrameParser, so that a test sees every frame as sent even where the parser would reject
 * it or merge it into a message.
 */
export class FrameReader {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  /** Keeps a copy of `chunk`: FrameParser unmasks the chunks it is given in place. */
  push(chunk: Uint8Array): void {
    this.pending.push(Buffer.from(chunk));
    this.pendingBytes += chunk.length;
  }

  /** The next whole frame, or undefined until more bytes come. */
  next(): WireFrame | undefined {
    if (this.pendingBytes < 2) return undefined;
    // A header is at most 14 bytes: gather them into one buffer to read it.
    if (this.pending[0]!.length < 14 && this.pending.length > 1) this.pending = [Buffer.concat(this.pending)];
    const head = this.pending[0]!;
    const b0 = head[0]!;
    const b1 = head[1]!;
    const masked = (b1 & 0x80) !== 0;
    const len7 = b1 & 0x7f;
    const extra = len7 === 126 ? 2 : len7 === 127 ? 8 : 0;
    const headerSize = 2 + extra + (masked ? 4 : 0);
    if (head.length < headerSize) return undefined;
    const length = len7 === 126 ? head.readUInt16BE(2) : len7 === 127 ? Number(head.readBigUInt64BE(2)) : len7;
    const total = headerSize + length;
    if (this.pendingBytes < total) return undefined;
    const all = this.pending.length === 1 ? head : Buffer.concat(this.pending);
    const rest = all.subarray(total);
    this.pending = rest.length > 0 ? [rest] : [];
    this.pendingBytes = rest.length;
    return {
      fin: (b0 & 0x80) !== 0,
      rsv: (b0 >> 4) & 7,
      opcode: b0 & 0x0f,
      masked,
      maskKey: masked ? all.subarray(headerSize - 4, headerSize) : undefined,
      bytes: all.subarray(0, total),
      payload: all.subarray(headerSize, total),
    };
  }

  /** Drops the bytes held back for an incomplete frame and says how many there were. */
  discard(): number {
    const dropped = this.pendingBytes;
    this.pending = [];
    this.pendingBytes = 0;
    return dropped;
  }
}

/** A message or control frame as FrameParser reports it, after reassembly of fragments. */
export type ParsedEvent =
  | { type: "text"; text: string }
  | { type: "binary"; data: Buffer }
  | { type: "ping"; data: Buffer }
  | { type: "pong"; data: Buffer }
  | { type: "close"; code: number; reason: string }
  | { type: "error"; message: string; closeCode: number | undefined };

/**
 * The events FrameParser has ready, in order, with their data copied: the parser reuses its
 * buffers on the next call. A consumer that stops early leaves the rest in the parser.
 */
export function* parsedEvents(parser: FrameParser): Generator<ParsedEvent, void, undefined> {
  for (let event = parser.next(); event !== EV_NONE; event = parser.next()) {
    switch (event) {
      case EV_TEXT:
        yield { type: "text", text: parser.text };
        break;
      case EV_BINARY:
        yield { type: "binary", data: Buffer.from(parser.data) };
        break;
      case EV_PING:
        yield { type: "ping", data: Buffer.from(parser.data) };
        break;
      case EV_PONG:
        yield { type: "pong", data: Buffer.from(parser.data) };
        break;
      case EV_CLOSE:
        yield { type: "close", code: parser.closeCode, reason: parser.closeReason };
        break;
      case EV_ERROR:
        yield { type: "error", message: parser.error?.message ?? "unknown error", closeCode: parser.error?.closeCode };
        break;
    }
  }
}

/** Lets callers wait for state that changes only where its owner calls `wake()`. */
export class Waiters {
  private waiting: (() => void)[] = [];

  wake(): void {
    const waiting = this.waiting;
    this.waiting = [];
    for (const resolve of waiting) resolve();
  }

  /** Resolves once `predicate` holds, checked at every wake; throws `timeout()` after `ms`. */
  async until(predicate: () => boolean, ms: number, timeout: () => Error): Promise<void> {
    const deadline = Date.now() + ms;
    while (!predicate()) {
      const left = deadline - Date.now();
      if (left <= 0) throw timeout();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiting.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
}

/** Hands over the HTTP head that comes first on `socket`, and the bytes after it, then stops listening. */
export function onHttpHead(socket: Socket, onHead: (head: string, rest: Buffer) => void): void {
  let buffered = Buffer.alloc(0);
  const onData = (chunk: Buffer): void => {
    buffered = Buffer.concat([buffered, chunk]);
    const end = buffered.indexOf("\r\n\r\n");
    if (end < 0) return;
    socket.off("data", onData);
    onHead(buffered.subarray(0, end).toString("latin1"), buffered.subarray(end + 4));
  };
  socket.on("data", onData);
}
