import { PerMessageDeflate } from "../protocol/permessage-deflate.ts";
import type { DeflateParameters, DeflateRequest } from "../protocol/permessage-deflate-negotiation.ts";

/**
 * ferry's permessage-deflate tuning (RFC 7692), on a service's config or a client's.
 * `webSocketCompressionEnabled` switches compression on and off; this says how.
 */
export interface CompressionOptions {
  /** Messages smaller than this many bytes are sent uncompressed. [1024] */
  threshold?: number;
  /**
   * The server compresses each message on its own, keeping no zlib state between messages.
   * Server: always asked for [true]. Client: offered to the server [false].
   */
  serverNoContextTakeover?: boolean;
  /**
   * The client compresses each message on its own, so the server keeps no zlib state for it.
   * Server: always asked for [true]. Client: offered [false].
   */
  clientNoContextTakeover?: boolean;
  /** Largest LZ77 window the server compresses with, 8–15 bits. Server: its own limit [15]. Client: offered [not offered]. */
  serverMaxWindowBits?: number;
  /**
   * Largest window the client compresses with, 8–15 bits. Server: asked of clients that offer
   * client_max_window_bits [not asked]. Client: offered [offered without a value].
   */
  clientMaxWindowBits?: number;
  /** zlib memLevel of the compressor, 1–9: hash table memory against speed and ratio. [8] */
  memLevel?: number;
  /**
   * Messages compressed or inflated in zlib's thread pool at once, in the whole process,
   * across every connection with the same setting; more wait their turn. Small messages done
   * at once on the event loop do not count. [10]
   */
  concurrency?: number;
}

/** @internal Runs at most `concurrency` zlib jobs at once, the rest in arrival order. */
export class ZlibLimiter {
  private running = 0;
  private queue: (() => void)[] = [];
  private head = 0;

  constructor(private readonly concurrency: number) {}

  /** Runs `job` now or when a slot frees; the job must call `done()` exactly once when finished. */
  run(job: () => void): void {
    if (this.running < this.concurrency) {
      this.running++;
      job();
    } else {
      this.queue.push(job);
    }
  }

  done(): void {
    if (this.head === this.queue.length) {
      this.running--;
      return;
    }
    const job = this.queue[this.head++]!;
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    }
    job();
  }
}

/**
 * One limiter per concurrency setting: each one bounds the zlib memory in use and the
 * thread-pool slots taken across all connections that share it.
 */
const limiters = new Map<number, ZlibLimiter>();

/** @internal The resolved options, shared by every connection of one service or client. */
export interface ResolvedCompression {
  /** What the server imposes, or what the client offers. */
  request: DeflateRequest;
  threshold: number;
  memLevel: number;
  limiter: ZlibLimiter;
}

function windowBits(name: string, value: number | undefined): number | undefined {
  if (value !== undefined && !(Number.isInteger(value) && value >= 8 && value <= 15)) {
    throw new RangeError(`compression.${name} must be an integer from 8 to 15, got ${value}`);
  }
  return value;
}

/** @internal Defaults differ by role: a server keeps idle connections free of zlib state; a client takes what the server allows. */
export function resolveCompression(options: CompressionOptions = {}, role: "server" | "client"): ResolvedCompression {
  const server = role === "server";
  const threshold = options.threshold ?? 1024;
  if (!(Number.isInteger(threshold) && threshold >= 0)) throw new RangeError(`compression.threshold must be an integer of 0 or more, got ${threshold}`);
  const memLevel = options.memLevel ?? 8;
  if (!(Number.isInteger(memLevel) && memLevel >= 1 && memLevel <= 9)) throw new RangeError(`compression.memLevel must be an integer from 1 to 9, got ${memLevel}`);
  const concurrency = options.concurrency ?? 10;
  if (!(Number.isInteger(concurrency) && concurrency >= 1)) throw new RangeError(`compression.concurrency must be an integer of 1 or more, got ${concurrency}`);
  let limiter = limiters.get(concurrency);
  if (limiter === undefined) limiters.set(concurrency, (limiter = new ZlibLimiter(concurrency)));
  return {
    request: {
      serverNoContextTakeover: options.serverNoContextTakeover ?? server,
      clientNoContextTakeover: options.clientNoContextTakeover ?? server,
      serverMaxWindowBits: windowBits("serverMaxWindowBits", options.serverMaxWindowBits),
      clientMaxWindowBits: windowBits("clientMaxWindowBits", options.clientMaxWindowBits),
    },
    // An empty message compresses to nothing smaller.
    threshold: Math.max(threshold, 1),
    memLevel,
    limiter,
  };
}

/** @internal */
export const O_PLAIN = 0;
/** @internal */
export const O_DEFLATE = 1;
/** @internal */
export const O_CLOSE = 2;
/** @internal */
export const O_END = 3;

/** @internal A write that waits for the compression before it: each leaves in the order it was made. */
export interface OutboundEntry {
  kind: number;
  opcode: number;
  /** The message, or a close frame's payload. */
  payload: string | Uint8Array;
  /** Bytes counted in `pendingBytes`. */
  length: number;
  started: boolean;
  /** The compressed message once done. */
  output: Buffer | undefined;
}

/** @internal permessage-deflate state of one connection: the codec, and writes held in order behind a compression. */
export class MessageCompression {
  readonly codec: PerMessageDeflate;
  readonly settings: ResolvedCompression;
  /** Set while a compression is under way; later writes, close frames and the end of TCP line up here. */
  outbound: OutboundEntry[] | undefined;
  /** Message bytes not yet compressed or queued: they count as buffered. */
  pendingBytes = 0;

  constructor(parameters: DeflateParameters, role: "server" | "client", settings: ResolvedCompression) {
    this.codec = new PerMessageDeflate(parameters, role, settings);
    this.settings = settings;
  }
}
