import {
  constants,
  createDeflateRaw,
  createInflateRaw,
  type DeflateRaw,
  deflateRawSync,
  type InflateRaw,
  inflateRawSync,
  type ZlibOptions,
} from "node:zlib";
import { constants as bufferConstants } from "node:buffer";
import { CorruptedFrameError, PayloadTooLargeError, type WebSocketError } from "../errors.ts";
import type { DeflateParameters } from "./permessage-deflate-negotiation.ts";

/** With no limit, a message still cannot outgrow the largest Buffer: joining its output would throw. */
const MAX_BUFFER_BYTES = bufferConstants.MAX_LENGTH;

/** RFC 7692 §7.2.1: the end of a sync flush, taken off each compressed message and put back to inflate it. */
const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);
const EMPTY = Buffer.alloc(0);

/** Called once per job, always asynchronously. */
export type ZlibDone = (error: WebSocketError | undefined, data: Buffer) => void;

/**
 * Up to this size a message without context takeover is compressed, or inflated, at once on
 * the calling thread. A trip through the thread pool costs more CPU than zlib spends on such a
 * message (measured: 4 KiB of JSON inflates in 24 µs at once, 40 µs through the pool), and
 * blocks the event loop for well under a millisecond, while a fresh zlib context per message
 * is just what no context takeover asks for. Larger messages, and every message of a
 * direction with context takeover, go to the pool.
 */
const AT_ONCE_MAX = 16 * 1024;
/** Output allowed when inflating at once; a message that inflates further is done again through the pool. */
const AT_ONCE_OUTPUT_MAX = 64 * 1024;

/** Streams kept per kind of zlib stream; more than the default concurrency of 10, fewer than would matter. */
const MAX_POOLED = 16;
/** Pooled streams unused for this long are freed: a burst should not pin its peak of zlib memory. */
const POOL_IDLE_MS = 30_000;

/**
 * One zlib stream that runs one message at a time and collects its output. Inflating stops
 * as soon as the output passes the limit: the stream is destroyed then, which ends zlib's
 * work at its next output chunk, so a bomb never holds more than the limit plus one chunk.
 */
class ZlibWorker {
  /** Pool this worker returns to; undefined for a connection's own (context takeover). */
  readonly pool: ZlibWorker[] | undefined;
  private readonly stream: DeflateRaw | InflateRaw;
  private parts: Buffer[] = [];
  private size = 0;
  private limit = Infinity;
  private done: ZlibDone | undefined;
  /** Set once the stream cannot take another message (error, limit, or a final block). */
  unusable = false;
  /** Close once the running job has finished. */
  private closing = false;
  lastUsed = 0;

  constructor(stream: DeflateRaw | InflateRaw, pool: ZlibWorker[] | undefined) {
    this.stream = stream;
    this.pool = pool;
    stream.on("data", (chunk: Buffer) => this.onData(chunk));
    stream.on("error", (error: Error) => this.finish(corrupt(error)));
    // A peer that ends a message with BFINAL ends the deflate stream; a new one must follow.
    stream.on("end", () => {
      this.unusable = true;
    });
  }

  get busy(): boolean {
    return this.done !== undefined;
  }

  run(input: Uint8Array, limit: number, done: ZlibDone): void {
    this.parts = [];
    this.size = 0;
    this.limit = limit;
    this.done = done;
    this.stream.write(input, (error) => this.finish(error === undefined || error === null ? undefined : corrupt(error)));
  }

  /** Forgets the previous messages: for the next message of a stream without context takeover. */
  reset(): void {
    this.stream.reset();
  }

  close(): void {
    if (this.busy) this.closing = true;
    else this.stream.close();
  }

  private onData(chunk: Buffer): void {
    if (this.done === undefined) return;
    this.size += chunk.length;
    if (this.size > this.limit) {
      this.unusable = true;
      this.stream.destroy();
      this.finish(tooLarge(this.limit));
      return;
    }
    this.parts.push(chunk);
  }

  private finish(error: WebSocketError | undefined): void {
    const done = this.done;
    if (done === undefined) return;
    this.done = undefined;
    const parts = this.parts;
    this.parts = [];
    if (error !== undefined) this.unusable = true;
    if (this.closing || this.unusable) this.stream.close();
    done(error, error !== undefined || parts.length === 0 ? EMPTY : parts.length === 1 ? ownBuffer(parts[0]!) : Buffer.concat(parts, this.size));
  }
}

/**
 * zlib streams hand out views of a 16 KiB output buffer that later output shares: a small
 * message kept by the application would keep all of it, so it gets a buffer of its own.
 */
function ownBuffer(view: Buffer): Buffer {
  return view.length * 2 < view.buffer.byteLength ? Buffer.from(view) : view;
}

function corrupt(error: Error): WebSocketError {
  return new CorruptedFrameError(`Invalid compressed data: ${error.message}`, { closeCode: 1007, cause: error });
}

function tooLarge(limit: number): WebSocketError {
  return new PayloadTooLargeError(`Message inflates to more than maxMessageSize of ${limit} bytes`);
}

