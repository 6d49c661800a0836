import { connect, type Socket } from "node:net";
import { EV_BINARY, EV_CLOSE, EV_ERROR, EV_NONE, EV_PING, EV_PONG, EV_TEXT, FrameParser } from "../../src/protocol/frame-parser.ts";
import { encodeClosePayload, encodeFrame, FIN } from "../../src/protocol/frame-writer.ts";
import { acceptKey, generateKey } from "../../src/protocol/handshake.ts";
import { nextMaskKey } from "../../src/protocol/mask.ts";

export type RawEvent =
  | { type: "text"; data: string }
  | { type: "binary"; data: Buffer }
  | { type: "ping" | "pong"; data: Buffer }
  | { type: "close"; code: number; reason: string }
  | { type: "error"; message: string };

/**
 * A WebSocket client on a bare socket, for tests that need to see or send frames exactly:
 * it never answers pings or closes by itself and records every frame the server sends.
 */
export class RawWebSocket {
  readonly events: RawEvent[] = [];
  /** Sizes of the server's frames as they came (first byte, payload length). */
  readonly frames: { first: number; length: number }[] = [];
  tcpClosed = false;
  private readonly parser = new FrameParser({ role: "client", maxFrameSize: 0, maxMessageSize: 0 });
  private waiters: (() => void)[] = [];

  private constructor(readonly socket: Socket, readonly responseHead: string) {}

  static async open(port: number, path = "/", extraHeaders: string[] = []): Promise<RawWebSocket> {
    const socket = connect(port, "127.0.0.1");
    socket.setNoDelay(true);
    const key = generateKey();
    socket.write(
      [`GET ${path} HTTP/1.1`, "Host: 127.0.0.1", "Upgrade: websocket", "Connection: Upgrade", `Sec-WebSocket-Key: ${key}`, "Sec-WebSocket-Version: 13", ...extraHeaders, "", ""].join("\r\n"),
    );
    const { head, rest } = await new Promise<{ head: string; rest: Buffer }>((resolve, reject) => {
      let buffered = Buffer.alloc(0);
      const onData = (chunk: Buffer): void => {
        buffered = Buffer.concat([buffered, chunk]);
        const end = buffered.indexOf("\r\n\r\n");
        if (end < 0) return;
        socket.off("data", onData);
        resolve({ head: buffered.subarray(0, end).toString("latin1"), rest: buffered.subarray(end + 4) });
      };
      socket.on("data", onData);
      socket.once("error", reject);
      socket.once("close", () => reject(new Error("closed during the handshake")));
    });
    if (!head.startsWith("HTTP/1.1 101") || !head.includes(`Sec-WebSocket-Accept: ${acceptKey(key)}`)) {
      socket.destroy();
      throw new Error(`handshake refused: ${head.split("\r\n")[0]}`);
    }
    socket.removeAllListeners("close");
    socket.removeAllListeners("error");
    const client = new RawWebSocket(socket, head);
    socket.on("data", (chunk: Buffer) => client.onData(chunk));
    socket.on("error", () => undefined);
    socket.on("close", () => {
      client.tcpClosed = true;
      client.wake();
    });
    if (rest.length > 0) client.onData(rest);
    return client;
  }

  private onData(chunk: Buffer): void {
    this.recordFrames(chunk);
    this.parser.push(chunk);
    for (let event = this.parser.next(); event !== EV_NONE; event = this.parser.next()) {
      const p = this.parser;
      if (event === EV_TEXT) this.events.push({ type: "text", data: p.text });
      else if (event === EV_BINARY) this.events.push({ type: "binary", data: Buffer.from(p.data) });
      else if (event === EV_PING) this.events.push({ type: "ping", data: Buffer.from(p.data) });
      else if (event === EV_PONG) this.events.push({ type: "pong", data: Buffer.from(p.data) });
      else if (event === EV_CLOSE) this.events.push({ type: "close", code: p.closeCode, reason: p.closeReason });
      else if (event === EV_ERROR) this.events.push({ type: "error", message: p.error!.message });
    }
    this.wake();
  }

  private headerBytes: Buffer = Buffer.alloc(0);
  private skipPayload = 0;

  /** A second, shallow pass over the bytes that only notes frame boundaries. */
  private recordFrames(chunk: Buffer): void {
    let bytes = Buffer.concat([this.headerBytes, chunk]);
    for (;;) {
      if (this.skipPayload > 0) {
        const n = Math.min(this.skipPayload, bytes.length);
        this.skipPayload -= n;
        bytes = bytes.subarray(n);
        if (this.skipPayload > 0) break;
      }
      if (bytes.length < 2) break;
      const len7 = bytes[1]! & 0x7f;
      const headerSize = len7 === 126 ? 4 : len7 === 127 ? 10 : 2;
      if (bytes.length < headerSize) break;
      const length = len7 === 126 ? bytes.readUInt16BE(2) : len7 === 127 ? Number(bytes.readBigUInt64BE(2)) : len7;
      this.frames.push({ first: bytes[0]!, length });
      bytes = bytes.subarray(headerSize);
      this.skipPayload = length;
    }
    this.headerBytes = Buffer.from(bytes);
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter();
  }

  /** Waits until `predicate` holds (checked on every event), or fails after `timeoutMs`. */
  async until(predicate: () => boolean, timeoutMs = 5000, what = "condition"): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; events: ${JSON.stringify(this.events)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Waits for the nth event (0-based) and returns it. */
  async event(index: number, timeoutMs = 5000): Promise<RawEvent> {
    await this.until(() => this.events.length > index, timeoutMs, `event #${index}`);
    return this.events[index]!;
  }

  async waitForTcpClose(timeoutMs = 5000): Promise<void> {
    await this.until(() => this.tcpClosed, timeoutMs, "TCP close");
  }

  /** Sends one masked frame; `first` is FIN|RSV|opcode. */
  sendFrame(first: number, payload: Uint8Array | string = new Uint8Array(0)): void {
    const bytes = typeof payload === "string" ? Buffer.from(payload) : payload;
    this.socket.write(encodeFrame(first, bytes, Buffer.from(nextMaskKey())));
  }

  sendText(text: string): void {
    this.sendFrame(FIN | 0x1, text);
  }

  sendClose(code?: number, reason = ""): void {
    this.sendFrame(FIN | 0x8, encodeClosePayload(code, reason));
  }

  destroy(): void {
    this.socket.destroy();
  }
}
