/**
 * The ferry side of the interop tests: one Listener on 127.0.0.1 with a few services that
 * every peer (ws, undici, Python websockets, Chromium) talks to, plus the payloads they
 * share. The peers written in other languages (python-peer.py, browser-peer.js) repeat the
 * generators below; keep them in step.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { type Caller, closeFrame, Listener, type Service, type UpgradeService } from "../../src/index.ts";

/** Every wait in these tests is bounded; this is the default bound. */
export const WAIT_MS = 10_000;

/** Code points of 1, 2, 3 and 4 UTF-8 bytes, a ZWJ sequence and a combining mark. */
export const UTF8_SAMPLE = "héllo wörld — ñ ß Ω Ж שלום مرحبا 中文 日本語 한국어 🚀🎉 👩‍👩‍👧 𝄞 e\u0301";

/** Repeated by `cmd:big:K` (ferry → peer): mixes 1- to 4-byte code points. */
export const BIG_PATTERN = "ferry é € 😀 字 ok|";

export const MIB = 1024 * 1024;

/** pingInterval of /keepalive, in seconds; a peer that misses a pong gets 1011. */
export const KEEPALIVE_S = 0.4;
/** How long keep-alive tests stay connected: three pings' worth. */
export const KEEPALIVE_WAIT_MS = 1_300;

/** The reason of `cmd:close-utf8`: multi-byte code points in a close frame. */
export const UTF8_CLOSE_REASON = "ciao 👋 ñ — tschüß";

/** The reason of `cmd:close-long`: 200 UTF-8 bytes, over the 123 a close frame can carry. */
export const LONG_CLOSE_REASON = "é".repeat(100);

/** connectionClosureTimeout of every interop path, in seconds. */
export const CLOSE_TIMEOUT_S = 2;

/** `cmd:big:K`: BIG_PATTERN K times. */
export function bigText(repeats: number): string {
  return BIG_PATTERN.repeat(repeats);
}

/** `cmd:bigbin:N`: N bytes, byte i = (i * 7 + (i >> 8)) & 255. */
export function bigBinary(length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 7 + (i >> 8)) & 255;
  return bytes;
}

/** A text message of exactly `bytes` UTF-8 bytes, mostly multi-byte code points. */
export function textOfBytes(bytes: number): string {
  const unit = Buffer.byteLength(BIG_PATTERN);
  const repeats = Math.floor(bytes / unit);
  return BIG_PATTERN.repeat(repeats) + "x".repeat(bytes - repeats * unit);
}

/** `length` pseudo-random bytes from a fixed seed (an LCG), so every run sends the same. */
export function randomBytes(length: number, seed = 1): Uint8Array {
  const bytes = new Uint8Array(length);
  let x = seed >>> 0;
  for (let i = 0; i < length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    bytes[i] = x >>> 24;
  }
  return bytes;
}

export interface CloseRecord {
  code: number;
  reason: string;
}

