import { isUtf8 } from "node:buffer";

export { isUtf8 };

/**
 * Decodes UTF-8 that arrives in pieces, failing on the piece where it becomes invalid
 * rather than at the end of the message (Autobahn 6.4 "fail fast").
 */
export class Utf8StreamDecoder {
  private readonly decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  private text = "";

  /** Returns false when `piece` makes the text invalid. */
  push(piece: Uint8Array): boolean {
    try {
      this.text += this.decoder.decode(piece, { stream: true });
      return true;
    } catch {
      return false;
    }
  }

  /** The whole text, or undefined when it ends inside a code point. */
  end(): string | undefined {
    try {
      return this.text + this.decoder.decode();
    } catch {
      return undefined;
    }
  }
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
