import { Socket } from "node:net";
import { debuglog } from "node:util";
import { MAX_HEADER_SIZE } from "../protocol/frame-parser.ts";

/**
 * Reading into ferry's memory instead of Node's.
 *
 * By default Node reads a socket 64 KiB at a time, each read into a fresh buffer: a message
 * larger than that arrives in pieces that must then be copied together, and every read
 * allocates. A socket created with `onread` reads where its owner says, read by read. So
 * small reads all go into one scratch buffer shared by every connection (the parser copies
 * out what it keeps), and the rest of a big binary payload goes straight into the buffer
 * that becomes the message, in reads as large as the kernel has data for. On the 2-core
 * machine of BENCHMARKS.md this made a ferry echo server 1.1–1.6× as efficient (messages
 * per CPU-second) with 64 KiB and 1 MiB messages, and up to 1.3× with small ones.
 *
 * Node offers `onread` only as an option of the `net.Socket` constructor, and the sockets
 * an `http.Server` accepts or an upgraded `http.request` hands over are built without it.
 * Node keeps the option in three properties of the socket, under symbols of its own, and
 * its read callback consults them on every read; the handle learns of the buffer through
 * `useUserBuffer`, as the constructor would have told it. `startOwnReads` does the same to
 * an existing socket. Building a second socket around the handle instead, the way Node's
 * `net.Server` builds sockets around accepted handles, cost 10–25% of the handshakes per
 * CPU-second in A/B runs. Where Node's internals are not as expected, or the socket reads
 * through something else (TLS), the socket keeps Node's reads.
 *
 * Names alone prove little, so the three properties must also hold what Node's constructor
 * puts there when no `onread` is given (null), and until a first read has come back through
 * ferry's callback, each socket keeps a 'data' listener as a guard: should Node read the old
 * way after all, the chunk still reaches its connection, and no socket is handed over again
 * (logged once under NODE_DEBUG=ferry). `ownReads: false` in a listener's or client's
 * configuration, or FERRY_OWN_READS=0 in the environment, keeps Node's reads throughout.
 */
export const SCRATCH = Buffer.allocUnsafeSlow(64 * 1024);
/** Room for one frame header: the read after a payload read into its target takes no more. */
export const HEADER_SCRATCH = SCRATCH.subarray(0, MAX_HEADER_SIZE);
const SCRATCH_MEMORY = SCRATCH.buffer;

/** True for a buffer returned by `nextReadBuffer` that is scratch, not a read target. */
export function isScratch(buffer: Buffer): boolean {
  return buffer.buffer === SCRATCH_MEMORY;
}

export interface OwnReader {
  /** `n` bytes were read into the start of `buffer`, the last one `nextReadBuffer` returned. */
  onRead(n: number, buffer: Buffer): void;
  /** A chunk Node read the usual way after all: own reads did not take on this socket. */
  onData(chunk: Buffer): void;
  /** Where the next read goes: scratch, or a read target that the reader owns. */
  nextReadBuffer(): Buffer;
}

/** Node's names for the `onread` option's parts, as its constructor stores them. */
interface OnreadKeys {
  buffer: symbol;
  callback: symbol;
  generator: symbol;
}

type Handle = { readStart?: unknown; useUserBuffer?: (buffer: Uint8Array) => void };
type ReadingSocket = Socket & { _handle: Handle | null } & Record<symbol, unknown>;

const READER = Symbol("ferry.reader");
const debug = debuglog("ferry");
let keys: OnreadKeys | null | undefined;
/** Node read a socket the usual way after it was handed over: never hand one over again. */
let failed = false;
let switchedOff: boolean | undefined;

function onreadKeys(socket: Socket): OnreadKeys | null {
  if (keys !== undefined) return keys;
  const named = (name: string) => Object.getOwnPropertySymbols(socket).find((key) => key.description === name);
  const buffer = named("kBuffer");
  const callback = named("kBufferCb");
  const generator = named("kBufferGen");
  const reading = socket as ReadingSocket;
  const asBuilt = buffer && callback && generator && reading[buffer] === null && reading[callback] === null && reading[generator] === null;
  keys = asBuilt ? { buffer, callback, generator } : null;
  if (keys === null) debug("own reads off: net.Socket does not keep onread's parts as expected");
  return keys;
}

