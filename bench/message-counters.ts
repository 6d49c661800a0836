/** Turns echoed bytes into a count of whole messages received back. */
export interface MessageCounter {
  /** Feeds a chunk; returns how many messages it completed. */
  push(chunk: Buffer): number;
  /** Set when the server sent something other than the expected echo; counting stops. */
  readonly failure: string | undefined;
}

/**
 * For the raw TCP server, which has no framing: it echoes the same frame bytes back, so a
 * message is complete each time another frame's worth of bytes has arrived.
 */
export class ByteCounter implements MessageCounter {
  private pending = 0;
  readonly failure = undefined;

  constructor(private readonly frameLength: number) {}

  push(chunk: Buffer): number {
    this.pending += chunk.length;
    const completed = Math.floor(this.pending / this.frameLength);
    this.pending -= completed * this.frameLength;
    return completed;
  }
}

/**
 * Counts whole messages in the unmasked frames a server sends, without copying payloads:
 * it reads only headers and skips payload bytes by arithmetic, so the generator stays cheap
 * at any message size. It checks just enough (each message's length and kind, no mask, no
 * close) to notice a server that echoes the wrong thing instead of silently counting garbage.
 */
export class FrameCounter implements MessageCounter {
  private readonly header = Buffer.alloc(14);
  private headerLength = 0;
  private payloadRemaining = 0;
  private messageBytes = 0;
  private frameIsData = false;
  private frameIsFinal = false;
  private frameOpcode = 0;

  failure: string | undefined;

  constructor(
    private readonly expectedMessageSize: number,
    /** The opcode the message was sent with: an echo must come back as the same kind. */
    private readonly expectedOpcode: number,
  ) {}

  push(chunk: Buffer): number {
    let completed = 0;
    let i = 0;
    const length = chunk.length;
    while (i < length && this.failure === undefined) {
      if (this.payloadRemaining > 0) {
        const take = Math.min(this.payloadRemaining, length - i);
        this.payloadRemaining -= take;
        i += take;
        if (this.payloadRemaining === 0) completed += this.endFrame();
        continue;
      }
      this.header[this.headerLength++] = chunk[i++]!;
      if (this.headerLength < 2) continue;
      const second = this.header[1]!;
      if (second & 0x80) {
        this.failure = "server sent a masked frame";
        break;
      }
      const length7 = second & 0x7f;
      const needed = length7 === 126 ? 4 : length7 === 127 ? 10 : 2;
      if (this.headerLength < needed) continue;
      const payloadLength =
        length7 === 126
          ? this.header.readUInt16BE(2)
          : length7 === 127
            ? this.header.readUInt32BE(2) * 2 ** 32 + this.header.readUInt32BE(6)
            : length7;
      this.startFrame(payloadLength);
      if (payloadLength === 0) completed += this.endFrame();
    }
    return completed;
  }

  private startFrame(payloadLength: number): void {
    const first = this.header[0]!;
    this.headerLength = 0;
    this.frameOpcode = first & 0x0f;
    this.frameIsFinal = (first & 0x80) !== 0;
    this.frameIsData = this.frameOpcode < 0x8;
    this.payloadRemaining = payloadLength;
    if (this.frameIsData && this.frameOpcode !== 0 && this.frameOpcode !== this.expectedOpcode) {
      this.failure = `echo came back with opcode ${this.frameOpcode}, sent with ${this.expectedOpcode}`;
    }
    if (this.frameIsData) this.messageBytes += payloadLength;
  }

  private endFrame(): number {
    if (!this.frameIsData) {
      // Pings would be legal, but none of the echo servers sends one; a close means the
      // server gave up on this connection, which the cell must report rather than hide.
      if (this.frameOpcode === 0x8) this.failure = "server sent a close frame";
      return 0;
    }
    if (!this.frameIsFinal) return 0;
    const size = this.messageBytes;
    this.messageBytes = 0;
    if (size !== this.expectedMessageSize) {
      this.failure = `echoed message of ${size} bytes, expected ${this.expectedMessageSize}`;
      return 0;
    }
    return 1;
  }
}
