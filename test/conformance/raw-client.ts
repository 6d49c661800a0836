/**
 * A deliberately dumb WebSocket client for the conformance suite: it speaks to a server
 * over a plain TCP socket, sends exactly the bytes a test asks for (well-formed or not, in
 * any chop, with any delay), and records everything the server sends back, frame by frame,
 * together with the moment the server closed TCP.
 *
 * Every wait has a timeout, so that a server that misbehaves fails a test instead of hanging it.
 */
import { connect as netConnect, type Socket } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { FrameParser } from "../../src/protocol/frame-parser.ts";
import { encodeClosePayload } from "../../src/protocol/frame-writer.ts";
import { acceptKey, generateKey } from "../../src/protocol/handshake.ts";
import { FIN, frame, FrameReader, maskedFrame, OP_CLOSE, OP_CONTINUATION, parsedEvents, type Payload, payloadBytes } from "../helpers/raw-peer.ts";

export { OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_PONG, OP_TEXT } from "../helpers/raw-peer.ts";

/** Default bound on every wait, in milliseconds. */
export const WAIT_MS = 2000;
/** Bound on one write being taken by the kernel (a server that stops reading blocks it). */
const WRITE_TIMEOUT_MS = 15_000;

/** One message or control frame from the server, after reassembly of fragments. */
export type ServerEvent =
  | { type: "text"; text: string }
  | { type: "binary"; data: Buffer }
  | { type: "ping"; data: Buffer }
  | { type: "pong"; data: Buffer }
  | CloseEvent;

export interface CloseEvent {
  type: "close";
  /** 1005 when the close frame had no payload (a frame cannot carry 1005 itself). */
  code: number;
  reason: string;
  /** Bytes in the close frame's payload: 0 for an empty close frame. */
  payloadLength: number;
}

/** One frame exactly as it came off the wire. */
export interface RawFrame {
  fin: boolean;
  /** RSV1–3 as a 3-bit number. */
  rsv: number;
  opcode: number;
  masked: boolean;
  payloadLength: number;
}

export interface FrameOptions {
  /** [true] */
  fin?: boolean;
  /** RSV1–3 as a 3-bit number (4 = RSV1). [0] */
  rsv?: number;
  /** Clients must mask; false only to provoke the server. [true] */
  mask?: boolean;
}

export interface SendOptions {
  /** Write the bytes in pieces of this many bytes, each its own write. */
  chop?: number;
  /** Milliseconds to wait between pieces (0: one event-loop turn). [0] */
  delay?: number;
}

/**
 * The bytes of one client frame, masked with a fresh key unless told otherwise. `payload` is
 * not modified.
 */
export function buildFrame(opcode: number, payload: Payload = "", options: FrameOptions = {}): Buffer {
  const fin = options.fin ?? true;
  const rsv = options.rsv ?? 0;
  const first = (fin ? FIN : 0) | ((rsv & 7) << 4) | (opcode & 0x0f);
  return options.mask === false ? frame(first, payload) : maskedFrame(first, payload);
}

/** The frames of one message cut into fragments of `fragmentSize` bytes (at least one frame). */
export function buildFragmented(opcode: number, payload: Payload, fragmentSize: number): Buffer[] {
  const bytes = payloadBytes(payload);
  const frames: Buffer[] = [];
  let start = 0;
  do {
    const end = Math.min(start + fragmentSize, bytes.length);
    frames.push(buildFrame(start === 0 ? opcode : OP_CONTINUATION, bytes.subarray(start, end), { fin: end === bytes.length }));
    start = end;
  } while (start < bytes.length);
  return frames;
}

/** The bytes of a client close frame: no payload when `code` is undefined. */
export function buildClose(code?: number, reason: Payload = ""): Buffer {
  const payload =
    code === undefined ? Buffer.alloc(0) : typeof reason === "string" ? encodeClosePayload(code, reason) : Buffer.concat([encodeClosePayload(code), reason]);
  return buildFrame(OP_CLOSE, payload);
}

