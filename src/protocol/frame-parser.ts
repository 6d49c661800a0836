import { constants as bufferConstants } from "node:buffer";
import { CorruptedFrameError, InvalidContinuationFrameError, PayloadTooLargeError, type WebSocketError } from "../errors.ts";
import { isValidCloseCode, NO_STATUS_RECEIVED } from "./close-codes.ts";
import { applyMask, copyMasked } from "./mask.ts";
import {
  isControlOpcode,
  isKnownOpcode,
  MAX_CONTROL_PAYLOAD,
  OP_CONTINUATION,
  OP_PING,
  OP_PONG,
  OP_TEXT,
} from "./opcodes.ts";
import { MessageBuffer } from "./message-buffer.ts";
import { isUtf8, Utf8StreamValidator } from "./utf8.ts";

/** What `FrameParser.next()` found. The event's data is on the parser until the next call. */
export const EV_NONE = 0;
export const EV_TEXT = 1;
export const EV_BINARY = 2;
export const EV_PING = 3;
export const EV_PONG = 4;
export const EV_CLOSE = 5;
export const EV_ERROR = 6;
export type ParserEvent = 0 | 1 | 2 | 3 | 4 | 5 | 6;

export interface FrameParserOptions {
  /** "server" expects masked frames from its peer, "client" unmasked ones (RFC 6455 §5.1). */
  role: "server" | "client";
  /** Largest accepted frame payload; larger → 1009. 0 or less: no limit. */
  maxFrameSize: number;
  /** Largest accepted message (all fragments); larger → 1009. 0 or less: no limit. */
  maxMessageSize: number;
  /**
   * Whether an extension claims RSV1 (permessage-deflate). Then the first frame of a
   * message may carry it and the message's bytes are handed over undecoded, flagged
   * `compressed`, for the extension to inflate and check.
   */
  rsv1Extension?: boolean;
  /**
   * Most frames one message may have; one more → 1008. 0 or less: no limit. [DEFAULT_MAX_FRAGMENTS]
   */
  maxFragments?: number;
}

/**
 * The default bound on a message's frames: as `ws` (CVE-2026-48779), so that ferry takes every
 * message `ws` takes. Memory follows bytes, not frames (see MessageBuffer); the bound keeps
 * the work of one message within reach of its size: a peer that fragments at 64 KiB, as ferry
 * does, needs 256 frames for a 16 MiB message.
 */
export const DEFAULT_MAX_FRAGMENTS = 16_384;

/**
 * Frames of a fragmented binary (or compressed) message smaller than this are copied into the
 * message's buffer; bigger ones are kept as they were read (in place, or gathered).
 */
const KEEP_FRAME_MIN = 16 * 1024;
/**
 * Pieces of a big frame kept as views until it is gathered; later ones are copied, so that a
 * trickle of tiny reads costs its bytes and not a Buffer each.
 */
const MAX_KEPT_PIECES = 32;

/**
 * A frame that spans reads is gathered in a buffer of its length: allocated when its first
 * piece arrives if it is at most GATHER_UPFRONT long, else once 1/GATHER_RATIO of it has
 * arrived, so that a peer commits us to at most that multiple of what it has sent.
 */
const GATHER_UPFRONT = 256 * 1024;
const GATHER_RATIO = 16;

/**
 * The largest Buffer Node can allocate, and the most UTF-8 bytes a text message may have: V8's
 * longest string is MAX_STRING_LENGTH UTF-16 units, and decoding a longer one throws, so with
 * no limit (or a limit beyond these) a huge message would throw out of the socket's callback.
 * Counting bytes, not units, refuses a little early only text that is mostly 3-byte characters.
 */
const MAX_BUFFER_BYTES = bufferConstants.MAX_LENGTH;
/** @internal See MAX_BUFFER_BYTES. */
export const MAX_TEXT_BYTES = bufferConstants.MAX_STRING_LENGTH;

const S_HEADER = 0;
const S_PAYLOAD = 1;
const S_DONE = 2;
const HEADER_READ = -1;

