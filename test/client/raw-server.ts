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
import { FrameParser } from "../../src/protocol/frame-parser.ts";
import { encodeClosePayload } from "../../src/protocol/frame-writer.ts";
import { acceptKey, headerTokensPreservingCase } from "../../src/protocol/handshake.ts";
import { applyMask } from "../../src/protocol/mask.ts";
import { FIN, frame, FrameReader, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG, OP_TEXT, onHttpHead, parsedEvents, type Payload, Waiters } from "../helpers/raw-peer.ts";

process.env["FERRY_LOG"] ??= "silent";

export { FIN, frame, OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_PONG, OP_TEXT } from "../helpers/raw-peer.ts";

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
  /** Milliseconds from the connection's acceptance until the whole frame was in. */
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
  /** Keep a socket open after the client's FIN, until the test ends it. [false] */
  allowHalfOpen?: boolean;
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
/** Whether a promise has settled, without waiting for it. */
export async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  promise.then(
    () => (done = true),
    () => (done = true),
  );
  await sleep(0);
  return done;
}

/** A port nothing listens on (yet). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

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
  private readonly waiters = new Waiters();

  private constructor(
    private readonly server: Server,
    private readonly options: RawServerOptions,
  ) {}

  /** Listens on 127.0.0.1 at any free port; closed after the test file. */
  static async start(options: RawServerOptions = {}): Promise<RawServer> {
    const server = createServer({ allowHalfOpen: options.allowHalfOpen ?? false });
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
    await this.waiters.until(() => this.connections.length > index, ms, () => new Error(`timed out waiting for connection #${index}`));
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
    onHttpHead(socket, (head, rest) => {
      const connection = new RawConnection(socket, parseRequest(head));
      this.connections.push(connection);
      (this.options.onRequest ?? ((c: RawConnection) => c.accept()))(connection);
      connection.startReading(rest);
      this.waiters.wake();
    });
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
  private readonly reader = new FrameReader();
  private readonly waiters = new Waiters();

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
      this.waiters.wake();
    });
    socket.on("close", () => {
      this.tcpClosed = true;
      this.waiters.wake();
    });
    if (rest.length > 0) this.onData(rest);
  }

  // ---- what the client sent ----

  private onData(chunk: Buffer): void {
    this.record(chunk);
    this.parser.push(chunk);
    for (const event of parsedEvents(this.parser)) {
      if (event.type === "close") {
        const last = this.frames.at(-1);
        this.events.push({ ...event, payloadLength: last?.opcode === OP_CLOSE ? last.payload.length : -1 });
        this.onClientClose(event.code);
      } else this.events.push(event);
    }
    this.waiters.wake();
  }

  private onClientClose(code: number): void {
    if (!this.answerClose) return;
    if (!this.closeSent) this.sendClose(code === 1005 ? undefined : code);
    this.socket.end();
  }

  /** A second, independent pass that keeps every frame as it was on the wire, unmasked. */
  private record(chunk: Buffer): void {
    this.reader.push(chunk);
    for (let wire = this.reader.next(); wire !== undefined; wire = this.reader.next()) {
      const { fin, rsv, opcode, masked, maskKey, payload } = wire;
      if (maskKey !== undefined) applyMask(payload, 0, payload.length, maskKey);
      this.frames.push({ fin, rsv, opcode, masked, maskKey, payload, at: Date.now() - this.acceptedAt });
    }
  }

  /** Waits until `predicate` holds (checked on every event), failing after `ms`. */
  until(predicate: () => boolean, ms = WAIT_MS, what = "condition"): Promise<void> {
    const failure = (): Error => new Error(`timed out waiting for ${what}; client sent: [${this.events.map(describeEvent).join(", ")}]`);
    return this.waiters.until(predicate, ms, failure);
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
  sendFrame(first: number, payload: Payload = "", options: { maskKey?: Uint8Array } = {}): void {
    this.write(frame(first, payload, options.maskKey));
  }

  sendText(text: string): void {
    this.sendFrame(FIN | OP_TEXT, text);
  }

  sendBinary(data: Uint8Array): void {
    this.sendFrame(FIN | OP_BINARY, data);
  }

  sendPing(data: Payload = ""): void {
    this.sendFrame(FIN | OP_PING, data);
  }

  sendPong(data: Payload = ""): void {
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
