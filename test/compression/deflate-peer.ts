/**
 * A permessage-deflate peer on a bare socket, for tests that must see and send compressed
 * frames exactly: RSV bits, fragments, what is compressed and what is not. It plays either
 * role: a client against a ferry Listener (`connectDeflate`), or a server for ferry's Client
 * (`DeflateTestServer`). It never relies on ferry's codec: it compresses and inflates with
 * zlib's one-shot functions, carrying context takeover over as a preset dictionary (the last
 * window of bytes), which is exactly what an LZ77 window is.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { createServer, connect, type AddressInfo, type Server, type Socket } from "node:net";
import { after } from "node:test";
import { constants, deflateRawSync, inflateRawSync } from "node:zlib";
import { acceptKey } from "../../src/protocol/handshake.ts";
import { RSV1 } from "../../src/protocol/frame-writer.ts";
import { applyMask } from "../../src/protocol/mask.ts";
import { upgradeRequest } from "../helpers/listener.ts";
import { FIN, OP_BINARY, OP_CLOSE, OP_CONTINUATION, onHttpHead, OP_PING, OP_PONG, OP_TEXT } from "../helpers/raw-peer.ts";

process.env["FERRY_LOG"] ??= "silent";

export { FIN, OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_PONG, OP_TEXT, RSV1 };

export const WAIT_MS = 5000;
const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/** The agreed parameters, as RFC 7692 names them. */
export interface Terms {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  serverMaxWindowBits: number;
  clientMaxWindowBits: number;
}

/** Compresses messages one after another; with context takeover each may refer to the bytes before it. */
export class TestDeflater {
  private history = Buffer.alloc(0);

  constructor(
    private readonly noContext: boolean,
    private readonly windowBits: number,
    private readonly level = constants.Z_DEFAULT_COMPRESSION,
  ) {}

  /** The compressed payload, without the 0x00 0x00 0xff 0xff tail. */
  compress(data: Uint8Array): Buffer {
    const options = { windowBits: Math.max(this.windowBits, 9), level: this.level, finishFlush: constants.Z_SYNC_FLUSH };
    const output = this.noContext || this.history.length === 0 ? deflateRawSync(data, options) : deflateRawSync(data, { ...options, dictionary: this.history });
    if (!this.noContext) this.remember(data);
    assert.deepEqual(output.subarray(-4), TAIL, "a sync flush ends with 00 00 ff ff");
    return output.subarray(0, output.length - 4);
  }

  private remember(data: Uint8Array): void {
    // 8 bits is really 9 in zlib; a smaller dictionary is always safe.
    const window = 1 << this.windowBits;
    this.history = Buffer.concat([this.history, data]);
    if (this.history.length > window) this.history = this.history.subarray(this.history.length - window);
  }
}

/** Inflates messages one after another, keeping the window when the sender takes over context. */
export class TestInflater {
  private history = Buffer.alloc(0);

  constructor(
    private readonly noContext: boolean,
    private readonly windowBits: number,
  ) {}

  inflate(payload: Buffer): Buffer {
    const input = Buffer.concat([payload, TAIL]);
    const options = { windowBits: Math.max(this.windowBits, 9), finishFlush: constants.Z_SYNC_FLUSH };
    const output = this.noContext || this.history.length === 0 ? inflateRawSync(input, options) : inflateRawSync(input, { ...options, dictionary: this.history });
    if (!this.noContext) {
      const window = 1 << Math.max(this.windowBits, 9);
      this.history = Buffer.concat([this.history, output]);
      if (this.history.length > window) this.history = this.history.subarray(this.history.length - window);
    }
    return output;
  }
}

/** One frame as it was on the wire (payload unmasked). */
export interface WireFrame {
  fin: boolean;
  rsv: number;
  opcode: number;
  masked: boolean;
  payload: Buffer;
}

export type PeerEvent =
  | { type: "text"; text: string; compressed: boolean; frames: number; wireBytes: number }
  | { type: "binary"; data: Buffer; compressed: boolean; frames: number; wireBytes: number }
  | { type: "ping" | "pong"; data: Buffer }
  | { type: "close"; code: number; reason: string }
  | { type: "violation"; message: string };

