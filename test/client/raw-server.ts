/**
 * A deliberately dumb WebSocket *server* on node:net for the client's tests: it reads the
 * HTTP request, lets the test answer it (a correct 101 by default, or any bytes at all), then
 * sends exactly the frames a test asks for and records every frame the client sends, with its
 * mask bit and key, and the client's messages as FrameParser (role "server") sees them.
 *
 * By default it behaves like a polite server on closing: it echoes the client's close frame
 * and then closes TCP, and closes TCP once the client answered its own close frame. A test
 * can turn that off (`answerClose = false`) to play a server that never answers.
 *
 * Every wait is bounded, so a client that misbehaves fails a test instead of hanging it.
 */
import { AssertionError } from "node:assert/strict";
import { createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { after } from "node:test";
import {
  EV_BINARY,
  EV_CLOSE,
  EV_ERROR,
  EV_NONE,
  EV_PING,
  EV_PONG,
  EV_TEXT,
  FrameParser,
} from "../../src/protocol/frame-parser.ts";
import { encodeClosePayload, encodeFrame, FIN } from "../../src/protocol/frame-writer.ts";
import { acceptKey, headerTokensPreservingCase } from "../../src/protocol/handshake.ts";
import { applyMask } from "../../src/protocol/mask.ts";

process.env["FERRY_LOG"] ??= "silent";

export const OP_CONTINUATION = 0x0;
export const OP_TEXT = 0x1;
export const OP_BINARY = 0x2;
export const OP_CLOSE = 0x8;
export const OP_PING = 0x9;
export const OP_PONG = 0xa;
export { FIN };

/** Default bound on every wait, in milliseconds. */
export const WAIT_MS = 3000;

/** One frame exactly as the client sent it; `payload` is unmasked. */
export interface ClientFrame {
  fin: boolean;
  /** RSV1–3 as a 3-bit number (4 = RSV1). */
  rsv: number;
  opcode: number;
  masked: boolean;
  maskKey: Buffer | undefined;
  payload: Buffer;
  /** Milliseconds since the connection was accepted. */
  at: number;
}

/** A message or control frame from the client, after reassembly, as FrameParser("server") reports it. */
export type ClientEvent =
  | { type: "text"; text: string }
  | { type: "binary"; data: Buffer }
  | { type: "ping" | "pong"; data: Buffer }
  | { type: "close"; code: number; reason: string; payloadLength: number }
  | { type: "error"; message: string; closeCode: number | undefined };

export interface RawRequest {
  method: string;
  path: string;
  /** Header names lower-cased; repeated headers joined with ", ". */
  headers: Record<string, string>;
  head: string;
}

export interface RawServerOptions {
  /**
   * Called once a connection's request head is in. The default answers a correct 101 that
   * picks the first offered sub-protocol; a test can answer anything (or nothing).
   */
  onRequest?: (connection: RawConnection) => void;
}

export function describeEvent(event: ClientEvent): string {
  switch (event.type) {
    case "text":
      return `text(${JSON.stringify(event.text.length > 40 ? `${event.text.slice(0, 40)}…(${event.text.length})` : event.text)})`;
    case "close":
      return `close(${event.code}, ${JSON.stringify(event.reason)}, ${event.payloadLength} bytes)`;
    case "error":
      return `error(${event.message})`;
    default:
      return `${event.type}(${event.data.length > 40 ? `${event.data.length} bytes` : event.data.toString("hex")})`;
  }
}

/**
 * `value instanceof Class`, failing with a message that shows what came instead. (A bare
 * `assert.ok(x)` that fails makes Node re-read and parse the source to describe the
 * expression, which under tsx's source maps can spin for a minute: always pass a message.)
 */
export function assertInstance<T>(value: unknown, Class: abstract new (...args: never[]) => T): asserts value is T {
  if (!(value instanceof Class)) {
    const got = value instanceof Error ? `${value.name}: ${value.message}` : String(value);
    throw new AssertionError({ message: `expected ${Class.name}, got ${got}`, actual: value, expected: Class, operator: "instanceof" });
  }
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Rejects if `promise` does not settle within `ms`. */
export function within<T>(promise: Promise<T>, ms = WAIT_MS, what = "operation"): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
    }),
  ]);
}

