import { connect } from "node:net";
import { after } from "node:test";
import WebSocket from "ws";
import { Listener, type ListenerConfiguration, type UpgradeService } from "../../src/index.ts";

process.env["FERRY_LOG"] ??= "silent";

/** Starts a listener on a free loopback port with the given services; stopped after the test file. */
export async function startListener(
  services: Record<string, UpgradeService>,
  config: ListenerConfiguration = {},
): Promise<Listener> {
  const listener = new Listener(0, { host: "127.0.0.1", ...config });
  for (const [path, service] of Object.entries(services)) listener.attach(path, service);
  await listener.start();
  after(() => listener.immediateStop());
  return listener;
}

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  raw: string;
}

/**
 * Sends `request` as bytes and reads one response: done when its head (and a declared body)
 * is in, when the server closes, or after `waitMs`.
 */
export function rawHttp(port: number, request: string, waitMs = 3000): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => socket.destroy(), waitMs);
    const finish = (): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(parseResponse(Buffer.concat(chunks).toString("latin1")));
    };
    socket.on("data", (chunk) => {
      chunks.push(chunk);
      const raw = Buffer.concat(chunks).toString("latin1");
      const end = raw.indexOf("\r\n\r\n");
      if (end < 0) return;
      const response = parseResponse(raw);
      const length = Number(response.headers["content-length"] ?? 0);
      if (response.status === 101 || Buffer.byteLength(response.body, "latin1") >= length) finish();
    });
    socket.on("error", reject);
    socket.on("close", finish);
    socket.write(request);
  });
}

export function parseResponse(raw: string): RawResponse {
  const end = raw.indexOf("\r\n\r\n");
  const head = end < 0 ? raw : raw.slice(0, end);
  const [statusLine = "", ...lines] = head.split("\r\n");
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status: Number(statusLine.split(" ")[1] ?? 0), headers, body: end < 0 ? "" : raw.slice(end + 4), raw };
}

/** A valid opening handshake for `path`, with extra header lines. */
export function upgradeRequest(path: string, extra: string[] = [], key = "dGhlIHNhbXBsZSBub25jZQ=="): string {
  return [
    `GET ${path} HTTP/1.1`,
    "Host: 127.0.0.1",
    "Upgrade: websocket",
    "Connection: Upgrade",
    `Sec-WebSocket-Key: ${key}`,
    "Sec-WebSocket-Version: 13",
    ...extra,
    "",
    "",
  ].join("\r\n");
}

interface Inbox {
  messages: (string | Buffer)[];
  wake: (() => void) | undefined;
}

const inboxes = new WeakMap<WebSocket, Inbox>();

/**
 * Opens a `ws` client and waits for it to be open. Messages are collected from the start:
 * one sent in onOpen can arrive with the 101, before anyone could listen.
 */
export function openWs(port: number, path: string, options: WebSocket.ClientOptions & { protocols?: string[] } = {}): Promise<WebSocket> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, options.protocols, options);
  const inbox: Inbox = { messages: [], wake: undefined };
  inboxes.set(ws, inbox);
  ws.on("message", (data: Buffer, isBinary: boolean) => {
    inbox.messages.push(isBinary ? data : data.toString("utf8"));
    inbox.wake?.();
  });
  return new Promise((resolve, reject) => {
    ws.once("open", () => resolve(ws));
    ws.once("error", reject);
    ws.once("unexpected-response", (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
  });
}

/** The next `count` messages a client opened by openWs receives, text as strings, binary as Buffers. */
export async function nextMessages(ws: WebSocket, count: number, timeoutMs = 5000): Promise<(string | Buffer)[]> {
  const inbox = inboxes.get(ws)!;
  const deadline = Date.now() + timeoutMs;
  while (inbox.messages.length < count) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`timed out with ${inbox.messages.length} of ${count} messages: ${JSON.stringify(inbox.messages.map(String))}`);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, left);
      inbox.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
  return inbox.messages.splice(0, count);
}

/** Resolves with the close code and reason a `ws` client saw. */
export function closed(ws: WebSocket, timeoutMs = 5000): Promise<{ code: number; reason: string }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("timed out waiting for close")), timeoutMs);
    ws.once("close", (code, reason) => {
      clearTimeout(timer);
      resolve({ code, reason: reason.toString() });
    });
  });
}

/** A promise with its resolve function outside, for events a service reports. */
export function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Rejects if `promise` does not settle within `ms`. */
export function within<T>(promise: Promise<T>, ms: number, what = "operation"): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
    }),
  ]);
}
