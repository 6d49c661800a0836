import { copyMasked } from "./mask.ts";

/** The first buffer that small pieces are copied to; it doubles from there. */
const MIN_CAPACITY = 1024;
/** Below this many bytes a piece is copied byte by byte: a view for `set` would cost more. */
const SMALL_COPY = 64;

/**
 * The bytes of a message (or of a frame) that arrive in pieces. Small pieces are copied into
 * one buffer that doubles as it fills, up to the message limit; big ones may be kept as they
 * are. Memory then follows the bytes received, not the number of pieces: a flood of one-byte
 * fragments, each kept as a Buffer of its own, cost about 30 times its size.
 */
export class MessageBuffer {
  /** Earlier pieces, in order: big ones kept as they came, and filled copy buffers. */
  private parts: Buffer[] | undefined;
  /** Where small pieces are copied to; `filled` bytes of it are used. */
  private buffer: Buffer | undefined;
  private filled = 0;
  /** Bytes held, kept and copied. */
  length = 0;

  /** Buffers held: the kept pieces and the copy buffers. */
  get pieces(): number {
    return (this.parts?.length ?? 0) + (this.buffer === undefined ? 0 : 1);
  }

  /**
   * Copies bytes `start` to `end` of `source`, unmasking them with `maskKey` (from `phase`
   * bytes into it) when given. A new buffer is sized for `expected` bytes more, twice the
   * last one if that is more, but never beyond `limit` bytes in all.
   */
  copy(source: Uint8Array, start: number, end: number, maskKey: Uint8Array | undefined, phase: number, expected: number, limit: number): void {
    const n = end - start;
    let buffer = this.buffer;
    let at = this.filled;
    if (buffer === undefined || buffer.length - at < n) buffer = this.grow(n, expected, limit);
    if (n < SMALL_COPY) {
      if (maskKey === undefined) for (let i = 0; i < n; i++) buffer[at + i] = source[start + i]!;
      else for (let i = 0; i < n; i++) buffer[at + i] = source[start + i]! ^ maskKey[(phase + i) & 3]!;
    } else if (maskKey === undefined) {
      buffer.set(source.subarray(start, end), at);
    } else {
      copyMasked(source, start, end, maskKey, phase, buffer, at);
    }
    at += n;
    this.filled = at;
    this.length += n;
  }

  /** Keeps `piece` as it is, after what came before. */
  keep(piece: Buffer): void {
    const parts = (this.parts ??= []);
    this.closeBuffer(parts);
    parts.push(piece);
    this.length += piece.length;
  }

  /**
   * The whole content, one buffer (a copy only when several are held); leaves this empty.
   * `compact`: the buffer is kept by whoever takes it, so content that fills less than 3/4 of
   * the doubled copy buffer is copied to a buffer of its size, instead of handing out a view
   * that holds up to twice the message's memory (and twice what maxQueuedBytes counts).
   */
  take(compact = true): Buffer {
    const { parts, buffer, filled, length } = this;
    this.clear();
    if (buffer === undefined) return parts === undefined ? EMPTY : parts.length === 1 ? parts[0]! : Buffer.concat(parts, length);
    const copied = buffer.subarray(0, filled);
    if (parts === undefined) return compact && filled < buffer.length * 0.75 ? copyOf(copied) : copied;
    if (filled > 0) parts.push(copied);
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts, length);
  }

  /** Copies the content to `target` at `at`, unmasking it with `maskKey` from phase 0 when given; leaves this empty. */
  moveTo(target: Buffer, at: number, maskKey: Uint8Array | undefined): void {
    const parts = this.parts ?? [];
    if (this.buffer !== undefined) parts.push(this.buffer.subarray(0, this.filled));
    this.clear();
    let phase = 0;
    for (const part of parts) {
      if (maskKey === undefined) target.set(part, at);
      else copyMasked(part, 0, part.length, maskKey, phase, target, at);
      at += part.length;
      phase += part.length;
    }
  }

  clear(): void {
    this.parts = undefined;
    this.buffer = undefined;
    this.filled = 0;
    this.length = 0;
  }

  /** A buffer with room for `n` bytes more: the current one grown, or a new one after it once it went to `parts`. */
  private grow(n: number, expected: number, limit: number): Buffer {
    const old = this.buffer;
    const used = this.filled;
    const wanted = Math.max(used + expected, old === undefined ? MIN_CAPACITY : old.length * 2);
    const capacity = Math.max(used + n, Math.min(wanted, limit - (this.length - used)));
    const buffer = Buffer.allocUnsafe(capacity);
    if (old !== undefined && used > 0) old.copy(buffer, 0, 0, used);
    this.buffer = buffer;
    return buffer;
  }

  private closeBuffer(parts: Buffer[]): void {
    if (this.buffer === undefined) return;
    parts.push(this.buffer.subarray(0, this.filled));
    this.buffer = undefined;
    this.filled = 0;
  }
}

const EMPTY = Buffer.alloc(0);

function copyOf(bytes: Buffer): Buffer {
  const copy = Buffer.allocUnsafe(bytes.length);
  bytes.copy(copy);
  return copy;
}