/** The error a promise rejects with (fails when it resolves, or takes longer than `ms`). */
export async function rejection(promise: Promise<unknown>, ms = WAIT_MS, what = "operation"): Promise<Error> {
  try {
    await within(promise, ms, what);
  } catch (error) {
    if (error instanceof Error && error.message === `${what} did not settle within ${ms} ms`) throw error;
    return error as Error;
  }
  throw new Error(`${what} resolved; a rejection was expected`);
}

/** Polls `predicate` every 5 ms until it holds, failing after `ms`. */
export async function eventually(predicate: () => boolean, ms = WAIT_MS, what = "condition"): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(5);
  }
}

export class RawServer {
  readonly connections: RawConnection[] = [];
  private readonly sockets = new Set<Socket>();
  private waiters: (() => void)[] = [];

  private constructor(
    private readonly server: Server,
    private readonly options: RawServerOptions,
  ) {}

  /** Listens on 127.0.0.1 at any free port; closed after the test file. */
  static async start(options: RawServerOptions = {}): Promise<RawServer> {
    const server = createServer();
    const raw = new RawServer(server, options);
    server.on("connection", (socket) => raw.onConnection(socket));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    after(() => raw.close());
    return raw;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}`;
  }

  /** The nth connection (0-based) whose request head has arrived. */
  async connection(index = 0, ms = WAIT_MS): Promise<RawConnection> {
    const deadline = Date.now() + ms;
    while (this.connections.length <= index) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for connection #${index}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.connections[index]!;
  }

  /** Destroys every socket and stops listening. */
  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    if (!this.server.listening) return;
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private onConnection(socket: Socket): void {
    this.sockets.add(socket);
    socket.on("close", () => this.sockets.delete(socket));
    socket.on("error", () => undefined);
    socket.setNoDelay(true);
    let buffered = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      buffered = Buffer.concat([buffered, chunk]);
      const end = buffered.indexOf("\r\n\r\n");
      if (end < 0) return;
      socket.off("data", onData);
      const head = buffered.subarray(0, end).toString("latin1");
      const connection = new RawConnection(socket, parseRequest(head));
      this.connections.push(connection);
      const rest = buffered.subarray(end + 4);
      (this.options.onRequest ?? ((c: RawConnection) => c.accept()))(connection);
      connection.startReading(rest);
      const waiters = this.waiters;
      this.waiters = [];
      for (const waiter of waiters) waiter();
    };
    socket.on("data", onData);
  }
}

function parseRequest(head: string): RawRequest {
  const [requestLine = "", ...lines] = head.split("\r\n");
  const [method = "", path = ""] = requestLine.split(" ");
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  return { method, path, headers, head };
}

export class RawConnection {
  readonly frames: ClientFrame[] = [];
  readonly events: ClientEvent[] = [];
  /** The client's FIN came (it half-closed or closed). */
  ended = false;
  tcpClosed = false;
  /** Echo the client's close frame and close TCP; close TCP once our own close is answered. */
  answerClose = true;
  closeSent = false;
  /** When the request head was in (Date.now()). */
  readonly acceptedAt = Date.now();
  private readonly parser = new FrameParser({ role: "server", maxFrameSize: 0, maxMessageSize: 0 });
  private waiters: (() => void)[] = [];
  private head = Buffer.alloc(0);
  private current: (Omit<ClientFrame, "payload"> & { parts: Buffer[]; remaining: number }) | undefined;

  constructor(
    readonly socket: Socket,
    readonly request: RawRequest,
  ) {}

  /** The sub-protocols the client offered, in order. */
  get offeredProtocols(): string[] {
    return headerTokensPreservingCase(this.request.headers["sec-websocket-protocol"]);
  }

  /** The Sec-WebSocket-Accept the client expects. */
  get expectedAccept(): string {
    return acceptKey(this.request.headers["sec-websocket-key"] ?? "");
  }

  /**
   * Writes a correct 101. `protocol`: the sub-protocol to pick (undefined: the first
   * offered; null: none). `extraHeaders`: more header lines.
   */
  accept(options: { protocol?: string | null; extraHeaders?: string[]; frames?: Buffer[] } = {}): void {
    const protocol = options.protocol === undefined ? this.offeredProtocols[0] : (options.protocol ?? undefined);
    const lines = [
      "HTTP/1.1 101 Switching Protocols",
      "Upgrade: websocket",
      "Connection: Upgrade",
      `Sec-WebSocket-Accept: ${this.expectedAccept}`,
      ...(protocol === undefined ? [] : [`Sec-WebSocket-Protocol: ${protocol}`]),
      ...(options.extraHeaders ?? []),
      "",
      "",
    ];
    this.socket.write(Buffer.concat([Buffer.from(lines.join("\r\n"), "latin1"), ...(options.frames ?? [])]));
  }

  startReading(rest: Buffer): void {
    const socket = this.socket;
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("end", () => {
      this.ended = true;
      this.wake();
    });
    socket.on("close", () => {
      this.tcpClosed = true;
      this.wake();
    });
    if (rest.length > 0) this.onData(rest);
  }

  // ---- what the client sent ----

  private onData(chunk: Buffer): void {
    this.record(chunk);
    // FrameParser unmasks in place; record() kept copies of everything it needs.
    this.parser.push(chunk);
    for (let event = this.parser.next(); event !== EV_NONE; event = this.parser.next()) {
      const p = this.parser;
      if (event === EV_TEXT) this.events.push({ type: "text", text: p.text });
      else if (event === EV_BINARY) this.events.push({ type: "binary", data: Buffer.from(p.data) });
      else if (event === EV_PING) this.events.push({ type: "ping", data: Buffer.from(p.data) });
      else if (event === EV_PONG) this.events.push({ type: "pong", data: Buffer.from(p.data) });
      else if (event === EV_CLOSE) {
        const last = this.frames.at(-1);
        this.events.push({ type: "close", code: p.closeCode, reason: p.closeReason, payloadLength: last?.opcode === OP_CLOSE ? last.payload.length : -1 });
        this.onClientClose(p.closeCode);
      } else if (event === EV_ERROR) this.events.push({ type: "error", message: p.error!.message, closeCode: p.error!.closeCode });
    }
    this.wake();
  }

  private onClientClose(code: number): void {
    if (!this.answerClose) return;
    if (!this.closeSent) this.sendClose(code === 1005 ? undefined : code);
    this.socket.end();
  }

  /** A second, independent pass that keeps every frame as it was on the wire. */
  private record(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length) {
      const current = this.current;
      if (current === undefined) {
        const before = this.head.length;
        const take = Math.min(14 - before, chunk.length - at);
        const bytes = Buffer.concat([this.head, chunk.subarray(at, at + take)]);
        const header = parseHeader(bytes);
        if (header === undefined) {
          this.head = bytes;
          at += take;
          continue;
        }
        at += header.size - before;
        this.head = Buffer.alloc(0);
        this.current = { ...header.frame, at: Date.now() - this.acceptedAt, parts: [], remaining: header.length };
      } else {
        const n = Math.min(current.remaining, chunk.length - at);
        current.parts.push(Buffer.from(chunk.subarray(at, at + n)));
        current.remaining -= n;
        at += n;
      }
      const frame = this.current!;
      if (frame.remaining === 0) {
        const payload = Buffer.concat(frame.parts);
        if (frame.maskKey !== undefined) applyMask(payload, 0, payload.length, frame.maskKey);
        const { parts: _parts, remaining: _remaining, ...rest } = frame;
        this.frames.push({ ...rest, payload });
        this.current = undefined;
      }
    }
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter();
  }

  /** Waits until `predicate` holds (checked on every event), failing after `ms`. */
  async until(predicate: () => boolean, ms = WAIT_MS, what = "condition"): Promise<void> {
    const deadline = Date.now() + ms;
    while (!predicate()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; client sent: [${this.events.map(describeEvent).join(", ")}]`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** The nth event (0-based) from the client. */
  async event(index: number, ms = WAIT_MS): Promise<ClientEvent> {
    await this.until(() => this.events.length > index, ms, `event #${index}`);
    return this.events[index]!;
  }

