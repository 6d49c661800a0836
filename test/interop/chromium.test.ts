/**
 * Interop with a real browser: headless Chromium (Debian's /usr/bin/chromium, driven by
 * playwright-core) over real sockets against a ferry server. The page and the WebSocket
 * endpoints share one http server, so the page is same-origin; two more page servers on
 * other ports give cross-origin pages. The browser side is browser-peer.js.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { type Browser, chromium, type Page } from "playwright-core";
import {
  BIG_PATTERN,
  bigBinary,
  bigText,
  InteropServer,
  KEEPALIVE_WAIT_MS,
  MIB,
  newId,
  UTF8_CLOSE_REASON,
  UTF8_SAMPLE,
  withTimeout,
} from "./fixture.ts";
import { createHash } from "node:crypto";

const CHROMIUM = "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  // Containers often have a tiny /dev/shm; Chromium then crashes on large messages.
  "--disable-dev-shm-usage",
];
const SCENARIO_MS = 15_000;
const T = { timeout: SCENARIO_MS + 5_000 };

const PAGES = {
  "/": {
    type: "text/html; charset=utf-8",
    body: '<!doctype html><meta charset="utf-8"><title>ferry interop</title><script src="/peer.js"></script>',
  },
  "/peer.js": {
    type: "text/javascript; charset=utf-8",
    body: readFileSync(new URL("./browser-peer.js", import.meta.url), "utf8"),
  },
};

interface CloseEventSummary {
  code: number;
  reason: string;
  wasClean: boolean;
  errored: boolean;
}

interface TryResult {
  opened: boolean;
  reply?: string;
  close?: CloseEventSummary;
}

/** A plain http server on 127.0.0.1 serving PAGES: a page of another origin (another port). */
async function startPageServer(): Promise<Server> {
  const server = createServer((request, response) => {
    const page = PAGES[(request.url ?? "/").split("?")[0] as keyof typeof PAGES];
    if (page === undefined) {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { "Content-Type": page.type, "Cache-Control": "no-store" }).end(page.body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  return server;
}

function originOf(server: Server): string {
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function stopServer(server: Server | undefined): Promise<void> {
  if (server === undefined || !server.listening) return;
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

function sha256(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

describe("interop: Chromium WebSocket ↔ ferry server", () => {
  let server: InteropServer;
  let otherOrigin: Server | undefined;
  let browser: Browser | undefined;
  /** Same origin as the ferry endpoints. */
  let page: Page;
  /** Served from another port: another origin. */
  let crossPage: Page;
  const consoleLines: string[] = [];

  async function openPage(origin: string): Promise<Page> {
    const opened = await browser!.newPage();
    opened.on("console", (message) => consoleLines.push(`${origin}: ${message.text()}`));
    opened.setDefaultTimeout(SCENARIO_MS);
    // goto waits for the load event, by which time peer.js has run.
    await opened.goto(`${origin}/`);
    return opened;
  }

  function run<R>(on: Page, scenario: string, args: Record<string, unknown>): Promise<R> {
    const expression = `peer.run(${JSON.stringify(scenario)}, ${JSON.stringify(args)})`;
    return withTimeout(on.evaluate<R>(expression), `the Chromium scenario ${scenario}`, SCENARIO_MS);
  }

  before(async () => {
    server = await InteropServer.start({ pages: PAGES });
    otherOrigin = await startPageServer();
    server.attach("/listed-origin", { allowedOrigins: ["http://elsewhere.example", originOf(otherOrigin)] });
    server.attach("/other-listed-origin", { allowedOrigins: ["http://elsewhere.example"] });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30_000 });
    page = await openPage(server.origin);
    crossPage = await openPage(originOf(otherOrigin));
  }, { timeout: 60_000 });

  after(async () => {
    if (browser !== undefined) await withTimeout(browser.close(), "browser.close()").catch(() => undefined);
    await server?.stop();
    await stopServer(otherOrigin);
  }, { timeout: 30_000 });

  test("text message echo", T, async () => {
    const result = await run<{ replies: unknown[] }>(page, "echo", {
      url: server.url("/echo"),
      messages: [{ text: "hello ferry" }, { text: "" }],
    });
    assert.deepEqual(result.replies, [
      { type: "text", text: "hello ferry" },
      { type: "text", text: "" },
    ]);
  });

  test("binary message echo (Uint8Array and Blob)", T, async () => {
    const result = await run<{ replies: unknown[] }>(page, "echo", {
      url: server.url("/echo"),
      messages: [{ bytes: [0, 1, 2, 127, 128, 254, 255] }, { blob: [4, 5, 6] }, { bytes: [] }],
    });
    assert.deepEqual(result.replies, [
      { type: "binary", bytes: [0, 1, 2, 127, 128, 254, 255] },
      { type: "binary", bytes: [4, 5, 6] },
      { type: "binary", bytes: [] },
    ]);
  });

  test("UTF-8 multi-byte text echo", T, async () => {
    const result = await run<{ replies: unknown[] }>(page, "echo", { url: server.url("/echo"), messages: [{ text: UTF8_SAMPLE }] });
    assert.deepEqual(result.replies, [{ type: "text", text: UTF8_SAMPLE }]);
  });

  test("1 MiB text and 1 MiB binary, each direction via echo", T, async () => {
    const result = await run<Record<string, unknown>>(page, "big", { url: server.url("/echo"), pattern: BIG_PATTERN });
    assert.deepEqual(result, {
      sentTextBytes: MIB,
      textType: "string",
      textEqual: true,
      sentBinaryBytes: MIB,
      binaryEqual: true,
    });
  });

  test("ferry fragments large outbound messages (maxFrameSize 1000) and Chromium reassembles them", T, async () => {
    const result = await run<Record<string, unknown>>(page, "ferryFragments", {
      url: server.url("/small-frames"),
      repeats: 8000,
      length: 150_000,
    });
    assert.deepEqual(result, {
      textType: "string",
      textSha256: sha256(bigText(8000)),
      binaryType: "binary",
      binarySha256: sha256(bigBinary(150_000)),
    });
  });

  test("ferry's keep-alive pings (pingInterval) are answered by Chromium", T, async () => {
    const result = await run<{ pongs: number; readyState: number }>(page, "keepalive", {
      url: server.url("/keepalive"),
      waitMs: KEEPALIVE_WAIT_MS,
    });
    assert.ok(result.pongs >= 2, `ferry saw ${result.pongs} pongs`);
    assert.equal(result.readyState, 1, "still OPEN");
  });

  test("sub-protocol: ferry picks the client's first offer it supports", T, async () => {
    const chosen = await run<Record<string, unknown>>(page, "subprotocol", {
      url: server.url("/proto"),
      offer: ["chat.v9", "chat.v1", "chat.v2"],
    });
    assert.deepEqual(chosen, { opened: true, protocol: "chat.v1", ferrySays: "chat.v1" });
    const none = await run<Record<string, unknown>>(page, "subprotocol", { url: server.url("/proto"), offer: [] });
    assert.deepEqual(none, { opened: true, protocol: "", ferrySays: "(none)" });
  });

  test("sub-protocol: an offer ferry does not speak gets no Sec-WebSocket-Protocol (Chromium then fails, 1006)", T, async () => {
    const result = await run<TryResult>(page, "subprotocol", { url: server.url("/proto"), offer: ["chat.v9"] });
    assert.equal(result.opened, false);
    assert.equal(result.close?.code, 1006);
    assert.equal(result.close?.wasClean, false);
  });

  test("the page closes with 4000 and a reason: ferry's onClose sees both, the page gets the code echoed", T, async () => {
    const id = newId("chromium");
    const closed = await run<CloseEventSummary>(page, "closeFromPeer", { url: server.url("/echo", id), code: 4000, reason: "done here" });
    assert.deepEqual(closed, { code: 4000, reason: "", wasClean: true, errored: false });
    assert.deepEqual(await server.closed(id), { code: 4000, reason: "done here" });
  });

  test("ferry returns closeFrame(4001, \"bye\"): the page sees 4001 and \"bye\"", T, async () => {
    const id = newId("chromium");
    const closed = await run<CloseEventSummary>(page, "closeFromServer", { url: server.url("/echo", id), command: "cmd:close" });
    assert.deepEqual(closed, { code: 4001, reason: "bye", wasClean: true, errored: false });
    assert.equal((await server.closed(id)).code, 4001);
  });

  test("caller.close(4002, \"caller bye\"): the page sees it", T, async () => {
    const id = newId("chromium");
    const closed = await run<CloseEventSummary>(page, "closeFromServer", { url: server.url("/echo", id), command: "cmd:caller-close" });
    assert.deepEqual(closed, { code: 4002, reason: "caller bye", wasClean: true, errored: false });
    assert.equal((await server.closed(id)).code, 4002);
  });

  test("close reasons with multi-byte UTF-8, both directions", T, async () => {
    const id = newId("chromium");
    await run<CloseEventSummary>(page, "closeFromPeer", { url: server.url("/echo", id), code: 4000, reason: "tschüß 🚀" });
    assert.deepEqual(await server.closed(id), { code: 4000, reason: "tschüß 🚀" });
    const closed = await run<CloseEventSummary>(page, "closeFromServer", { url: server.url("/echo"), command: "cmd:close-utf8" });
    assert.deepEqual(closed, { code: 4003, reason: UTF8_CLOSE_REASON, wasClean: true, errored: false });
  });

  test("gracefulStop: the page sees 1001", T, async () => {
    const own = await InteropServer.start();
    try {
      const id = newId("chromium");
      const closed = run<CloseEventSummary>(page, "waitClose", { url: own.url("/echo", id) });
      closed.catch(() => undefined);
      await own.opened(id);
      await own.stop();
      const event = await closed;
      assert.equal(event.code, 1001);
      assert.equal(event.wasClean, true);
    } finally {
      await own.stop();
    }
  });

  test("origins: the same-origin default lets the page of the same host:port in", T, async () => {
    const result = await run<TryResult>(page, "tryEcho", { url: server.url("/same-origin"), text: "same origin" });
    assert.deepEqual(result, { opened: true, reply: "same origin" });
  });

  test("origins: a cross-origin page is refused by the default (403 → error, close 1006)", T, async () => {
    const before = consoleLines.length;
    const result = await run<TryResult>(crossPage, "tryEcho", { url: server.url("/same-origin"), text: "cross origin" });
    assert.equal(result.opened, false);
    assert.deepEqual(result.close, { code: 1006, reason: "", wasClean: false, errored: true });
    // The console line travels separately from the evaluate result: give it a moment.
    const deadline = Date.now() + 2_000;
    while (!consoleLines.slice(before).some((line) => line.includes("403")) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const logged = consoleLines.slice(before).join("\n");
    assert.match(logged, /403/, `Chromium reports the 403 on the console:\n${logged}`);
  });

  test("origins: allowedOrigins [\"*\"] lets a cross-origin page in", T, async () => {
    const result = await run<TryResult>(crossPage, "tryEcho", { url: server.url("/echo"), text: "cross origin, star" });
    assert.deepEqual(result, { opened: true, reply: "cross origin, star" });
  });

  test("origins: a listed origin gets in, an unlisted one is refused", T, async () => {
    const listed = await run<TryResult>(crossPage, "tryEcho", { url: server.url("/listed-origin"), text: "listed" });
    assert.deepEqual(listed, { opened: true, reply: "listed" });
    const unlisted = await run<TryResult>(crossPage, "tryEcho", { url: server.url("/other-listed-origin"), text: "unlisted" });
    assert.equal(unlisted.opened, false);
    assert.deepEqual(unlisted.close, { code: 1006, reason: "", wasClean: false, errored: true });
  });
});