/** Size of a frame header (with a mask) for a payload of this length. */
export function maskedHeaderSize(payloadLength: number): number {
  return (payloadLength < 126 ? 2 : payloadLength < 65536 ? 4 : 10) + 4;
}

export interface ConnectOptions {
  path?: string;
  timeoutMs?: number;
  /** Bytes sent in the same write as the upgrade request, before the 101 arrives. */
  early?: Uint8Array;
}

export class RawClient {
  /** Every frame the server sent, in order. */
  readonly frames: RawFrame[] = [];
  /** Every message / control event the server sent, in order. */
  readonly events: ServerEvent[] = [];
  /** Frames from the server that a client must reject (masked, bad UTF-8, bad close code…). */
  readonly protocolErrors: string[] = [];
  /** Bytes that arrived after the server's close frame. */
  bytesAfterClose = 0;
  /** The server closed its side of TCP (FIN or reset). */
  serverClosedTcp = false;
  /** The socket is fully closed. */
  socketClosed = false;
  /** Errors of our own writes (the server may close while we still send: expected in failure cases). */
  readonly writeErrors: Error[] = [];
  /** Bytes we handed to the socket so far. */
  bytesSent = 0;

  private consumed = 0;
  private readonly parser = new FrameParser({ role: "client", maxFrameSize: 0, maxMessageSize: 0 });
  private readonly reader = new FrameReader();
  private closeSeen = false;
  private readonly listeners = new Set<() => void>();

  private constructor(readonly socket: Socket, head: Buffer) {
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("end", () => {
      this.serverClosedTcp = true;
      this.notify();
    });
    socket.on("error", (error: Error) => {
      // A reset from the server also ends the connection; keep it for the report.
      this.writeErrors.push(error);
      this.serverClosedTcp = true;
      this.notify();
    });
    socket.on("close", () => {
      this.socketClosed = true;
      this.serverClosedTcp = true;
      this.notify();
    });
    if (head.length > 0) this.onData(head);
  }

