/**
 * permessage-deflate against real peers, both ways: `ws` (perMessageDeflate on) as client of
 * a ferry Listener and as server for ferry's Client, Python's websockets (compression is on
 * by default there) likewise, and headless Chromium as client. Each runs with several sets of
 * terms, and checks what was agreed as well as every echo.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";
import { type Browser, chromium } from "playwright-core";
import WebSocket, { type PerMessageDeflateOptions, WebSocketServer } from "ws";
import { Client, type CompressionOptions, Listener, type ServiceConfig } from "../../src/index.ts";
import { within } from "../client/raw-server.ts";
import { PAYLOADS } from "./deflate-peer.ts";

const MIB = 1024 * 1024;
const PYTHON = "/usr/bin/python3";
const PEER = fileURLToPath(new URL("./python_deflate_peer.py", import.meta.url));
const CHROMIUM = "/usr/bin/chromium";
const T = { timeout: 40_000 };

/** Messages every peer exchanges: each kind, below and above the threshold and the at-once limit. */
const MESSAGES: { kind: "json" | "random" | "text"; size: number }[] = [
  { kind: "json", size: 10 },
  { kind: "json", size: 4096 },
  { kind: "text", size: 5000 },
  { kind: "random", size: 3000 },
  { kind: "json", size: 200_000 },
  { kind: "text", size: 100_000 },
  { kind: "random", size: 70_000 },
  { kind: "json", size: 3 * MIB },
  { kind: "json", size: 4096 },
];

function message(kind: "json" | "random" | "text", size: number, index: number): string | Buffer {
  if (kind === "random") return Buffer.from(PAYLOADS.random(size + index)).subarray(index);
  if (kind === "text") return PAYLOADS.prose(size).toString();
  return PAYLOADS.json(size + index).subarray(index).toString("latin1");
}

const echo = {
  onTextMessage: (_caller: unknown, text: string) => text,
  onBinaryMessage: (_caller: unknown, data: Uint8Array) => data,
};

/** The ferry server every client talks to, one path per set of terms. */
const SERVICES: Record<string, CompressionOptions> = {
  "/": {},
  "/context": { serverNoContextTakeover: false, clientNoContextTakeover: false },
  "/windows": { serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 10, clientMaxWindowBits: 11, threshold: 0 },
};

let httpServer: Server;
let listener: Listener;
let base: string;

before(async () => {
  httpServer = createServer((_request, response) => response.writeHead(200, { "Content-Type": "text/html" }).end("<!doctype html><title>ferry</title>"));
  await new Promise<void>((resolve) => httpServer.listen(0, "127.0.0.1", () => resolve()));
  listener = new Listener(httpServer);
  for (const [path, compression] of Object.entries(SERVICES)) {
    const config: ServiceConfig = { maxFrameSize: 8 * MIB, maxMessageSize: 8 * MIB, compression };
    listener.attach(path, { config, upgrade: () => echo });
  }
  await listener.start();
  base = `127.0.0.1:${(httpServer.address() as AddressInfo).port}`;
});

after(async () => {
  await listener?.immediateStop();
  httpServer?.closeAllConnections();
  await new Promise<void>((resolve) => httpServer?.close(() => resolve()));
});

