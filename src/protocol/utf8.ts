import { isUtf8 } from "node:buffer";

export { isUtf8 };

/**
 * Checks UTF-8 that arrives in pieces without decoding it, failing on the piece where it
 * becomes invalid rather than at the end of the message (Autobahn 6.4 "fail fast"). The
 * message's bytes are decoded once, whole, when it ends: decoding each piece into a string
 * of its own would cost a string per piece, which a flood of tiny fragments multiplies.
 */
export class Utf8StreamValidator {
  /** The lead byte of a code point cut by the end of the last piece. */
  private lead = 0;
  /** Bytes of that code point seen so far; 0 when none is cut. */
  private have = 0;
  /** Bytes in that code point. */
  private need = 0;

  /** Forgets what came before: a new message starts. */
  reset(): void {
    this.have = 0;
  }

  /** Checks bytes `start` to `end` of `piece`; false when they make the text invalid. */
  push(piece: Uint8Array, start = 0, end = piece.length): boolean {
    let i = start;
    // A cut code point is finished byte by byte, and so is a short piece: for a few bytes the
    // loop is cheaper than the view isUtf8 needs.
    const short = end - start < SHORT_PIECE;
    while (i < end && (this.have > 0 || short)) if (!this.step(piece[i++]!)) return false;
    if (i === end) return true;
    // A code point cut by the end of the piece starts at most 3 bytes before it.
    let cut = end;
    for (let k = end - 1; k >= i && k >= end - 3; k--) {
      const byte = piece[k]!;
      if ((byte & 0xc0) === 0x80) continue;
      if (sequenceLength(byte) > end - k) cut = k;
      break;
    }
    if (cut > i && !isUtf8(i === 0 && cut === piece.length ? piece : piece.subarray(i, cut))) return false;
    for (let k = cut; k < end; k++) if (!this.step(piece[k]!)) return false;
    return true;
  }

  /** False when the text stopped inside a code point. */
  end(): boolean {
    const complete = this.have === 0;
    this.have = 0;
    return complete;
  }

  private step(byte: number): boolean {
    if (this.have > 0) {
      if (!continues(this.lead, this.have, byte)) return false;
      if (++this.have === this.need) this.have = 0;
    } else if (byte >= 0x80) {
      const need = sequenceLength(byte);
      if (need === 1) return false;
      this.lead = byte;
      this.have = 1;
      this.need = need;
    }
    return true;
  }
}

/** Pieces shorter than this are checked byte by byte. */
const SHORT_PIECE = 64;

/** Bytes in the code point a byte starts: 2–4 for a lead byte that can start one, else 1 (ASCII, or invalid). */
function sequenceLength(lead: number): number {
  if (lead >= 0xc2 && lead <= 0xdf) return 2;
  if (lead >= 0xe0 && lead <= 0xef) return 3;
  if (lead >= 0xf0 && lead <= 0xf4) return 4;
  return 1;
}

/**
 * Whether `byte` can be byte `index` (1–3) of a code point that starts with `lead`: the
 * second byte's range excludes overlongs, surrogates and code points past U+10FFFF.
 */
function continues(lead: number, index: number, byte: number): boolean {
  if (index > 1) return (byte & 0xc0) === 0x80;
  if (lead === 0xe0) return byte >= 0xa0 && byte <= 0xbf;
  if (lead === 0xed) return byte >= 0x80 && byte <= 0x9f;
  if (lead === 0xf0) return byte >= 0x90 && byte <= 0xbf;
  if (lead === 0xf4) return byte >= 0x80 && byte <= 0x8f;
  return (byte & 0xc0) === 0x80;
}

/**
 * The longest prefix of `bytes` of at most `max` bytes that ends on a code-point boundary
 * (`bytes` being valid UTF-8). Returns at least one whole code point when `max` is smaller.
 */
export function utf8CutPoint(bytes: Uint8Array, start: number, max: number): number {
  let cut = start + max;
  if (cut >= bytes.length) return bytes.length;
  while (cut > start && (bytes[cut]! & 0xc0) === 0x80) cut--;
  if (cut === start) {
    cut = start + 1;
    while (cut < bytes.length && (bytes[cut]! & 0xc0) === 0x80) cut++;
  }
  return cut;
}

/** Cuts `text` to at most `maxBytes` of UTF-8 without splitting a character. */
export function truncateUtf8(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text) <= maxBytes) return text;
  const bytes = Buffer.from(text);
  let cut = maxBytes;
  while (cut > 0 && (bytes[cut]! & 0xc0) === 0x80) cut--;
  return bytes.toString("utf8", 0, cut);
}