/** `data` with the RFC 7692 §7.2.2 tail appended, ready to inflate. */
function withTail(data: Buffer): Buffer {
  const input = Buffer.allocUnsafe(data.length + 4);
  input.set(data, 0);
  input.set(TAIL, data.length);
  return input;
}

function withoutTail(output: Buffer): Buffer {
  const n = output.length;
  const ends = n >= 4 && output[n - 4] === 0 && output[n - 3] === 0 && output[n - 2] === 0xff && output[n - 1] === 0xff;
  return ends ? output.subarray(0, n - 4) : output;
}

/** Process-wide pools, by kind: zlib state that no connection needs between messages. */
const deflatePools = new Map<number, ZlibWorker[]>();
const inflatePools = new Map<number, ZlibWorker[]>();
let trimTimer: NodeJS.Timeout | undefined;

function trimPools(): void {
  trimTimer = undefined;
  const before = Date.now() - POOL_IDLE_MS;
  let left = 0;
  for (const pools of [deflatePools, inflatePools]) {
    for (const [key, pool] of pools) {
      const kept = pool.filter((worker) => worker.lastUsed > before);
      for (const worker of pool) if (worker.lastUsed <= before) worker.close();
      if (kept.length === 0) pools.delete(key);
      else pools.set(key, kept);
      left += kept.length;
    }
  }
  if (left > 0) scheduleTrim();
}

function scheduleTrim(): void {
  if (trimTimer !== undefined) return;
  trimTimer = setTimeout(trimPools, POOL_IDLE_MS);
  trimTimer.unref();
}

function poolFor(pools: Map<number, ZlibWorker[]>, key: number): ZlibWorker[] {
  let pool = pools.get(key);
  if (pool === undefined) pools.set(key, (pool = []));
  return pool;
}

function deflateKey(windowBits: number, memLevel: number, huffmanOnly: boolean): number {
  return (huffmanOnly ? 256 : 0) + windowBits * 16 + memLevel;
}

/** zlib keeps this many bytes of lookahead out of a window's reach (MIN_LOOKAHEAD in deflate.h). */
const MIN_LOOKAHEAD = 262;

function zlibOptions(windowBits: number, memLevel: number, huffmanOnly: boolean): ZlibOptions {
  return {
    windowBits,
    memLevel,
    strategy: huffmanOnly ? constants.Z_HUFFMAN_ONLY : constants.Z_DEFAULT_STRATEGY,
    finishFlush: constants.Z_SYNC_FLUSH,
  };
}

/** Tuning of the compressing side. */
export interface DeflateSettings {
  /** zlib memLevel, 1–9: memory of the compressor's hash tables against speed and ratio. */
  memLevel: number;
}

/**
 * The permessage-deflate codec of one connection (RFC 7692 §7.2): compresses a message with
 * the agreed window and context rules, and inflates one with a bound on its output.
 *
 * A direction without context takeover borrows a zlib stream from a process-wide pool for the
 * length of one message and resets it afterwards: an idle connection then holds no zlib state
 * at all. A direction with context takeover keeps a stream of its own, created at its first
 * message. Calls in one direction must not overlap (the connection runs them in order).
 */
export class PerMessageDeflate {
  private readonly deflateNoContext: boolean;
  private readonly inflateNoContext: boolean;
  private readonly deflateBits: number;
  /** RFC 7692 §7.1.2: a window of 8 bits, which zlib cannot deflate with (see below). */
  private readonly huffmanOnly: boolean;
  private readonly inflateBits: number;
  private readonly memLevel: number;
  private deflater: ZlibWorker | undefined;
  private inflater: ZlibWorker | undefined;

  constructor(parameters: DeflateParameters, role: "server" | "client", settings: DeflateSettings) {
    const server = role === "server";
    this.deflateNoContext = server ? parameters.serverNoContextTakeover : parameters.clientNoContextTakeover;
    this.inflateNoContext = server ? parameters.clientNoContextTakeover : parameters.serverNoContextTakeover;
    const deflateBits = server ? parameters.serverMaxWindowBits : parameters.clientMaxWindowBits;
    const inflateBits = server ? parameters.clientMaxWindowBits : parameters.serverMaxWindowBits;
    // zlib turns a raw deflate window of 8 bits into 9, which could send distances a peer
    // holding 256 bytes cannot resolve. Huffman-only output has no distances at all: it is
    // valid for any window, and still compresses text.
    this.huffmanOnly = deflateBits === 8;
    this.deflateBits = Math.max(deflateBits, 9);
    // A larger window inflates all a smaller one would, and zlib-based peers told to use 8 bits use 9.
    this.inflateBits = Math.max(inflateBits, 9);
    this.memLevel = settings.memLevel;
  }