export interface SendOptions {
  /** Compress (RSV1 on the first frame). [true when compression was agreed] */
  compress?: boolean;
  /** Split the wire payload into frames of this many bytes. */
  fragment?: number;
  /** Override the first frame's first byte (FIN, RSV, opcode). */
  first?: number;
}

export function frameBytes(first: number, payload: Uint8Array, masked: boolean): Buffer {
  const length = payload.length;
  const lengthBytes = length < 126 ? 0 : length < 65536 ? 2 : 8;
  const header = Buffer.alloc(2 + lengthBytes + (masked ? 4 : 0));
  header[0] = first;
  header[1] = (masked ? 0x80 : 0) | (lengthBytes === 0 ? length : lengthBytes === 2 ? 126 : 127);
  if (lengthBytes === 2) header.writeUInt16BE(length, 2);
  if (lengthBytes === 8) header.writeBigUInt64BE(BigInt(length), 2);
  const body = Buffer.from(payload);
  if (masked) {
    const key = randomBytes(4);
    key.copy(header, 2 + lengthBytes);
    applyMask(body, 0, body.length, key);
  }
  return Buffer.concat([header, body]);
}

/**
 * The peer itself. It answers a close frame with the same code and then ends TCP, records
 * every frame, and reassembles and inflates messages, noting any frame that breaks RFC 7692
 * (RSV1 on a continuation or control frame, RSV1 without compression) as a "violation".
 */
export class DeflatePeer {
  readonly frames: WireFrame[] = [];
  readonly events: PeerEvent[] = [];
  tcpClosed = false;
  closeSent = false;
  readonly deflater: TestDeflater | undefined;
  readonly inflater: TestInflater | undefined;
  private buffered = Buffer.alloc(0);
  private message: WireFrame[] = [];
  private waiters: (() => void)[] = [];

  constructor(
    readonly socket: Socket,
    readonly role: "client" | "server",
    readonly terms: Terms | undefined,
    rest: Buffer = Buffer.alloc(0),
    level?: number,
  ) {
    if (terms !== undefined) {
      const client = role === "client";
      this.deflater = new TestDeflater(
        client ? terms.clientNoContextTakeover : terms.serverNoContextTakeover,
        client ? terms.clientMaxWindowBits : terms.serverMaxWindowBits,
        level,
      );
      this.inflater = new TestInflater(
        client ? terms.serverNoContextTakeover : terms.clientNoContextTakeover,
        client ? terms.serverMaxWindowBits : terms.clientMaxWindowBits,
      );
    }
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("error", () => undefined);
    socket.on("close", () => {
      this.tcpClosed = true;
      this.wake();
    });
    if (rest.length > 0) this.onData(rest);
  }

  private get masked(): boolean {
    return this.role === "client";
  }

  private onData(chunk: Buffer): void {
    this.buffered = Buffer.concat([this.buffered, chunk]);
    for (;;) {
      const b = this.buffered;
      if (b.length < 2) break;
      const len7 = b[1]! & 0x7f;
      const masked = (b[1]! & 0x80) !== 0;
      const lengthBytes = len7 === 126 ? 2 : len7 === 127 ? 8 : 0;
      const size = 2 + lengthBytes + (masked ? 4 : 0);
      if (b.length < size) break;
      const length = len7 === 126 ? b.readUInt16BE(2) : len7 === 127 ? Number(b.readBigUInt64BE(2)) : len7;
      if (b.length < size + length) break;
      const payload = Buffer.from(b.subarray(size, size + length));
      if (masked) applyMask(payload, 0, length, b.subarray(2 + lengthBytes, size));
      this.buffered = b.subarray(size + length);
      this.onFrame({ fin: (b[0]! & 0x80) !== 0, rsv: (b[0]! >> 4) & 7, opcode: b[0]! & 0x0f, masked, payload });
    }
    // An empty view would still keep the buffer it was cut from, a pooled one included.
    if (this.buffered.length === 0) this.buffered = Buffer.alloc(0);
    this.wake();
  }

