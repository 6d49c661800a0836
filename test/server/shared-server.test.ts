/**
 * A Listener on an http server someone else owns (SPEC §2): it takes the settings that apply
 * to upgrades and refuses the owner's.
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import { after, describe, test } from "node:test";
import { Listener, type SharedListenerConfiguration } from "../../src/index.ts";
import { openWs, nextMessages, rawHttp, upgradeRequest } from "../helpers/listener.ts";

const echo = { config: { allowedOrigins: ["*"] }, upgrade: () => ({ onTextMessage: (_caller: unknown, text: string) => text }) };

/** An owner's server on a free loopback port, with a ferry Listener on it; both stopped after the file. */
async function sharedListener(config: SharedListenerConfiguration): Promise<{ listener: Listener; port: number; server: Server }> {
  const server = createServer((_request, response) => response.end("the owner's page"));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const listener = new Listener(server, config);
  listener.attach("/ws", echo);
  listener.attach("/never", { upgrade: () => new Promise<never>(() => undefined) });
  await listener.start();
  after(async () => {
    await listener.immediateStop();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  return { listener, server, port: (server.address() as { port: number }).port };
}

describe("a Listener on a shared server", async () => {
  const { port } = await sharedListener({
    timeout: 1,
    server: "ferry-shared",
    webSocketCompressionEnabled: false,
    requestLimits: { maxUriLength: 100, maxHeaderSize: 2048, maxEntityBodySize: 10 },
  });

  test("the Server header and compression setting apply to its upgrades", async () => {
    const response = await rawHttp(port, upgradeRequest("/ws", ["Sec-WebSocket-Extensions: permessage-deflate"]));
    assert.equal(response.status, 101);
    assert.equal(response.headers["server"], "ferry-shared");
    assert.equal(response.headers["sec-websocket-extensions"], undefined);
  });

  test("requestLimits apply: 414, 431, 413", async () => {
    assert.equal((await rawHttp(port, upgradeRequest(`/ws?${"a".repeat(200)}`))).status, 414);
    assert.equal((await rawHttp(port, upgradeRequest("/ws", [`X-Big: ${"b".repeat(3000)}`]))).status, 431);
    assert.equal((await rawHttp(port, upgradeRequest("/ws", ["Content-Length: 11"]))).status, 413);
  });

  test("timeout bounds what ferry controls: an upgrade() that never resolves gets 408", async () => {
    const started = Date.now();
    const response = await rawHttp(port, upgradeRequest("/never"), 5000);
    assert.equal(response.status, 408);
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 900 && elapsed < 2200, `answered after ${elapsed} ms`);
  });

  test("connections still open and echo, and the owner's requests are untouched", async () => {
    const ws = await openWs(port, "/ws");
    ws.send("shared");
    assert.deepEqual(await nextMessages(ws, 1), ["shared"]);
    ws.close();
    assert.equal(await (await fetch(`http://127.0.0.1:${port}/page`)).text(), "the owner's page");
  });
});

describe("the owner's settings are refused with a shared server", () => {
  for (const [name, value] of [
    ["host", "127.0.0.1"],
    ["http1Settings", { keepAlive: "NEVER" }],
    ["secureSocket", {}],
    ["reusePort", true],
  ] as const) {
    test(name, () => {
      const build = Listener as unknown as new (server: Server, config: object) => Listener;
      assert.throws(() => new build(createServer(), { [name]: value }), (error: Error) => {
        assert.ok(error instanceof TypeError);
        assert.match(error.message, new RegExp(`ListenerConfiguration\\.${name} belongs to the shared server's owner`));
        return true;
      });
    });
  }

  test("and do not type-check", () => {
    // @ts-expect-error host belongs to the owner
    assert.throws(() => new Listener(createServer(), { host: "127.0.0.1" }), TypeError);
  });

  test("a negative timeout fails there too", () => {
    assert.throws(() => new Listener(createServer(), { timeout: -1 }), RangeError);
  });
});