describe("interop: ws client → ferry server", () => {
  const cases: [string, string, PerMessageDeflateOptions, string][] = [
    ["ws's default offer, ferry's defaults", "/", {}, "permessage-deflate; server_no_context_takeover; client_no_context_takeover"],
    ["ws's default offer, context takeover", "/context", {}, "permessage-deflate"],
    ["ws asks for windows, ferry limits them further", "/windows", { serverMaxWindowBits: 12, clientMaxWindowBits: 9 }, "permessage-deflate; server_max_window_bits=10; client_max_window_bits=9"],
    ["ws asks for no context takeover", "/context", { serverNoContextTakeover: true, clientNoContextTakeover: true }, "permessage-deflate; server_no_context_takeover; client_no_context_takeover"],
    ["ws asks for an 8-bit server window", "/context", { serverMaxWindowBits: 8 }, "permessage-deflate; server_max_window_bits=8"],
  ];
  for (const [name, path, options, agreed] of cases) {
    test(name, T, async () => {
      const ws = new WebSocket(`ws://${base}${path}`, { perMessageDeflate: { threshold: 0, ...options }, maxPayload: 8 * MIB });
      const received: (string | Buffer)[] = [];
      ws.on("message", (data: Buffer, isBinary: boolean) => received.push(isBinary ? data : data.toString("utf8")));
      let response: string | undefined;
      ws.once("upgrade", (res) => (response = res.headers["sec-websocket-extensions"]));
      await within(
        new Promise((resolve, reject) => {
          ws.once("open", resolve);
          ws.once("error", reject);
        }),
        5000,
        "open",
      );
      assert.equal(response, agreed);
      assert.match(ws.extensions, /^permessage-deflate/);
      const sent = MESSAGES.map((m, i) => message(m.kind, m.size, i));
      for (const data of sent) ws.send(data, { binary: typeof data !== "string" });
      const deadline = Date.now() + 20_000;
      while (received.length < sent.length && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
      assert.equal(received.length, sent.length);
      sent.forEach((data, i) => assert.ok(typeof data === "string" ? received[i] === data : Buffer.isBuffer(received[i]) && data.equals(received[i] as Buffer), `message ${i}`));
      ws.close(1000);
      await within(new Promise((resolve) => ws.once("close", resolve)), 5000, "close");
    });
  }
});

async function roundTrip(client: Client): Promise<void> {
  const sent = MESSAGES.map((m, i) => message(m.kind, m.size, i));
  for (const data of sent) {
    if (typeof data === "string") await client.writeTextMessage(data);
    else await client.writeBinaryMessage(data);
  }
  for (const [i, data] of sent.entries()) {
    if (typeof data === "string") assert.equal(await within(client.readTextMessage(), 10_000, `read ${i}`), data, `message ${i}`);
    else assert.ok(Buffer.from(await within(client.readBinaryMessage(), 10_000, `read ${i}`)).equals(data), `message ${i}`);
  }
  await within(client.close(1000), 5000, "close");
}

describe("interop: ferry client → ws server", () => {
  const cases: [string, PerMessageDeflateOptions, CompressionOptions, string][] = [
    ["ws's defaults", {}, {}, "permessage-deflate"],
    ["ws compresses everything, with context takeover", { threshold: 0 }, { threshold: 0 }, "permessage-deflate"],
    ["ws takes no context over either way", { serverNoContextTakeover: true, clientNoContextTakeover: true }, {}, "permessage-deflate; server_no_context_takeover; client_no_context_takeover"],
    ["ws limits both windows", { serverMaxWindowBits: 10, clientMaxWindowBits: 9 }, {}, "permessage-deflate; client_max_window_bits=9; server_max_window_bits=10"],
    ["ferry asks for a 9-bit server window and no server context", {}, { serverMaxWindowBits: 9, serverNoContextTakeover: true }, "permessage-deflate; server_no_context_takeover; server_max_window_bits=9"],
    ["ferry limits its own window to 8 bits", {}, { clientMaxWindowBits: 8 }, "permessage-deflate; client_max_window_bits=8"],
  ];
  for (const [name, serverOptions, clientOptions, agreed] of cases) {
    test(name, T, async () => {
      const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, perMessageDeflate: serverOptions, maxPayload: 8 * MIB });
      wss.on("connection", (socket) => socket.on("message", (data, isBinary) => socket.send(data, { binary: isBinary })));
      await new Promise((resolve) => wss.once("listening", resolve));
      try {
        const client = await within(Client.connect(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, { maxFrameSize: 8 * MIB, maxMessageSize: 8 * MIB, compression: clientOptions }), 5000, "connect");
        assert.equal(client.getHttpResponse().headers.get("sec-websocket-extensions"), agreed);
        await roundTrip(client);
      } finally {
        for (const socket of wss.clients) socket.terminate();
        await new Promise((resolve) => wss.close(resolve));
      }
    });
  }
});

const children = new Set<ChildProcess>();
after(() => {
  for (const child of children) child.kill("SIGKILL");
});

function python(args: string[]): ChildProcess {
  const env: NodeJS.ProcessEnv = { ...process.env, PYTHONNOUSERSITE: "1", PYTHONDONTWRITEBYTECODE: "1" };
  delete env["PYTHONPATH"];
  delete env["PYTHONHOME"];
  const child = spawn(PYTHON, [PEER, ...args], { stdio: ["pipe", "pipe", "pipe"], env });
  children.add(child);
  child.once("exit", () => children.delete(child));
  return child;
}

function output(child: ChildProcess, until: (stdout: string) => boolean, ms: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let stdout = "";
    let stderr = "";
    const timer = setTimeout(() => reject(new Error(`python timed out: ${stderr}`)), ms);
    child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk;
      if (until(stdout)) {
        clearTimeout(timer);
        resolve(stdout);
      }
    });
    child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    child.once("exit", (code) => {
      clearTimeout(timer);
      if (until(stdout)) resolve(stdout);
      else reject(new Error(`python exited with ${code}: ${stderr}${stdout}`));
    });
  });
}

describe("interop: Python websockets client → ferry server", () => {
  const cases: [string, string, Record<string, unknown> | null, string][] = [
    ["websockets' default offer, ferry's defaults", "/", null, "permessage-deflate; server_no_context_takeover; client_no_context_takeover"],
    ["websockets' default offer, context takeover", "/context", null, "permessage-deflate"],
    ["websockets asks for windows", "/windows", { server_max_window_bits: 9, client_max_window_bits: 12 }, "permessage-deflate; server_max_window_bits=9; client_max_window_bits=11"],
    ["websockets asks for no context takeover", "/context", { server_no_context_takeover: true, client_no_context_takeover: true }, "permessage-deflate; server_no_context_takeover; client_no_context_takeover"],
  ];
  for (const [name, path, deflate, agreed] of cases) {
    test(name, T, async () => {
      const child = python(["client", `ws://${base}${path}`, JSON.stringify({ deflate, messages: MESSAGES })]);
      child.stdin!.end();
      const result = JSON.parse(await output(child, (s) => s.endsWith("\n"), 30_000)) as { extensions: string; equal: boolean[] };
      assert.equal(result.extensions, agreed);
      assert.deepEqual(result.equal, MESSAGES.map(() => true));
    });
  }
});