  private onFrame(frame: WireFrame): void {
    this.frames.push(frame);
    if (frame.masked !== (this.role === "server")) this.violation(`frame masked: ${frame.masked}`);
    if (frame.opcode >= 0x8) {
      if (frame.rsv !== 0) this.violation(`RSV ${frame.rsv} on a control frame`);
      if (frame.opcode === OP_PING) this.events.push({ type: "ping", data: frame.payload });
      else if (frame.opcode === OP_PONG) this.events.push({ type: "pong", data: frame.payload });
      else this.onClose(frame.payload);
      return;
    }
    if (frame.opcode === OP_CONTINUATION && frame.rsv !== 0) this.violation(`RSV ${frame.rsv} on a continuation frame`);
    if (frame.opcode !== OP_CONTINUATION && (frame.rsv & 3) !== 0) this.violation(`RSV ${frame.rsv} on a data frame`);
    this.message.push(frame);
    if (!frame.fin) return;
    const frames = this.message;
    this.message = [];
    const compressed = (frames[0]!.rsv & 4) !== 0;
    if (compressed && this.inflater === undefined) {
      this.violation("RSV1 without permessage-deflate");
      return;
    }
    const wire = Buffer.concat(frames.map((f) => f.payload));
    let data: Buffer;
    try {
      data = compressed ? this.inflater!.inflate(wire) : wire;
    } catch (error) {
      this.violation(`cannot inflate: ${(error as Error).message}`);
      return;
    }
    const common = { compressed, frames: frames.length, wireBytes: wire.length };
    if (frames[0]!.opcode === OP_TEXT) this.events.push({ type: "text", text: data.toString("utf8"), ...common });
    else this.events.push({ type: "binary", data, ...common });
  }

  private onClose(payload: Buffer): void {
    const code = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
    this.events.push({ type: "close", code, reason: payload.subarray(2).toString("utf8") });
    if (!this.closeSent) this.sendClose(code === 1005 ? undefined : code);
    this.socket.end();
  }

  private violation(message: string): void {
    this.events.push({ type: "violation", message });
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter();
  }