/** `option` from a listener's or client's configuration; FERRY_OWN_READS=0 overrides it. */
function ownReadsAllowed(option: boolean | undefined): boolean {
  switchedOff ??= process.env["FERRY_OWN_READS"] === "0";
  return option !== false && !switchedOff && !failed;
}

function onUnprovenData(this: ReadingSocket, chunk: Buffer): void {
  if (!failed) debug("own reads off: a socket handed over was read into Node's buffers; later sockets keep Node's reads");
  failed = true;
  (this[READER] as OwnReader).onData(chunk);
}

/**
 * Node calls the buffer generator right after the read callback returns, without a
 * receiver: the reader whose read just ended says where the next one goes. Set after
 * `onRead` returns, so that whatever `onRead` sets off cannot change it, and no closure per
 * connection is needed; cleared at once, so that it keeps no closed connection alive.
 */
let lastReader: OwnReader | undefined;

/** A socket's first read through ferry's callback: Node reads it as handed over, so its guard goes, and later reads skip this step. */
function onFirstOwnRead(this: ReadingSocket, n: number, buffer: Buffer): void {
  this.off("data", onUnprovenData);
  this[keys!.callback] = onOwnRead;
  onOwnRead.call(this, n, buffer);
}

function onOwnRead(this: ReadingSocket, n: number, buffer: Buffer): void {
  const reader = this[READER] as OwnReader;
  reader.onRead(n, buffer);
  lastReader = reader;
}

function nextReadBuffer(): Buffer {
  const reader = lastReader;
  lastReader = undefined;
  return reader === undefined ? SCRATCH : reader.nextReadBuffer();
}

export interface ConnectionHead {
  /** The bytes that came with the handshake, and any the socket had read after them. */
  head: Buffer;
  /** The socket can read into ferry's memory: `startOwnReads` must follow in the same turn of the event loop. */
  ownReads: boolean;
}

/**
 * Whether `socket` (an upgraded TCP socket) can read into ferry's memory, and the bytes
 * already read: `head`, which arrived with the handshake, and what Node buffered after it,
 * which no 'data' event will deliver once the socket reads for ferry. `option`: the
 * configuration's `ownReads`.
 */
export function withOwnReads(socket: Socket, head: Buffer, option?: boolean): ConnectionHead {
  const handle = (socket as ReadingSocket)._handle;
  // Exactly net.Socket: a TLSSocket reads through its TLS layer, and subclasses may have their own ideas.
  const able =
    ownReadsAllowed(option) &&
    socket.constructor === Socket &&
    !socket.destroyed &&
    handle !== null &&
    typeof handle.readStart === "function" &&
    typeof handle.useUserBuffer === "function" &&
    onreadKeys(socket) !== null;
  if (!able) return { head, ownReads: false };
  const buffered = socket.readableLength > 0 ? (socket.read() as Buffer | null) : null;
  return { head: buffered === null ? head : Buffer.concat([head, buffered]), ownReads: true };
}

/**
 * Hands the reads of a socket `withOwnReads` approved to `reader`, and starts reading unless
 * `paused`: the reader paused the socket already (the handshake's bytes filled what it may
 * hold), and resumes it when it has room.
 */
export function startOwnReads(socket: Socket, reader: OwnReader, paused = false): void {
  const reading = socket as ReadingSocket;
  const { buffer, callback, generator } = keys!;
  const first = reader.nextReadBuffer();
  reading[READER] = reader;
  reading[buffer] = first;
  reading[callback] = onFirstOwnRead;
  reading[generator] = nextReadBuffer;
  reading._handle!.useUserBuffer!(first);
  socket.on("data", onUnprovenData);
  // A pause before the handover stopped only the stream; with `onread` set, pausing again
  // stops the handle's reads too, which would otherwise go on through `onOwnRead`.
  if (paused) socket.pause();
  else socket.resume();
}