/**
 * Incremental RFC 6455 frame parser: bytes in, events out, no I/O.
 *
 * `push()` hands it bytes in any chop; `next()` returns one event at a time so that the
 * owner can stop pulling (when a handler is busy) without the parser buffering events.
 * Payloads that arrive within one pushed chunk are unmasked in place and returned as views
 * of it (no copy); such a chunk must not be reused by the caller. A caller that reads into
 * memory of its own pushes it as transient instead, and can ask where the rest of a big
 * payload should be read to (`readTarget`), so that it lands in the message without a copy.
 */
export class FrameParser {
  /** After EV_TEXT. */
  text = "";
  /** After EV_BINARY, EV_PING, EV_PONG. */
  data: Buffer = EMPTY;
  /** After EV_TEXT or EV_BINARY with an RSV1 extension: the payload is still compressed. */
  compressed = false;
  /** After EV_CLOSE: the code (1005 when the frame had none) and the reason. */
  closeCode = NO_STATUS_RECEIVED;
  closeReason = "";
  /** After EV_ERROR: the violation, with the close code to send in `closeCode`. */
  error: WebSocketError | undefined;

  private expectMasked = true;
  private maxFrameSize = Infinity;
  private maxMessageSize = Infinity;
  private maxFragments = DEFAULT_MAX_FRAGMENTS;
  private rsv1Extension = false;

  private chunks: Buffer[] = [];
  /** Read offset into chunks[0]. */
  private offset = 0;
  private buffered = 0;
  private state = S_HEADER;

  private fin = false;
  private opcode = 0;
  private masked = false;
  private maskKey: Uint8Array | undefined;
  private remaining = 0;
  private payloadRead = 0;

  /** Opcode of the data message in progress, 0 when none. */
  private messageOpcode = 0;
  private messageBytes = 0;
  private messageCompressed = false;
  /** Frames of the message in progress so far. */
  private messageFrames = 0;
  /** Whether the current frame's payload is copied into `message` as it comes (see KEEP_FRAME_MIN). */
  private copyFrame = false;
  /** The bytes of the message in progress that are not in the current frame: fragments, or text. */
  private readonly message = new MessageBuffer();
  private readonly utf8 = new Utf8StreamValidator();
  /** The current frame's payload, gathered as it arrives (see `mayGather`). */
  private frameBuffer: Buffer | undefined;
  /** Bytes of memory of its own right after `frameBuffer` (TARGET_LOOKAHEAD when read into as a target, else 0). */
  private frameSlack = 0;
  /** Pieces of the current frame that came before it was gathered, still masked. */
  private readonly framePieces = new MessageBuffer();
  /** The last chunk, when pushed as transient: its memory is reused once the caller is done. */
  private transient: Buffer | undefined;
  private controlParts: Buffer[] | undefined;
  /**
   * Set when bytes of a data frame are read; the owner clears it. Idle timeouts count data
   * frames only, so that keep-alive pings do not hide an idle connection.
   */
  dataFrameRead = false;

  constructor(options: FrameParserOptions) {
    this.configure(options);
  }

  /**
   * Sets the role and limits and starts afresh: for a parser taken from a pool. Connections
   * that share options differ in whether they negotiated compression, hence `rsv1Extension`.
   */
  configure(options: FrameParserOptions, rsv1Extension = options.rsv1Extension ?? false): void {
    this.reset();
    this.state = S_HEADER;
    this.expectMasked = options.role === "server";
    this.maxFrameSize = options.maxFrameSize > 0 ? Math.min(options.maxFrameSize, MAX_BUFFER_BYTES) : MAX_BUFFER_BYTES;
    this.maxMessageSize = options.maxMessageSize > 0 ? Math.min(options.maxMessageSize, MAX_BUFFER_BYTES) : MAX_BUFFER_BYTES;
    const maxFragments = options.maxFragments ?? DEFAULT_MAX_FRAGMENTS;
    this.maxFragments = maxFragments > 0 ? maxFragments : Infinity;
    this.rsv1Extension = rsv1Extension;
    this.dataFrameRead = false;
  }

  /**
   * True between frames with nothing buffered: the parser then holds none of the
   * connection's state and can go back to a pool (after `clearOutputs`).
   */
  get idle(): boolean {
    return this.state === S_HEADER && this.buffered === 0 && this.messageOpcode === 0;
  }