  /** Waits for the client's close frame; returns it with the events before it. */
  async closeFromClient(ms = WAIT_MS): Promise<{ before: ClientEvent[]; close: Extract<ClientEvent, { type: "close" }> }> {
    await this.until(() => this.events.some((e) => e.type === "close" || e.type === "error"), ms, "the client's close frame");
    const index = this.events.findIndex((e) => e.type === "close" || e.type === "error");
    const close = this.events[index]!;
    if (close.type !== "close") throw new Error(`the client sent an invalid frame: ${describeEvent(close)}`);
    return { before: this.events.slice(0, index), close };
  }

  async waitForTcpClose(ms = WAIT_MS): Promise<void> {
    await this.until(() => this.tcpClosed, ms, "TCP close");
  }

  // ---- sending ----

  write(bytes: Uint8Array | string): void {
    this.socket.write(typeof bytes === "string" ? Buffer.from(bytes, "utf8") : bytes);
  }

  /** Writes `bytes` in pieces of `size`, with `gapMs` between them. */
  async writeChopped(bytes: Buffer, size: number, gapMs = 0): Promise<void> {
    for (let at = 0; at < bytes.length; at += size) {
      this.socket.write(bytes.subarray(at, at + size));
      await sleep(gapMs);
    }
  }

  /** Sends one frame; `first` is FIN|RSV|opcode. */
  sendFrame(first: number, payload: Uint8Array | string = "", options: { maskKey?: Uint8Array } = {}): void {
    this.write(frame(first, payload, options.maskKey));
  }

