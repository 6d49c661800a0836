import type { Socket } from "node:net";
import { frameHeaderSize, writeFrameHeader } from "../protocol/frame-writer.ts";
import { applyMask, copyMasked, nextMaskKey } from "../protocol/mask.ts";

/** Payloads at least this big travel by reference in a writev instead of being copied. */
const BY_REFERENCE = 16 * 1024;
/** A marker in place of a frame's first byte: the payload is raw bytes (the 101 response). */
const RAW = -1;

/**
 * Frames waiting to be written. Everything queued between two flushes leaves in one write
 * (one `write`, or one `writev` when big payloads ride by reference): that is what lets a
 * server answer the sixteen messages of one read with one syscall, where a write per message
 * would spend its time in the kernel.
 */
export class OutboundQueue {
  /** Bytes queued here and not yet handed to the socket, headers included. */
  queuedBytes = 0;
  private firsts: number[] = [];
  private payloads: (string | Uint8Array)[] = [];
  private lengths: number[] = [];

  get empty(): boolean {
    return this.firsts.length === 0;
  }

  /** Queues a frame; `first` is its first byte (FIN, RSV and opcode), `length` its payload's byte length. */
  pushFrame(first: number, payload: string | Uint8Array, length: number, masked: boolean): void {
    this.firsts.push(first);
    this.payloads.push(payload);
    this.lengths.push(length);
    this.queuedBytes += frameHeaderSize(length, masked) + length;
  }

  pushRaw(bytes: Uint8Array): void {
    this.firsts.push(RAW);
    this.payloads.push(bytes);
    this.lengths.push(bytes.length);
    this.queuedBytes += bytes.length;
  }

  /** Drops what is queued: the socket is gone. */
  clear(): void {
    this.firsts.length = 0;
    this.payloads.length = 0;
    this.lengths.length = 0;
    this.queuedBytes = 0;
  }

  /**
   * Hands everything to the socket, masking each frame with a fresh key when `masked` (the
   * client's role); returns false when the socket asks to wait for 'drain'.
   */
  flush(socket: Socket, masked: boolean): boolean {
    const count = this.firsts.length;
    if (count === 0) return true;
    const { firsts, payloads, lengths } = this;
    let copied = 0;
    for (let i = 0; i < count; i++) {
      const length = lengths[i]!;
      const first = firsts[i]!;
      if (first !== RAW) copied += frameHeaderSize(length, masked);
      if (masked || typeof payloads[i] === "string" || length < BY_REFERENCE) copied += length;
    }
    const buffer = Buffer.allocUnsafe(copied);
    let segments: Uint8Array[] | undefined;
    let segmentStart = 0;
    let offset = 0;
    for (let i = 0; i < count; i++) {
      const first = firsts[i]!;
      const payload = payloads[i]!;
      const length = lengths[i]!;
      const maskKey = masked && first !== RAW ? nextMaskKey() : undefined;
      if (first !== RAW) offset = writeFrameHeader(buffer, offset, first, length, maskKey);
      if (typeof payload === "string") {
        buffer.write(payload, offset);
        if (maskKey !== undefined) applyMask(buffer, offset, offset + length, maskKey);
      } else if (maskKey !== undefined) {
        copyMasked(payload, 0, length, maskKey, 0, buffer, offset);
      } else if (length < BY_REFERENCE) {
        buffer.set(payload, offset);
      } else {
        (segments ??= []).push(buffer.subarray(segmentStart, offset), payload);
        segmentStart = offset;
        continue;
      }
      offset += length;
    }
    this.clear();

    if (segments === undefined) return socket.write(buffer);
    if (segmentStart < offset) segments.push(buffer.subarray(segmentStart, offset));
    socket.cork();
    let ok = true;
    for (const segment of segments) if (segment.length > 0) ok = socket.write(segment);
    socket.uncork();
    return ok;
  }
}