  async until(predicate: () => boolean, ms = WAIT_MS, what = "condition"): Promise<void> {
    const deadline = Date.now() + ms;
    while (!predicate()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; events: ${describe(this.events)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Waits for `count` events and returns them. */
  async take(count: number, ms = WAIT_MS): Promise<PeerEvent[]> {
    await this.until(() => this.events.length >= count, ms, `${count} events`);
    return this.events.slice(0, count);
  }

  async closeEvent(ms = WAIT_MS): Promise<Extract<PeerEvent, { type: "close" }>> {
    await this.until(() => this.events.some((e) => e.type === "close"), ms, "a close frame");
    return this.events.find((e) => e.type === "close") as Extract<PeerEvent, { type: "close" }>;
  }

  async waitForTcpClose(ms = WAIT_MS): Promise<void> {
    await this.until(() => this.tcpClosed, ms, "TCP close");
  }

  /** The payloads of a message as they go on the wire (compressed or not), without sending them. */
  encode(opcode: number, data: Uint8Array | string, options: SendOptions = {}): Buffer[] {
    const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : data;
    const compress = options.compress ?? this.deflater !== undefined;
    const wire = compress ? this.deflater!.compress(bytes) : Buffer.from(bytes);
    const size = options.fragment ?? Math.max(wire.length, 1);
    const frames: Buffer[] = [];
    for (let at = 0; at < wire.length || frames.length === 0; at += size) {
      const last = at + size >= wire.length;
      const first = frames.length === 0 ? (options.first ?? ((compress ? RSV1 : 0) | opcode)) | (last ? FIN : 0) : (last ? FIN : 0) | OP_CONTINUATION;
      frames.push(frameBytes(first, wire.subarray(at, at + size), this.masked));
    }
    return frames;
  }

  send(opcode: number, data: Uint8Array | string, options: SendOptions = {}): void {
    for (const bytes of this.encode(opcode, data, options)) this.socket.write(bytes);
  }

  sendText(text: string, options: SendOptions = {}): void {
    this.send(OP_TEXT, text, options);
  }

  sendBinary(data: Uint8Array, options: SendOptions = {}): void {
    this.send(OP_BINARY, data, options);
  }

  /** One frame exactly as given: `first` is FIN|RSV|opcode, `payload` goes as is. */
  sendFrame(first: number, payload: Uint8Array = Buffer.alloc(0)): void {
    this.socket.write(frameBytes(first, payload, this.masked));
  }

  sendPing(data: Uint8Array = Buffer.alloc(0)): void {
    this.sendFrame(FIN | OP_PING, data);
  }

  sendClose(code?: number, reason = ""): void {
    this.closeSent = true;
    const payload = code === undefined ? Buffer.alloc(0) : Buffer.concat([Buffer.from([code >> 8, code & 0xff]), Buffer.from(reason)]);
    this.sendFrame(FIN | OP_CLOSE, payload);
  }

  destroy(): void {
    this.socket.destroy();
  }
}

export function describe(events: readonly PeerEvent[]): string {
  return `[${events
    .map((e) => {
      switch (e.type) {
        case "text":
          return `text(${e.text.length} chars${e.compressed ? ", compressed" : ""})`;
        case "binary":
          return `binary(${e.data.length} bytes${e.compressed ? ", compressed" : ""})`;
        case "close":
          return `close(${e.code}, ${JSON.stringify(e.reason)})`;
        case "violation":
          return `violation(${e.message})`;
        default:
          return e.type;
      }
    })
    .join(", ")}]`;
}

/**
 * Reads the agreed terms from a permessage-deflate response and the offer it answers, as
 * RFC 7692 §7.1 says; independent of ferry's negotiation code on purpose.
 */
export function termsFromResponse(response: string | undefined, offer: string | undefined): Terms | undefined {
  if (response === undefined || response.trim() === "") return undefined;
  const params = new Map(
    response
      .split(";")
      .slice(1)
      .map((part) => {
        const [name = "", value] = part.trim().split("=");
        return [name.trim(), value?.trim().replace(/^"|"$/g, "")] as const;
      }),
  );
  assert.equal(response.split(";")[0]!.trim(), "permessage-deflate");
  const offeredClientBits = /client_max_window_bits\s*=\s*"?(\d+)/.exec(offer ?? "")?.[1];
  return {
    serverNoContextTakeover: params.has("server_no_context_takeover"),
    clientNoContextTakeover: params.has("client_no_context_takeover") || /client_no_context_takeover/.test(offer ?? ""),
    serverMaxWindowBits: Number(params.get("server_max_window_bits") ?? 15),
    clientMaxWindowBits: Number(params.get("client_max_window_bits") ?? offeredClientBits ?? 15),
  };
}

export interface DeflateClient {
  status: number;
  headers: Record<string, string>;
  /** Present when the upgrade succeeded. */
  peer: DeflatePeer;
  terms: Terms | undefined;
}

/** Opens a connection to a ferry Listener, offering `offer` (undefined: no Sec-WebSocket-Extensions). */
export async function connectDeflate(port: number, path: string, offer: string | undefined, options: { level?: number; extraHeaders?: string[] } = {}): Promise<DeflateClient> {
  const socket = connect(port, "127.0.0.1");
  socket.setNoDelay(true);
  const key = randomBytes(16).toString("base64");
  socket.write(upgradeRequest(path, [...(offer === undefined ? [] : [`Sec-WebSocket-Extensions: ${offer}`]), ...(options.extraHeaders ?? [])], key));
  const { head, rest } = await new Promise<{ head: string; rest: Buffer }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no handshake response")), WAIT_MS);
    onHttpHead(socket, (head, rest) => {
      clearTimeout(timer);
      // Left on the socket, the listener would keep what the promise resolved to, and
      // `rest` may be a slice of a pooled 64 KiB buffer (Node 24's Buffer.poolSize).
      socket.off("error", reject);
      resolve({ head, rest });
    });
    socket.once("error", reject);
  });
  const [statusLine = "", ...lines] = head.split("\r\n");
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const status = Number(statusLine.split(" ")[1]);
  if (status === 101) assert.equal(headers["sec-websocket-accept"], acceptKey(key));
  const terms = status === 101 ? termsFromResponse(headers["sec-websocket-extensions"], offer) : undefined;
  const peer = new DeflatePeer(socket, "client", terms, rest, options.level);
  after(() => socket.destroy());
  return { status, headers, peer, terms };
}

/** What a DeflateTestServer saw of one connection's request. */
export interface TestRequest {
  headers: Record<string, string>;
  socket: Socket;
  rest: Buffer;
  /** Writes a 101 with these extension parameters (undefined: no header) and starts a peer with `terms`. */
  accept(extensions: string | undefined, terms?: Terms, options?: { level?: number; frames?: Buffer[] }): DeflatePeer;
}

/** A bare server for ferry's Client: every request goes to `onRequest`, which answers it. */
export class DeflateTestServer {
  private constructor(private readonly server: Server) {}

