/**
 * Test helpers for the protocol engine: a frame builder written independently of
 * frame-writer.ts (so parser tests do not trust the code they could share a bug with), and
 * a driver that runs a FrameParser over chunks and records what it returned.
 */
import fc from "fast-check";
import {
  EV_BINARY,
  EV_CLOSE,
  EV_ERROR,
  EV_NONE,
  EV_PING,
  EV_PONG,
  EV_TEXT,
  FrameParser,
  type FrameParserOptions,
  type ParserEvent,
} from "../../src/protocol/frame-parser.ts";

export interface RawFrameOptions {
  fin?: boolean;
  /** RSV1..RSV3 as the bits 0x40, 0x20, 0x10 of the first byte. */
  rsv?: number;
  opcode: number;
  payload?: Uint8Array | string;
  /** A masking key, or true for a fixed non-trivial key. */
  mask?: Uint8Array | boolean;
  /** Forces the length encoding: 7-bit, 16-bit or 64-bit. */
  lengthForm?: 7 | 16 | 64;
  /** Overrides the declared length (the payload bytes are still appended as given). */
  declaredLength?: number;
}

export const FIXED_KEY = Uint8Array.of(0x37, 0xfa, 0x21, 0x3d);

/** Builds one frame byte by byte, masking with a plain loop. */
export function rawFrame(options: RawFrameOptions): Buffer {
  const payload = typeof options.payload === "string" ? Buffer.from(options.payload) : Buffer.from(options.payload ?? []);
  const key = options.mask === true ? FIXED_KEY : options.mask === false ? undefined : options.mask;
  const length = options.declaredLength ?? payload.length;
  const form = options.lengthForm ?? (length < 126 ? 7 : length < 65536 ? 16 : 64);
  const bytes: number[] = [];
  bytes.push(((options.fin ?? true) ? 0x80 : 0) | (options.rsv ?? 0) | options.opcode);
  const maskBit = key === undefined ? 0 : 0x80;
  if (form === 7) {
    bytes.push(maskBit | length);
  } else if (form === 16) {
    bytes.push(maskBit | 126, (length >> 8) & 0xff, length & 0xff);
  } else {
    bytes.push(maskBit | 127);
    const big = BigInt(length);
    for (let shift = 56n; shift >= 0n; shift -= 8n) bytes.push(Number((big >> shift) & 0xffn));
  }
  if (key !== undefined) bytes.push(...key);
  const header = Buffer.from(bytes);
  const body = Buffer.from(payload);
  if (key !== undefined) for (let i = 0; i < body.length; i++) body[i] = body[i]! ^ key[i % 4]!;
  return Buffer.concat([header, body]);
}

/** A close payload built by hand: 2-byte code then the reason bytes. */
export function closePayload(code: number, reason: Uint8Array | string = ""): Buffer {
  const head = Buffer.alloc(2);
  head.writeUInt16BE(code, 0);
  return Buffer.concat([head, typeof reason === "string" ? Buffer.from(reason) : Buffer.from(reason)]);
}

export type Recorded =
  | { ev: "text"; text: string }
  | { ev: "binary"; data: number[] }
  | { ev: "ping"; data: number[] }
  | { ev: "pong"; data: number[] }
  | { ev: "close"; code: number; reason: string }
  | { ev: "error"; code: number; error: Error };

const ALL_EVENTS: readonly ParserEvent[] = [EV_NONE, EV_TEXT, EV_BINARY, EV_PING, EV_PONG, EV_CLOSE, EV_ERROR];

/** Pulls events until EV_NONE, copying their data out of the parser. */
export function drain(parser: FrameParser, limit = 100_000): Recorded[] {
  const out: Recorded[] = [];
  for (let i = 0; i < limit; i++) {
    const ev = parser.next();
    if (!ALL_EVENTS.includes(ev)) throw new Error(`unknown event ${String(ev)}`);
    switch (ev) {
      case EV_NONE:
        return out;
      case EV_TEXT:
        out.push({ ev: "text", text: parser.text });
        break;
      case EV_BINARY:
        out.push({ ev: "binary", data: [...parser.data] });
        break;
      case EV_PING:
        out.push({ ev: "ping", data: [...parser.data] });
        break;
      case EV_PONG:
        out.push({ ev: "pong", data: [...parser.data] });
        break;
      case EV_CLOSE:
        out.push({ ev: "close", code: parser.closeCode, reason: parser.closeReason });
        break;
      case EV_ERROR:
        out.push({ ev: "error", code: parser.closeCode, error: parser.error! });
        break;
    }
  }
  throw new Error("parser kept returning events without EV_NONE");
}

export const SERVER: FrameParserOptions = { role: "server", maxFrameSize: 0, maxMessageSize: 0 };
export const CLIENT: FrameParserOptions = { role: "client", maxFrameSize: 0, maxMessageSize: 0 };

/** Feeds each chunk (copied) and drains after each; returns the events per chunk. */
export function feedChunks(options: FrameParserOptions, chunks: readonly Uint8Array[]): Recorded[][] {
  const parser = new FrameParser(options);
  return chunks.map((chunk) => {
    parser.push(Buffer.from(chunk));
    return drain(parser);
  });
}

/** Feeds the bytes as one chunk (copied) and returns all events. */
export function parseAll(options: FrameParserOptions, ...frames: Uint8Array[]): Recorded[] {
  return feedChunks(options, [Buffer.concat(frames)])[0]!;
}

/** Cuts `bytes` at the given (sorted, deduplicated, in-range) offsets into copies. */
export function chop(bytes: Uint8Array, cuts: readonly number[]): Buffer[] {
  const points = [...new Set(cuts.filter((c) => c > 0 && c < bytes.length))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let at = 0;
  for (const p of points) {
    out.push(Buffer.from(bytes.subarray(at, p)));
    at = p;
  }
  out.push(Buffer.from(bytes.subarray(at)));
  return out;
}

/** Cuts `bytes` into copies of one byte each. */
export function bytewise(bytes: Uint8Array): Buffer[] {
  return Array.from(bytes, (b) => Buffer.of(b));
}

/**
 * Any Unicode scalar value, each UTF-8 length class equally likely (1 to 4 bytes). Cheaper to
 * start than fast-check's `unit: "binary"` strings, and richer in astral characters.
 */
export const codePointArb: fc.Arbitrary<number> = fc.oneof(
  fc.integer({ min: 0, max: 0x7f }),
  fc.integer({ min: 0x80, max: 0x7ff }),
  fc.integer({ min: 0x800, max: 0xffff }).filter((cp) => cp < 0xd800 || cp > 0xdfff),
  fc.integer({ min: 0x10000, max: 0x10ffff }),
);

/** Strings of up to `maxLength` code points, astral ones included. */
export function unicodeString(maxLength: number): fc.Arbitrary<string> {
  return fc.array(codePointArb, { maxLength }).map((cps) => String.fromCodePoint(...cps));
}