  /** Opens a TCP connection to 127.0.0.1 and performs (and checks) the opening handshake. */
  static async connect(port: number, options: ConnectOptions = {}): Promise<RawClient> {
    const path = options.path ?? "/";
    const timeoutMs = options.timeoutMs ?? WAIT_MS;
    const key = generateKey();
    const socket = netConnect({ host: "127.0.0.1", port });
    socket.setNoDelay(true);
    let timer: NodeJS.Timeout | undefined;
    try {
      const head = await new Promise<Buffer>((resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`opening handshake not answered within ${timeoutMs} ms`)), timeoutMs);
        let received = Buffer.alloc(0);
        const onData = (chunk: Buffer): void => {
          received = Buffer.concat([received, chunk]);
          const end = received.indexOf("\r\n\r\n");
          if (end < 0) {
            if (received.length > 16384) fail(new Error("handshake response head too large"));
            return;
          }
          socket.off("data", onData);
          socket.off("error", fail);
          socket.off("close", onClose);
          try {
            checkHandshakeResponse(received.subarray(0, end).toString("latin1"), key);
          } catch (error) {
            reject(error as Error);
            return;
          }
          resolve(received.subarray(end + 4));
        };
        const fail = (error: Error): void => reject(error);
        const onClose = (): void => reject(new Error("server closed the connection during the opening handshake"));
        socket.on("data", onData);
        socket.on("error", fail);
        socket.on("close", onClose);
        const request = Buffer.from(
          `GET ${path} HTTP/1.1\r\n` +
            `Host: 127.0.0.1:${port}\r\n` +
            "Upgrade: websocket\r\n" +
            "Connection: Upgrade\r\n" +
            `Sec-WebSocket-Key: ${key}\r\n` +
            "Sec-WebSocket-Version: 13\r\n" +
            "\r\n",
          "latin1",
        );
        socket.write(options.early === undefined ? request : Buffer.concat([request, options.early]));
      });
      return new RawClient(socket, head);
    } catch (error) {
      socket.destroy();
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  // ---- sending ----

  /** Writes bytes, in chops if asked; resolves once all were handed to the kernel (or failed). */
  async send(bytes: Uint8Array, options: SendOptions = {}): Promise<void> {
    const chop = options.chop ?? bytes.length;
    if (chop <= 0 || chop >= bytes.length) {
      await this.write(bytes);
      return;
    }
    for (let start = 0; start < bytes.length; start += chop) {
      if (this.socket.destroyed) return;
      await this.write(bytes.subarray(start, Math.min(start + chop, bytes.length)));
      await this.pause(options.delay);
    }
  }

  private async pause(delay: number | undefined): Promise<void> {
    if (delay !== undefined && delay > 0) await sleep(delay);
    else await new Promise<void>((resolve) => setImmediate(resolve));
  }

  /**
   * Sends each buffer as its own write ("frame-wise chops"), pausing `delay` ms (or one
   * event-loop turn) after each; `chop` cuts each buffer further.
   */
  async sendEach(buffers: readonly Uint8Array[], options: SendOptions = {}): Promise<void> {
    for (const buffer of buffers) {
      if (this.socket.destroyed) return;
      await this.send(buffer, options);
      await this.pause(options.delay);
    }
  }

  sendFrame(opcode: number, payload: Payload = "", options: FrameOptions & SendOptions = {}): Promise<void> {
    return this.send(buildFrame(opcode, payload, options), options);
  }

  sendClose(code?: number, reason: Payload = "", options: SendOptions = {}): Promise<void> {
    return this.send(buildClose(code, reason), options);
  }

  /** Resolves once the kernel took the bytes; rejects if the server stops reading for too long. */
  private write(bytes: Uint8Array): Promise<void> {
    if (this.socket.destroyed || this.socket.writableEnded) return Promise.resolve();
    this.bytesSent += bytes.length;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`the server did not take ${bytes.length} bytes within ${WRITE_TIMEOUT_MS} ms; received so far: ${this.describe()}`));
      }, WRITE_TIMEOUT_MS);
      this.socket.write(bytes, (error) => {
        clearTimeout(timer);
        if (error) this.writeErrors.push(error);
        resolve();
      });
    });
  }

  // ---- receiving ----

  private onData(chunk: Buffer): void {
    if (this.closeSeen) {
      this.bytesAfterClose += chunk.length;
      this.notify();
      return;
    }
    this.reader.push(chunk);
    for (let wire = this.reader.next(); wire !== undefined; wire = this.reader.next()) {
      const { fin, rsv, opcode, masked } = wire;
      this.frames.push({ fin, rsv, opcode, masked, payloadLength: wire.payload.length });
      this.parser.push(wire.bytes);
      this.readEvents();
      if (this.closeSeen) {
        this.bytesAfterClose += this.reader.discard();
        break;
      }
    }
    this.notify();
  }

  private readEvents(): void {
    for (const event of parsedEvents(this.parser)) {
      if (event.type === "close") {
        this.events.push({ ...event, payloadLength: this.frames[this.frames.length - 1]!.payloadLength });
        this.closeSeen = true;
        return;
      }
      if (event.type === "error") {
        this.protocolErrors.push(event.message);
        // The parser stops at its first error; what follows cannot be read reliably.
        this.closeSeen = true;
        return;
      }
      this.events.push(event);
    }
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }

  /** Resolves once `condition` holds; rejects after `timeoutMs` with `what` in the message. */
  waitFor(condition: () => boolean, what: string, timeoutMs = WAIT_MS): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (!condition()) return;
        done();
        resolve();
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; received so far: ${this.describe()}`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        this.listeners.delete(check);
      };
      this.listeners.add(check);
    });
  }

  /** The next event not yet taken; rejects on timeout, or when TCP closed with nothing more to come. */
  async nextEvent(timeoutMs = WAIT_MS): Promise<ServerEvent> {
    await this.waitFor(() => this.events.length > this.consumed || this.serverClosedTcp, "the next frame", timeoutMs);
    if (this.events.length > this.consumed) return this.events[this.consumed++]!;
    throw new Error(`the server closed TCP without sending more frames; received so far: ${this.describe()}`);
  }

  /** Takes events up to and including the server's close frame. */
  async untilClose(timeoutMs = WAIT_MS): Promise<{ before: ServerEvent[]; close: CloseEvent }> {
    const deadline = Date.now() + timeoutMs;
    const before: ServerEvent[] = [];
    for (;;) {
      const event = await this.nextEvent(Math.max(1, deadline - Date.now()));
      if (event.type === "close") return { before, close: event };
      before.push(event);
    }
  }

  /** Events taken by nothing yet, without waiting. */
  takeAll(): ServerEvent[] {
    const events = this.events.slice(this.consumed);
    this.consumed = this.events.length;
    return events;
  }

  /** Resolves once the server closed its side of TCP. */
  waitForTcpClose(timeoutMs = WAIT_MS): Promise<void> {
    return this.waitFor(() => this.serverClosedTcp, "the server to close TCP", timeoutMs);
  }

  /** Waits `ms` and reports whether anything (a frame, or the end of TCP) arrived meanwhile. */
  async quietFor(ms: number): Promise<boolean> {
    const events = this.events.length;
    const frames = this.frames.length;
    await sleep(ms);
    return this.events.length === events && this.frames.length === frames && !this.serverClosedTcp;
  }

  destroy(): void {
    this.socket.destroy();
  }

  describe(): string {
    const events = this.events.map(describeEvent).join(", ");
    return `[${events}]${this.serverClosedTcp ? " then TCP closed" : ""}${this.protocolErrors.length > 0 ? `; protocol errors: ${this.protocolErrors.join("; ")}` : ""}`;
  }
}

export function describeEvent(event: ServerEvent): string {
  switch (event.type) {
    case "text":
      return `text(${Buffer.byteLength(event.text)} bytes: ${JSON.stringify(preview(event.text))})`;
    case "binary":
    case "ping":
    case "pong":
      return `${event.type}(${event.data.length} bytes: ${event.data.subarray(0, 16).toString("hex")}${event.data.length > 16 ? "…" : ""})`;
    case "close":
      return `close(${event.code}${event.reason === "" ? "" : ` ${JSON.stringify(event.reason)}`})`;
  }
}

function preview(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}

function checkHandshakeResponse(head: string, key: string): void {
  const lines = head.split("\r\n");
  const status = lines[0] ?? "";
  if (!/^HTTP\/1\.1 101 /.test(status)) throw new Error(`expected 101 Switching Protocols, got ${JSON.stringify(status)}`);
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    if (colon <= 0) throw new Error(`malformed header line ${JSON.stringify(line)}`);
    headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  if ((headers.get("upgrade") ?? "").toLowerCase() !== "websocket") throw new Error(`bad Upgrade header: ${headers.get("upgrade")}`);
  const connection = (headers.get("connection") ?? "").toLowerCase().split(",").map((t) => t.trim());
  if (!connection.includes("upgrade")) throw new Error(`bad Connection header: ${headers.get("connection")}`);
  const accept = headers.get("sec-websocket-accept");
  if (accept !== acceptKey(key)) throw new Error(`bad Sec-WebSocket-Accept: ${accept}, expected ${acceptKey(key)}`);
  if (headers.has("sec-websocket-extensions")) throw new Error("the server chose an extension we did not offer");
  if (headers.has("sec-websocket-protocol")) throw new Error("the server chose a sub-protocol we did not offer");
}
