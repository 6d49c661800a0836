import { connect, type Socket } from "node:net";
import { FrameParser } from "../../src/protocol/frame-parser.ts";
import { encodeClosePayload } from "../../src/protocol/frame-writer.ts";
import { acceptKey, generateKey } from "../../src/protocol/handshake.ts";
import { FIN, FrameReader, maskedFrame, OP_CLOSE, OP_TEXT, onHttpHead, parsedEvents, type Payload, Waiters } from "./raw-peer.ts";

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
  private readonly reader = new FrameReader();
  private readonly waiters = new Waiters();

  private constructor(readonly socket: Socket, readonly responseHead: string) {}

  static async open(port: number, path = "/", extraHeaders: string[] = []): Promise<RawWebSocket> {
    const socket = connect(port, "127.0.0.1");
    socket.setNoDelay(true);
    const key = generateKey();
    socket.write(
      [`GET ${path} HTTP/1.1`, "Host: 127.0.0.1", "Upgrade: websocket", "Connection: Upgrade", `Sec-WebSocket-Key: ${key}`, "Sec-WebSocket-Version: 13", ...extraHeaders, "", ""].join("\r\n"),
    );
    const { head, rest } = await new Promise<{ head: string; rest: Buffer }>((resolve, reject) => {
      onHttpHead(socket, (head, rest) => resolve({ head, rest }));
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
      client.waiters.wake();
    });
    if (rest.length > 0) client.onData(rest);
    return client;
  }

  private onData(chunk: Buffer): void {
    this.reader.push(chunk);
    for (let wire = this.reader.next(); wire !== undefined; wire = this.reader.next()) {
      this.frames.push({ first: wire.bytes[0]!, length: wire.payload.length });
    }
    this.parser.push(chunk);
    for (const event of parsedEvents(this.parser)) {
      if (event.type === "text") this.events.push({ type: "text", data: event.text });
      else if (event.type === "error") this.events.push({ type: "error", message: event.message });
      else this.events.push(event);
    }
    this.waiters.wake();
  }

  /** Waits until `predicate` holds (checked on every event), or fails after `timeoutMs`. */
  until(predicate: () => boolean, timeoutMs = 5000, what = "condition"): Promise<void> {
    return this.waiters.until(predicate, timeoutMs, () => new Error(`timed out waiting for ${what}; events: ${JSON.stringify(this.events)}`));
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
  sendFrame(first: number, payload: Payload = ""): void {
    this.socket.write(maskedFrame(first, payload));
  }

  sendText(text: string): void {
    this.sendFrame(FIN | OP_TEXT, text);
  }

  sendClose(code?: number, reason = ""): void {
    this.sendFrame(FIN | OP_CLOSE, encodeClosePayload(code, reason));
  }

  destroy(): void {
    this.socket.destroy();
  }
}