describe("interop: ferry client → Python websockets server", () => {
  const cases: [string, Record<string, unknown> | null, CompressionOptions, string][] = [
    ["websockets' defaults (12-bit windows)", null, {}, "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12"],
    ["no context takeover either way", { server_no_context_takeover: true, client_no_context_takeover: true }, {}, "permessage-deflate; server_no_context_takeover; client_no_context_takeover"],
    ["ferry asks for a 10-bit server window", {}, { serverMaxWindowBits: 10 }, "permessage-deflate; server_max_window_bits=10"],
  ];
  for (const [name, deflate, clientOptions, agreed] of cases) {
    test(name, T, async () => {
      const child = python(["server", JSON.stringify({ deflate })]);
      const port = Number((await output(child, (s) => s.includes("\n"), 10_000)).trim());
      try {
        const client = await within(Client.connect(`ws://127.0.0.1:${port}`, { maxFrameSize: 8 * MIB, maxMessageSize: 8 * MIB, compression: clientOptions }), 5000, "connect");
        assert.equal(client.getHttpResponse().headers.get("sec-websocket-extensions"), agreed);
        await roundTrip(client);
      } finally {
        child.stdin!.end();
        child.kill();
      }
    });
  }
});

/**
 * Runs in the page, as source text: tsx would decorate a function literal with helpers the
 * page does not have. Sends JSON-like text of each size (every other one as binary UTF-8)
 * and compares each echo by SHA-256.
 */
const BROWSER_SCENARIO = `async ({ url, sizes }) => {
  const json = (size, seed) => {
    let text = "";
    for (let i = 0; text.length < size + seed; i++) text += JSON.stringify({ id: i, name: "item " + i, ok: i % 2 === 0 }) + ",";
    return text.slice(seed, size + seed);
  };
  const digest = async (data) => {
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : new Uint8Array(data);
    return [...new Uint8Array(await crypto.subtle.digest("SHA-256", bytes))].map((b) => b.toString(16).padStart(2, "0")).join("");
  };
  const ws = new WebSocket(url);
  ws.binaryType = "arraybuffer";
  const replies = [];
  ws.onmessage = (event) => replies.push(event.data);
  await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = reject; });
  const sent = sizes.map((size, i) => (i % 2 === 0 ? json(size, i) : new TextEncoder().encode(json(size, i))));
  for (const data of sent) ws.send(data);
  const deadline = Date.now() + 20000;
  while (replies.length < sent.length && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  const equal = await Promise.all(sent.map(async (data, i) => {
    const reply = replies[i];
    if (reply === undefined || (typeof data === "string") !== (typeof reply === "string")) return false;
    return (await digest(typeof data === "string" ? data : data.buffer)) === (await digest(reply));
  }));
  const extensions = ws.extensions;
  ws.close(1000);
  await new Promise((resolve) => { ws.onclose = resolve; });
  return { extensions, equal };
}`;

describe("interop: Chromium → ferry server", () => {
  let browser: Browser | undefined;
  before(async () => {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-dev-shm-usage", "--disable-background-networking"],
      timeout: 30_000,
    });
  }, { timeout: 60_000 });
  after(async () => {
    await browser?.close().catch(() => undefined);
  }, { timeout: 30_000 });

  for (const [path, agreed] of [
    ["/", "permessage-deflate; server_no_context_takeover; client_no_context_takeover"],
    ["/context", "permessage-deflate"],
    ["/windows", "permessage-deflate; server_max_window_bits=10; client_max_window_bits=11"],
  ] as const) {
    test(`${path}: Chromium agrees to "${agreed}" and every message survives both ways`, T, async () => {
      const page = await browser!.newPage();
      try {
        await page.goto(`http://${base}/`);
        const sizes = MESSAGES.map((m) => m.size);
        const result = await page.evaluate<{ extensions: string; equal: boolean[] }>(`(${BROWSER_SCENARIO})(${JSON.stringify({ url: `ws://${base}${path}`, sizes })})`);
        assert.equal(result.extensions, agreed);
        assert.deepEqual(result.equal, sizes.map(() => true));
      } finally {
        await page.close();
      }
    });
  }
});

test("the shared test payloads are deterministic", () => {
  assert.equal(createHash("sha256").update(PAYLOADS.json(1000)).digest("hex"), createHash("sha256").update(PAYLOADS.json(1000)).digest("hex"));
});