  sendText(text: string): void {
    this.sendFrame(FIN | OP_TEXT, text);
  }

  sendBinary(data: Uint8Array): void {
    this.sendFrame(FIN | OP_BINARY, data);
  }

  sendPing(data: Uint8Array | string = ""): void {
    this.sendFrame(FIN | OP_PING, data);
  }

  sendPong(data: Uint8Array | string = ""): void {
    this.sendFrame(FIN | OP_PONG, data);
  }

  sendClose(code?: number, reason = ""): void {
    this.closeSent = true;
    this.sendFrame(FIN | OP_CLOSE, encodeClosePayload(code, reason));
  }

  /** Sends a close frame and, politely, closes TCP once the client answered. */
  async closeHandshake(code?: number, reason = "", ms = WAIT_MS): Promise<Extract<ClientEvent, { type: "close" }>> {
    this.sendClose(code, reason);
    const { close } = await this.closeFromClient(ms);
    this.socket.end();
    return close;
  }

  end(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** One frame as bytes (unmasked unless a key is given). */
export function frame(first: number, payload: Uint8Array | string = "", maskKey?: Uint8Array): Buffer {
  const bytes = typeof payload === "string" ? Buffer.from(payload, "utf8") : payload;
  return encodeFrame(first, bytes, maskKey);
}

function parseHeader(bytes: Buffer): { frame: Omit<ClientFrame, "payload">; length: number; size: number } | undefined {
  if (bytes.length < 2) return undefined;
  const b0 = bytes[0]!;
  const b1 = bytes[1]!;
  const masked = (b1 & 0x80) !== 0;
  const len7 = b1 & 0x7f;
  const lengthBytes = len7 === 126 ? 2 : len7 === 127 ? 8 : 0;
  const size = 2 + lengthBytes + (masked ? 4 : 0);
  if (bytes.length < size) return undefined;
  const length = len7 === 126 ? bytes.readUInt16BE(2) : len7 === 127 ? Number(bytes.readBigUInt64BE(2)) : len7;
  const maskKey = masked ? Buffer.from(bytes.subarray(2 + lengthBytes, size)) : undefined;
  return {
    frame: { fin: (b0 & 0x80) !== 0, rsv: (b0 >> 4) & 7, opcode: b0 & 0x0f, masked, maskKey, at: 0 },
    length,
    size,
  };
}