/** Rejects with a clear message when `promise` takes longer than `ms`. */
export function withTimeout<T>(promise: Promise<T>, what: string, ms = WAIT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

let nextId = 1;

/** A fresh connection id for `?id=`; `closed(id)` reports what ferry's onClose saw for it. */
export function newId(prefix = "c"): string {
  return `${prefix}${process.pid}-${nextId++}`;
}

/**
 * The service behind every path. Text commands (anything else is echoed):
 *   cmd:close          → returns closeFrame(4001, "bye")
 *   cmd:close-utf8     → returns closeFrame(4003, UTF8_CLOSE_REASON)
 *   cmd:close-long     → returns closeFrame(4004, LONG_CLOSE_REASON)
 *   cmd:caller-close   → caller.close(4002, "caller bye")
 *   cmd:protocol       → the negotiated sub-protocol, or "(none)"
 *   cmd:big:K          → bigText(K)        (fragmented at the path's maxFrameSize)
 *   cmd:bigbin:N       → bigBinary(N)
 *   cmd:pongs          → how many pongs ferry received on this connection
 * Binary messages are echoed. onOpen and onClose are recorded under the connection's `?id=`.
 */
function interopService(id: string, server: InteropServer): Service {
  return {
    onOpen(): void {
      server.recordOpen(id);
    },
    onTextMessage(caller: Caller, text: string): unknown {
      if (!text.startsWith("cmd:")) return text;
      const [, command, argument] = text.split(":");
      switch (command) {
        case "close":
          return closeFrame(4001, "bye");
        case "close-utf8":
          return closeFrame(4003, UTF8_CLOSE_REASON);
        case "close-long":
          return closeFrame(4004, LONG_CLOSE_REASON);
        case "caller-close":
          caller.close(4002, "caller bye").catch(() => undefined);
          return undefined;
        case "protocol":
          return caller.getNegotiatedSubProtocol() ?? "(none)";
        case "big":
          return bigText(Number(argument));
        case "bigbin":
          return bigBinary(Number(argument));
        case "pongs":
          return String(caller.getAttribute("pongs") ?? 0);
      }
      return `unknown command ${text}`;
    },
    onBinaryMessage(_caller: Caller, data: Uint8Array): unknown {
      return data;
    },
    onPong(caller: Caller): void {
      caller.setAttribute("pongs", ((caller.getAttribute("pongs") as number | undefined) ?? 0) + 1);
    },
    onClose(_caller: Caller, code: number, reason: string): void {
      server.recordClose(id, { code, reason });
    },
  };
}

export interface InteropServerOptions {
  /**
   * Share an http server that also answers plain GETs with `pages` (path → HTML or JS), so a
   * browser page and the WebSocket endpoints have the same origin.
   */
  pages?: Record<string, { type: string; body: string }>;
}

/**
 * Paths (all with connectionClosureTimeout CLOSE_TIMEOUT_S):
 *   /echo          allowedOrigins ["*"], maxFrameSize 4 MiB
 *   /small-frames  allowedOrigins ["*"], maxFrameSize 1000: ferry fragments what it sends
 *   /proto         allowedOrigins ["*"], subProtocols ["chat.v2", "chat.v1"]
 *   /same-origin   the default allowedOrigins: same origin, or no Origin header
 *   /keepalive     allowedOrigins ["*"], pingInterval KEEPALIVE_S: the peer must answer ferry's pings
 */
export class InteropServer {
  readonly listener: Listener;
  private readonly httpServer: Server | undefined;
  private readonly closes = new Map<string, Deferred<CloseRecord>>();
  private readonly opens = new Map<string, Deferred<void>>();

  private constructor(listener: Listener, httpServer: Server | undefined) {
    this.listener = listener;
    this.httpServer = httpServer;
    this.attach("/echo", { allowedOrigins: ["*"], maxFrameSize: 4 * MIB });
    this.attach("/small-frames", { allowedOrigins: ["*"], maxFrameSize: 1000 });
    this.attach("/proto", { allowedOrigins: ["*"], maxFrameSize: 4 * MIB, subProtocols: ["chat.v2", "chat.v1"] });
    this.attach("/same-origin", { maxFrameSize: 4 * MIB });
    this.attach("/keepalive", { allowedOrigins: ["*"], pingInterval: KEEPALIVE_S });
  }

  static async start(options: InteropServerOptions = {}): Promise<InteropServer> {
    if (options.pages === undefined) {
      const listener = new Listener(0, { host: "127.0.0.1" });
      const server = new InteropServer(listener, undefined);
      await listener.start();
      return server;
    }
    const pages = options.pages;
    const httpServer = createServer((request, response) => {
      const page = pages[(request.url ?? "/").split("?")[0]!];
      if (page === undefined) {
        response.writeHead(404, { "Content-Type": "text/plain" }).end("not found");
        return;
      }
      response.writeHead(200, { "Content-Type": page.type, "Cache-Control": "no-store" }).end(page.body);
    });
    const listener = new Listener(httpServer);
    const server = new InteropServer(listener, httpServer);
    await listener.start();
    await new Promise<void>((resolve, reject) => {
      httpServer.once("error", reject);
      httpServer.listen(0, "127.0.0.1", () => resolve());
    });
    return server;
  }

  get port(): number {
    if (this.httpServer !== undefined) return (this.httpServer.address() as AddressInfo).port;
    return this.listener.port;
  }

  /** http://127.0.0.1:port */
  get origin(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  url(path: string, id?: string): string {
    return `ws://127.0.0.1:${this.port}${path}${id === undefined ? "" : `?id=${encodeURIComponent(id)}`}`;
  }

  /** Attaches the interop service at another path with its own config. */
  attach(path: string, config: UpgradeService["config"]): void {
    this.listener.attach(path, {
      // A peer that never answers our close frame (see the undici sub-protocol test) must not
      // hold gracefulStop for the default 60 s.
      config: { connectionClosureTimeout: CLOSE_TIMEOUT_S, ...config },
      upgrade: (request) => interopService(request.query.get("id") ?? "", this),
    });
  }

  recordOpen(id: string): void {
    if (id === "") return;
    let entry = this.opens.get(id);
    if (entry === undefined) this.opens.set(id, (entry = deferred()));
    entry.resolve();
  }

  /** Resolves once ferry's onOpen ran for the connection opened with `?id=id`. */
  opened(id: string, ms = WAIT_MS): Promise<void> {
    let entry = this.opens.get(id);
    if (entry === undefined) this.opens.set(id, (entry = deferred()));
    return withTimeout(entry.promise, `ferry's onOpen for ${id}`, ms);
  }

  recordClose(id: string, record: CloseRecord): void {
    if (id === "") return;
    let entry = this.closes.get(id);
    if (entry === undefined) this.closes.set(id, (entry = deferred()));
    entry.resolve(record);
  }

  /** What ferry's onClose saw for the connection opened with `?id=id`. */
  closed(id: string, ms = WAIT_MS): Promise<CloseRecord> {
    let entry = this.closes.get(id);
    if (entry === undefined) this.closes.set(id, (entry = deferred()));
    return withTimeout(entry.promise, `ferry's onClose for ${id}`, ms);
  }

  async stop(): Promise<void> {
    await withTimeout(this.listener.gracefulStop(), "listener.gracefulStop()");
    const httpServer = this.httpServer;
    if (httpServer !== undefined && httpServer.listening) {
      httpServer.closeAllConnections();
      await new Promise<void>((resolve) => httpServer.close(() => resolve()));
    }
  }
}
