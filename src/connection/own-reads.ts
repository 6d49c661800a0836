import { Socket } from "node:net";

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
 * Node offers `onread` only to sockets created with it, not to those an `http.Server`
 * accepts or an upgraded `http.request` hands over. `withOwnReads` therefore moves such a
 * socket's handle to a new `net.Socket` built with `onread`, the way Node's own
 * `net.Server` builds sockets around accepted handles (the `handle` option). Where that is
 * not possible (TLS, a socket that is not a plain `net.Socket`, Node internals not as
 * expected), the caller keeps the socket it has.
 */
export const SCRATCH = Buffer.allocUnsafeSlow(64 * 1024);
/** The longest frame header (2 + 8 length bytes + 4 mask bytes). */
export const HEADER_SCRATCH = SCRATCH.subarray(0, 14);
const SCRATCH_MEMORY = SCRATCH.buffer;

/** True for a buffer returned by `nextReadBuffer` that is scratch, not a read target. */
export function isScratch(buffer: Buffer): boolean {
  return buffer.buffer === SCRATCH_MEMORY;
}

export interface OwnReader {
  /** `n` bytes were read into the start of `buffer`, the last one `nextReadBuffer` returned. */
  onRead(n: number, buffer: Buffer): void;
  /** Where the next read goes: scratch, or a read target that the reader owns. */
  nextReadBuffer(): Buffer;
}

const READER = Symbol("ferry.reader");
type ReadingSocket = Socket & { [READER]?: OwnReader };

interface SocketInternals {
  _handle: { readStart?: unknown } | null;
  _server: unknown;
  server: unknown;
}

function onOwnRead(this: ReadingSocket, n: number, buffer: Buffer): void {
  this[READER]!.onRead(n, buffer);
}

export interface ConnectionSocket {
  /** The socket to use from now on: a new one, or the one given when it could not be moved. */
  socket: Socket;
  /** The bytes that came with the handshake, and any the old socket read after them. */
  head: Buffer;
  /** The socket reads into ferry's memory, once `startOwnReads` is called. */
  ownReads: boolean;
}

/**
 * Moves an accepted TCP socket's handle to a new socket that reads into ferry's memory; the
 * old socket is destroyed without closing the handle. `head`: bytes that arrived with the
 * handshake. When the socket cannot be moved, it is returned as it was. Reading starts with
 * `startOwnReads`, which must follow in the same turn of the event loop.
 */
export function withOwnReads(socket: Socket, head: Buffer): ConnectionSocket {
  const unchanged = { socket, head, ownReads: false };
  const internals = socket as unknown as SocketInternals;
  const handle = internals._handle;
  // Exactly net.Socket: a TLSSocket reads through its TLS layer, and subclasses may have their own ideas.
  if (socket.constructor !== Socket || handle === null || typeof handle.readStart !== "function") return unchanged;
  if (socket.destroyed || socket.connecting || socket.writableLength > 0) return unchanged;
  let adopted: ReadingSocket | undefined;
  const nextBuffer = (): Buffer => adopted?.[READER]?.nextReadBuffer() ?? SCRATCH;
  internals._handle = null;
  adopted = new Socket({
    handle,
    allowHalfOpen: socket.allowHalfOpen,
    manualStart: true,
    onread: { buffer: nextBuffer, callback: onOwnRead },
  } as ConstructorParameters<typeof Socket>[0]);
  const moved = adopted as unknown as SocketInternals;
  if (moved._handle !== handle) {
    // A Node whose sockets no longer take a handle this way: keep the socket as it was.
    internals._handle = handle;
    return unchanged;
  }
  const buffered = socket.readableLength > 0 ? (socket.read() as Buffer | null) : null;
  // A server counts open connections through its sockets (server.close() waits for them):
  // the count moves to the new socket, which gives it back when it is destroyed.
  moved._server = internals._server;
  moved.server = internals.server;
  internals._server = null;
  internals.server = null;
  socket.destroy();
  return { socket: adopted, head: buffered === null ? head : Buffer.concat([head, buffered]), ownReads: true };
}

/** Hands reads to `reader` and starts reading. */
export function startOwnReads(socket: Socket, reader: OwnReader): void {
  (socket as ReadingSocket)[READER] = reader;
  socket.resume();
}