  static async start(onRequest: (request: TestRequest) => void): Promise<DeflateTestServer> {
    const sockets = new Set<Socket>();
    const server = createServer((socket) => {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
      socket.on("error", () => undefined);
      socket.setNoDelay(true);
      onHttpHead(socket, (head, rest) => {
        const headers: Record<string, string> = {};
        for (const line of head.split("\r\n").slice(1)) {
          const colon = line.indexOf(":");
          if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
        }
        onRequest({
          headers,
          socket,
          rest,
          accept(extensions, terms, options = {}) {
            const lines = [
              "HTTP/1.1 101 Switching Protocols",
              "Upgrade: websocket",
              "Connection: Upgrade",
              `Sec-WebSocket-Accept: ${acceptKey(headers["sec-websocket-key"] ?? "")}`,
              ...(extensions === undefined ? [] : [`Sec-WebSocket-Extensions: ${extensions}`]),
              "",
              "",
            ];
            socket.write(Buffer.concat([Buffer.from(lines.join("\r\n"), "latin1"), ...(options.frames ?? [])]));
            return new DeflatePeer(socket, "server", terms, rest, options.level);
          },
        });
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
    after(async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });
    return new DeflateTestServer(server);
  }

  get url(): string {
    return `ws://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
}

/** Payload kinds of Autobahn's 12.x cases, generated: the suite's files are not shipped here. */
export const PAYLOADS = {
  /** Like 12.1's large JSON file. */
  json: (size: number): Buffer => {
    let text = "";
    for (let i = 0; text.length < size; i++) text += JSON.stringify({ id: i, name: `item ${i}`, price: (i * 1.37).toFixed(2), tags: ["a", "bb", "ccc"].slice(0, i % 4), ok: i % 2 === 0 }) + ",";
    return Buffer.from(text.slice(0, size));
  },
  /** Like 12.2's black-and-white bitmap: long runs. */
  bitmap: (size: number): Buffer => {
    const data = Buffer.alloc(size);
    for (let i = 0; i < size; i++) data[i] = ((i >> 6) ^ (i >> 11)) & 1 ? 0xff : 0x00;
    return data;
  },
  /** Like 12.3's Faust: human text with multi-byte UTF-8. */
  prose: (size: number): Buffer => {
    const line = "Habe nun, ach! Philosophie, Juristerei und Medizin, und leider auch Theologie durchaus studiert, mit heißem Bemühn. Da steh ich nun, ich armer Tor! Und bin so klug als wie zuvor; ";
    const bytes = Buffer.from(line.repeat(Math.ceil(size / line.length) + 1));
    // Cut on a code point boundary, then pad with ASCII to the exact size.
    let end = size;
    while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
    return Buffer.concat([bytes.subarray(0, end), Buffer.alloc(size - end, 0x20)]);
  },
  /** Like 12.4's HTML. */
  html: (size: number): Buffer => {
    let text = "<!doctype html><html><body>";
    for (let i = 0; text.length < size; i++) text += `<div class="row r${i % 7}"><a href="/item/${i}">Item ${i}</a><span>${(i * 31) % 1000}</span></div>\n`;
    return Buffer.from(text.slice(0, size));
  },
  /** Like 12.5's PDF: mostly incompressible. */
  random: (size: number): Buffer => {
    const data = Buffer.alloc(size);
    let x = 12345;
    for (let i = 0; i < size; i++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      data[i] = x >>> 24;
    }
    return data;
  },
} as const;

/** Autobahn 12.x/13.x message sizes. */
export const SIZES = [16, 64, 256, 1024, 4096, 8192, 16384, 32768, 65536, 131072] as const;