  /**
   * Compresses a small message of a direction without context takeover at once (see
   * AT_ONCE_MAX); undefined when `compress` must do it. The result lacks the sync-flush tail.
   */
  compressNow(data: string | Uint8Array, length: number): Buffer | undefined {
    if (!this.deflateNoContext || length > AT_ONCE_MAX) return undefined;
    // A window that spans the whole message finds every match the agreed one would, and
    // hash tables and a symbol buffer of that size (memLevel = bits - 6) hold the whole
    // message in one block: much the same output, with less memory to set up for one message.
    const bits = Math.min(this.deflateBits, Math.max(9, Math.ceil(Math.log2(length + MIN_LOOKAHEAD))));
    try {
      const options = zlibOptions(bits, Math.min(this.memLevel, bits - 6), this.huffmanOnly);
      // One output buffer of about the message's size (compressed output is rarely larger).
      options.chunkSize = Math.max(1024, length + 64);
      return withoutTail(deflateRawSync(data, options));
    } catch {
      // The pool path reports what went wrong, or sends the message uncompressed.
      return undefined;
    }
  }

  /**
   * Inflates a small message of a direction without context takeover at once: the bytes, or
   * the error to fail the connection with; undefined when `decompress` must do it.
   */
  decompressNow(data: Buffer, maxSize: number): Buffer | WebSocketError | undefined {
    if (!this.inflateNoContext || data.length > AT_ONCE_MAX) return undefined;
    const limit = maxSize > 0 ? Math.min(maxSize, MAX_BUFFER_BYTES) : MAX_BUFFER_BYTES;
    try {
      return inflateRawSync(withTail(data), {
        windowBits: this.inflateBits,
        finishFlush: constants.Z_SYNC_FLUSH,
        maxOutputLength: Math.min(limit, AT_ONCE_OUTPUT_MAX),
        // Output buffers near the message's size, not zlib's default 16 KiB each: a binary
        // message is handed over as a view, and keeps its whole buffer alive.
        chunkSize: Math.min(AT_ONCE_OUTPUT_MAX, Math.max(1024, data.length * 8)),
      });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ERR_BUFFER_TOO_LARGE") return corrupt(error as Error);
      return limit <= AT_ONCE_OUTPUT_MAX ? tooLarge(limit) : undefined;
    }
  }

  /** Compresses one whole message; the result lacks the 0x00 0x00 0xff 0xff tail. Fails only if zlib itself does. */
  compress(data: Uint8Array, done: ZlibDone): void {
    const worker = this.takeDeflater();
    worker.run(data, Infinity, (error, output) => {
      this.putBack(worker, this.deflateNoContext);
      done(error, error === undefined ? withoutTail(output) : output);
    });
  }

  /** Inflates one whole message, failing with PayloadTooLargeError (1009) past `maxSize` bytes and CorruptedFrameError (1007) on bad data. */
  decompress(data: Buffer, maxSize: number, done: ZlibDone): void {
    const worker = this.takeInflater();
    worker.run(withTail(data), maxSize > 0 ? Math.min(maxSize, MAX_BUFFER_BYTES) : MAX_BUFFER_BYTES, (error, output) => {
      this.putBack(worker, this.inflateNoContext);
      done(error, output);
    });
  }

  /** Frees the connection's own zlib streams (after any job running on them). */
  close(): void {
    this.deflater?.close();
    this.inflater?.close();
    this.deflater = undefined;
    this.inflater = undefined;
  }

  private takeDeflater(): ZlibWorker {
    if (!this.deflateNoContext && this.deflater !== undefined && !this.deflater.unusable) return this.deflater;
    const key = deflateKey(this.deflateBits, this.memLevel, this.huffmanOnly);
    const pool = this.deflateNoContext ? poolFor(deflatePools, key) : undefined;
    const worker =
      pool?.pop() ??
      new ZlibWorker(
        createDeflateRaw({ ...zlibOptions(this.deflateBits, this.memLevel, this.huffmanOnly), flush: constants.Z_SYNC_FLUSH }),
        pool,
      );
    if (!this.deflateNoContext) this.deflater = worker;
    return worker;
  }

  private takeInflater(): ZlibWorker {
    if (!this.inflateNoContext && this.inflater !== undefined && !this.inflater.unusable) return this.inflater;
    const pool = this.inflateNoContext ? poolFor(inflatePools, this.inflateBits) : undefined;
    const worker = pool?.pop() ?? new ZlibWorker(createInflateRaw({ windowBits: this.inflateBits }), pool);
    if (!this.inflateNoContext) this.inflater = worker;
    return worker;
  }

  /** After a job: a pooled stream is reset (nothing of one connection may reach another) and pooled again. */
  private putBack(worker: ZlibWorker, noContext: boolean): void {
    if (worker.unusable) {
      if (worker === this.deflater) this.deflater = undefined;
      if (worker === this.inflater) this.inflater = undefined;
      return;
    }
    if (!noContext) return;
    const pool = worker.pool!;
    if (pool.length >= MAX_POOLED) {
      worker.close();
      return;
    }
    worker.reset();
    worker.lastUsed = Date.now();
    pool.push(worker);
    scheduleTrim();
  }
}