  /** Drops the last event's data, so that a pooled parser keeps nothing alive. */
  clearOutputs(): void {
    this.text = "";
    this.data = EMPTY;
    this.error = undefined;
    this.closeReason = "";
  }

  /** Bytes pushed but not yet consumed. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  /** True once a close frame or an error ended parsing; later bytes are ignored. */
  get done(): boolean {
    return this.state === S_DONE;
  }

  /**
   * Adds bytes. A `transient` chunk is memory the caller reuses: what the parser hands out
   * from it is copied, and `retain()` must be called before the caller reuses it.
   */
  push(chunk: Buffer, transient = false): void {
    if (this.state === S_DONE || chunk.length === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    if (transient) this.transient = chunk;
  }

  /** Copies what is still unread of the transient chunk, whose memory the caller is about to reuse. */
  retain(): void {
    const chunk = this.transient;
    if (chunk === undefined) return;
    this.transient = undefined;
    const last = this.chunks.length - 1;
    if (last < 0 || this.chunks[last] !== chunk) return;
    const from = last === 0 ? this.offset : 0;
    this.chunks[last] = Buffer.from(chunk.subarray(from));
    if (last === 0) this.offset = 0;
  }

  /**
   * Where the next bytes should be read to: the rest of the payload of a binary (or
   * compressed) frame, in the buffer that becomes the message, so that the kernel writes
   * it in place: whatever is left once such reads have begun, else only when at least
   * `minimum` bytes are. Report what was read with `commitTarget`. Undefined when the next
   * bytes are anything else, or are buffered already.
   *
   * The target usually runs TARGET_LOOKAHEAD bytes past the payload, into memory of the
   * parser's own: one read then brings the end of a payload and the header after it, and
   * the next read can go to the next payload, where a read for the header alone would
   * double the reads of a stream of large messages.
   */
  readTarget(minimum: number): Buffer | undefined {
    if (this.state !== S_PAYLOAD || this.buffered !== 0 || this.remaining === 0) return undefined;
    if (this.copyFrame || isControlOpcode(this.opcode) || (this.messageOpcode === OP_TEXT && !this.messageCompressed)) return undefined;
    if (this.frameBuffer === undefined) {
      if (this.remaining < minimum || !this.mayGather(0)) return undefined;
      this.startGather(TARGET_LOOKAHEAD);
    }
    const frame = this.frameBuffer!;
    return Buffer.from(frame.buffer, frame.byteOffset + this.payloadRead, this.remaining + this.frameSlack);
  }

  /**
   * `n` bytes were read to the start of the last `readTarget()`. Those past the payload are
   * taken as a transient chunk: call `retain()` once the events they bring are handled.
   */
  commitTarget(n: number): void {
    const frame = this.frameBuffer!;
    this.dataFrameRead = true;
    const payloadBytes = Math.min(n, this.remaining);
    if (this.masked) applyMask(frame, this.payloadRead, this.payloadRead + payloadBytes, this.maskKey!, this.payloadRead);
    this.payloadRead += payloadBytes;
    this.remaining -= payloadBytes;
    if (n > payloadBytes) this.push(Buffer.from(frame.buffer, frame.byteOffset + frame.length, n - payloadBytes), true);
  }

  next(): ParserEvent {
    for (;;) {
      if (this.state === S_HEADER) {
        const outcome = this.readHeader();
        if (outcome !== HEADER_READ) return outcome;
      } else if (this.state === S_PAYLOAD) {
        const event = this.readPayload();
        if (event !== EV_NONE) return event;
        if (this.state === S_PAYLOAD) return EV_NONE;
      } else {
        return EV_NONE;
      }
    }
  }

  /** Parses a frame header: HEADER_READ, or EV_NONE for more bytes, or EV_ERROR. */
  private readHeader(): ParserEvent | typeof HEADER_READ {
    if (this.buffered < 2) return EV_NONE;
    const b0 = this.peekByte(0);
    const b1 = this.peekByte(1);
    const fin = (b0 & 0x80) !== 0;
    const rsv1 = (b0 & 0x40) !== 0;
    const opcode = b0 & 0x0f;
    const masked = (b1 & 0x80) !== 0;
    const len7 = b1 & 0x7f;
    const control = isControlOpcode(opcode);

    // Everything checkable from the first two bytes fails before the rest arrives.
    if ((b0 & 0x30) !== 0) return this.failEvent(corrupt("Reserved bits RSV2 and RSV3 must be clear"));
    if (!isKnownOpcode(opcode)) return this.failEvent(corrupt(`Reserved opcode 0x${opcode.toString(16)}`));
    if (rsv1 && (!this.rsv1Extension || control || opcode === OP_CONTINUATION)) {
      return this.failEvent(corrupt(this.rsv1Extension ? "RSV1 set on a control or continuation frame" : "RSV1 set but no extension was negotiated"));
    }
    if (control) {
      if (!fin) return this.failEvent(corrupt("Fragmented control frame"));
      if (len7 > MAX_CONTROL_PAYLOAD) return this.failEvent(corrupt("Control frame payload over 125 bytes"));
    } else if (opcode === OP_CONTINUATION) {
      if (this.messageOpcode === 0) return this.failEvent(badContinuation("Continuation frame without a message to continue"));
      if (this.messageFrames >= this.maxFragments) {
        return this.failEvent(new PayloadTooLargeError(`Message of more than ${this.maxFragments} fragments exceeds maxFragments`, { closeCode: 1008 }));
      }
    } else if (this.messageOpcode !== 0) {
      return this.failEvent(badContinuation("New data frame while a fragmented message is in progress"));
    }
    if (masked !== this.expectMasked) {
      return this.failEvent(corrupt(this.expectMasked ? "Client frame is not masked" : "Server frame is masked"));
    }

    const lengthBytes = len7 === 126 ? 2 : len7 === 127 ? 8 : 0;
    const headerSize = 2 + lengthBytes + (masked ? 4 : 0);
    if (this.buffered < headerSize) return EV_NONE;

    let length = len7;
    if (lengthBytes === 2) {
      length = (this.peekByte(2) << 8) | this.peekByte(3);
    } else if (lengthBytes === 8) {
      const high = this.peekByte(2);
      if ((high & 0x80) !== 0) return this.failEvent(corrupt("64-bit payload length with the most significant bit set"));
      // Lengths up to 2^53 are exact in a double; anything larger is over every limit anyway.
      length = 0;
      for (let i = 2; i < 10; i++) length = length * 256 + this.peekByte(i);
    }

    if (length > this.maxFrameSize) {
      return this.failEvent(new PayloadTooLargeError(`Frame of ${length} bytes exceeds maxFrameSize of ${this.maxFrameSize} bytes`));
    }
    if (!control && this.messageBytes + length > this.maxMessageSize) {
      return this.failEvent(new PayloadTooLargeError(`Message exceeds maxMessageSize of ${this.maxMessageSize} bytes`));
    }
    if (!control && this.messageBytes + length > MAX_TEXT_BYTES && this.isPlainText(opcode, rsv1)) {
      return this.failEvent(new PayloadTooLargeError(`Text message over ${MAX_TEXT_BYTES} bytes, the longest string Node can hold`));
    }

    if (masked) {
      const key = this.maskKey ?? (this.maskKey = new Uint8Array(4));
      const at = 2 + lengthBytes;
      key[0] = this.peekByte(at);
      key[1] = this.peekByte(at + 1);
      key[2] = this.peekByte(at + 2);
      key[3] = this.peekByte(at + 3);
    }
    this.skip(headerSize);

    this.fin = fin;
    this.opcode = opcode;
    this.masked = masked;
    this.remaining = length;
    this.payloadRead = 0;
    if (!control) {
      if (opcode !== OP_CONTINUATION) {
        this.messageOpcode = opcode;
        this.messageCompressed = rsv1;
      }
      this.messageBytes += length;
      this.messageFrames++;
      this.copyFrame = length < KEEP_FRAME_MIN && (!fin || this.messageFrames > 1);
    }
    this.state = S_PAYLOAD;
    return HEADER_READ;
  }

  /** Whether a data frame with this opcode and RSV1 belongs to a text message the parser decodes (not compressed). */
  private isPlainText(opcode: number, rsv1: boolean): boolean {
    return opcode === OP_CONTINUATION ? this.messageOpcode === OP_TEXT && !this.messageCompressed : opcode === OP_TEXT && !rsv1;
  }

  private readPayload(): ParserEvent {
    if (isControlOpcode(this.opcode)) return this.readControlPayload();
    this.dataFrameRead = true;
    return this.messageOpcode === OP_TEXT && !this.messageCompressed ? this.readTextPayload() : this.readBytesPayload();
  }

  /** Text is checked as it arrives, so that invalid UTF-8 fails on the piece that made it so, and decoded once, whole. */
  private readTextPayload(): ParserEvent {
    // Fast path: a whole one-frame message inside the current chunk, checked and decoded at once.
    if (this.fin && this.messageFrames === 1 && this.payloadRead === 0 && this.wholeInChunk()) {
      const payload = this.remaining === 0 ? EMPTY : this.takeView(this.remaining);
      this.remaining = 0;
      this.state = S_HEADER;
      this.resetMessage();
      this.compressed = false;
      if (!isUtf8(payload)) return this.failEvent(invalidUtf8());
      this.text = payload.toString("utf8");
      return EV_TEXT;
    }
    while (this.remaining > 0 && this.buffered > 0) {
      const chunk = this.chunks[0]!;
      const start = this.offset;
      const n = Math.min(this.remaining, chunk.length - start);
      const expected = this.mayGather(n) ? this.remaining : n;
      if (this.masked) applyMask(chunk, start, start + n, this.maskKey!, this.payloadRead);
      if (!this.utf8.push(chunk, start, start + n)) return this.failEvent(invalidUtf8());
      this.message.copy(chunk, start, start + n, undefined, 0, expected, this.maxMessageSize);
      this.payloadRead += n;
      this.remaining -= n;
      this.advance(n);
    }
    if (this.remaining > 0) return EV_NONE;
    this.state = S_HEADER;
    if (!this.fin) return EV_NONE;
    const complete = this.utf8.end();
    // Decoded at once and dropped: no need for a buffer of its size.
    const bytes = this.message.take(false);
    this.resetMessage();
    this.compressed = false;
    if (!complete) return this.failEvent(invalidUtf8());
    this.text = bytes.toString("utf8");
    return EV_TEXT;
  }

  private readBytesPayload(): ParserEvent {
    if (this.copyFrame) return this.copyBytesPayload();
    // Fast path: a payload that lies whole in the current chunk, returned as a view of it.
    if (this.payloadRead === 0 && this.frameBuffer === undefined && this.wholeInChunk()) {
      const payload = this.remaining === 0 ? EMPTY : this.take(this.remaining);
      this.remaining = 0;
      return this.endBytesFrame(payload);
    }
    while (this.remaining > 0 && this.buffered > 0) {
      const n = Math.min(this.remaining, this.chunks[0]!.length - this.offset);
      if (this.frameBuffer === undefined && this.mayGather(Math.min(this.remaining, this.buffered))) this.startGather();
      if (this.frameBuffer !== undefined) this.gather(n);
      else this.keepPiece(n);
      this.remaining -= n;
    }
    if (this.remaining > 0) return EV_NONE;
    // The last piece always allows gathering (all of the frame has come by then).
    const gathered = this.frameBuffer!;
    this.frameBuffer = undefined;
    return this.endBytesFrame(gathered);
  }

  private wholeInChunk(): boolean {
    if (this.remaining === 0) return true;
    const chunk = this.chunks[0];
    return chunk !== undefined && chunk.length - this.offset >= this.remaining;
  }

  /** A small frame of a fragmented message: its payload is copied into the message's buffer, unmasked on the way. */
  private copyBytesPayload(): ParserEvent {
    while (this.remaining > 0 && this.buffered > 0) {
      const start = this.offset;
      const n = Math.min(this.remaining, this.chunks[0]!.length - start);
      this.message.copy(this.chunks[0]!, start, start + n, this.masked ? this.maskKey : undefined, this.payloadRead, this.remaining, this.maxMessageSize);
      this.payloadRead += n;
      this.remaining -= n;
      this.advance(n);
    }
    if (this.remaining > 0) return EV_NONE;
    this.state = S_HEADER;
    return this.fin ? this.endMessage(EMPTY) : EV_NONE;
  }

  /** A binary (or compressed) frame's payload is complete and unmasked. */
  private endBytesFrame(payload: Buffer): ParserEvent {
    this.state = S_HEADER;
    if (this.fin && this.messageFrames === 1) {
      const opcode = this.messageOpcode;
      this.compressed = this.messageCompressed;
      this.resetMessage();
      this.data = payload;
      return opcode === OP_TEXT ? EV_TEXT : EV_BINARY;
    }
    if (!this.fin) {
      if (payload.length > 0) this.message.keep(payload);
      return EV_NONE;
    }
    return this.endMessage(payload);
  }

  /** The last frame of a fragmented message is in: `last` is its payload, unless it was copied. */
  private endMessage(last: Buffer): ParserEvent {
    if (last.length > 0) this.message.keep(last);
    const opcode = this.messageOpcode;
    this.compressed = this.messageCompressed;
    this.data = this.message.take();
    this.resetMessage();
    return opcode === OP_TEXT ? EV_TEXT : EV_BINARY;
  }

  /**
   * Whether the current frame may be gathered in a buffer of its full length once `arriving`
   * more bytes are in: at once up to GATHER_UPFRONT, beyond it only when a 1/GATHER_RATIO of
   * the frame has come, so that a header alone cannot commit much memory.
   */
  private mayGather(arriving: number): boolean {
    const length = this.payloadRead + this.remaining;
    return length <= GATHER_UPFRONT || (this.payloadRead + arriving) * GATHER_RATIO >= length;
  }

  /**
   * Allocates the frame's buffer and moves what arrived of it so far in, unmasked. `slack`
   * bytes more are allocated after it, in memory no other buffer shares (not Node's pool).
   */
  private startGather(slack = 0): void {
    const length = this.payloadRead + this.remaining;
    const buffer = slack === 0 ? Buffer.allocUnsafe(length) : Buffer.allocUnsafeSlow(length + slack).subarray(0, length);
    this.frameSlack = slack;
    if (this.framePieces.length > 0) this.framePieces.moveTo(buffer, 0, this.masked ? this.maskKey : undefined);
    this.frameBuffer = buffer;
  }

  /** Consumes `n` bytes within chunks[0] into the frame's buffer, unmasking them on the way. */
  private gather(n: number): void {
    const chunk = this.chunks[0]!;
    const start = this.offset;
    const at = this.payloadRead;
    if (this.masked) copyMasked(chunk, start, start + n, this.maskKey!, at, this.frameBuffer!, at);
    else chunk.copy(this.frameBuffer!, at, start, start + n);
    this.payloadRead += n;
    this.advance(n);
  }

  /** The message's buffers are emptied by whoever took their bytes, or by `reset()`. */
  private resetMessage(): void {
    this.messageOpcode = 0;
    this.messageBytes = 0;
    this.messageFrames = 0;
    this.messageCompressed = false;
  }

  private readControlPayload(): ParserEvent {
    // Control payloads are tiny (≤ 125 bytes): gather them whole, then interpret.
    while (this.remaining > 0 && this.buffered > 0) {
      const chunk = this.chunks[0]!;
      const n = Math.min(this.remaining, chunk.length - this.offset);
      (this.controlParts ?? (this.controlParts = [])).push(this.take(n));
      this.remaining -= n;
    }
    if (this.remaining > 0) return EV_NONE;
    const parts = this.controlParts;
    this.controlParts = undefined;
    const payload = parts === undefined ? EMPTY : parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    this.state = S_HEADER;

    if (this.opcode === OP_PING) {
      this.data = payload;
      return EV_PING;
    }
    if (this.opcode === OP_PONG) {
      this.data = payload;
      return EV_PONG;
    }
    return this.readClose(payload);
  }

  private readClose(payload: Buffer): ParserEvent {
    if (payload.length === 1) return this.failEvent(corrupt("Close frame with a 1-byte payload"));
    let code = NO_STATUS_RECEIVED;
    let reason = "";
    if (payload.length >= 2) {
      code = payload.readUInt16BE(0);
      if (!isValidCloseCode(code)) return this.failEvent(corrupt(`Invalid close code ${code}`));
      const reasonBytes = payload.subarray(2);
      if (!isUtf8(reasonBytes)) return this.failEvent(invalidUtf8("close reason"));
      reason = reasonBytes.toString("utf8");
    }
    this.closeCode = code;
    this.closeReason = reason;
    this.reset();
    return EV_CLOSE;
  }

  /**
   * Consumes `n` bytes that lie within chunks[0], unmasked: a view of the chunk, or a copy
   * when the chunk is transient (the caller reuses its memory after the read).
   */
  private take(n: number): Buffer {
    const chunk = this.chunks[0]!;
    if (chunk !== this.transient) return this.takeView(n);
    const start = this.offset;
    const copy = Buffer.allocUnsafe(n);
    if (this.masked) copyMasked(chunk, start, start + n, this.maskKey!, this.payloadRead, copy, 0);
    else chunk.copy(copy, 0, start, start + n);
    this.payloadRead += n;
    this.advance(n);
    return copy;
  }

  /** Consumes `n` bytes that lie within chunks[0], unmasked in place, as a view: only for bytes used at once. */
  private takeView(n: number): Buffer {
    const chunk = this.chunks[0]!;
    const start = this.offset;
    const end = start + n;
    if (this.masked) applyMask(chunk, start, end, this.maskKey!, this.payloadRead);
    this.payloadRead += n;
    this.advance(n);
    return chunk.subarray(start, end);
  }

  /**
   * Consumes `n` bytes that lie within chunks[0] into `framePieces`, still masked: as a view,
   * or copied when the chunk is transient or enough pieces are held already.
   */
  private keepPiece(n: number): void {
    const chunk = this.chunks[0]!;
    const start = this.offset;
    const pieces = this.framePieces;
    if (chunk !== this.transient && pieces.pieces < MAX_KEPT_PIECES) pieces.keep(chunk.subarray(start, start + n));
    else pieces.copy(chunk, start, start + n, undefined, 0, n, this.payloadRead + this.remaining);
    this.payloadRead += n;
    this.advance(n);
  }

  private peekByte(index: number): number {
    let i = this.offset + index;
    for (let c = 0; ; c++) {
      const chunk = this.chunks[c]!;
      if (i < chunk.length) return chunk[i]!;
      i -= chunk.length;
    }
  }

  private skip(n: number): void {
    while (n > 0) {
      const available = this.chunks[0]!.length - this.offset;
      const step = Math.min(n, available);
      this.advance(step);
      n -= step;
    }
  }

  private advance(n: number): void {
    this.offset += n;
    this.buffered -= n;
    if (this.offset === this.chunks[0]!.length) {
      this.chunks.shift();
      this.offset = 0;
    }
  }

  private failEvent(error: WebSocketError): ParserEvent {
    this.error = error;
    this.closeCode = error.closeCode ?? 1002;
    this.closeReason = "";
    this.reset();
    return EV_ERROR;
  }

  /**
   * Ends parsing and drops every byte held: unread chunks, the message in progress, the pieces
   * of a frame. For a parser that goes back to a pool mid-message, so that it keeps none of
   * that memory alive; `configure` makes it usable again.
   */
  reset(): void {
    this.state = S_DONE;
    this.chunks.length = 0;
    this.offset = 0;
    this.buffered = 0;
    this.resetMessage();
    this.message.clear();
    this.utf8.reset();
    this.controlParts = undefined;
    this.frameBuffer = undefined;
    this.framePieces.clear();
    this.transient = undefined;
  }
}

const EMPTY = Buffer.alloc(0);
/** The longest frame header: 2 bytes, 8 length bytes, 4 mask bytes. */
export const MAX_HEADER_SIZE = 14;
/** How far a read target runs past the payload: room for the next frame's header. */
export const TARGET_LOOKAHEAD = MAX_HEADER_SIZE;

function corrupt(message: string): CorruptedFrameError {
  return new CorruptedFrameError(message, { closeCode: 1002 });
}

function badContinuation(message: string): InvalidContinuationFrameError {
  return new InvalidContinuationFrameError(message, { closeCode: 1002 });
}

function invalidUtf8(what = "text message"): CorruptedFrameError {
  return new CorruptedFrameError(`Invalid UTF-8 in ${what}`, { closeCode: 1007 });
}
