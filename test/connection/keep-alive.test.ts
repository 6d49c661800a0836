// idleTimeout counts data frames only (SPEC §4), so that pingInterval keep-alives and idle
// detection work together; and a close() after the peer closed first resolves at once, on the
// Caller and on the Client: the user never sent a close frame.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { type Caller, Client, ConnectionClosureError } from "../../src/index.ts";
import { RawServer } from "../client/raw-server.ts";
import { closed, deferred, delay, openWs, startListener, within } from "../helpers/listener.ts";
import { FIN, maskedFrame, OP_BINARY, OP_CONTINUATION, OP_PING } from "../helpers/raw-peer.ts";
import { RawWebSocket } from "../helpers/raw-ws.ts";

interface Idle {
  /** Milliseconds from the connection's opening to each onIdleTimeout. */
  idles: number[];
  caller: Promise<Caller>;
}

async function idleService(config: { idleTimeout: number; pingInterval?: number }, onOpen?: (caller: Caller) => void): Promise<{ port: number; connections: Idle[] }> {
  const connections: Idle[] = [];
  const listener = await startListener({
    "/": {
      config: { allowedOrigins: ["*"], ...config },
      upgrade: () => {
        const opened = deferred<Caller>();
        const record: Idle = { idles: [], caller: opened.promise };
        connections.push(record);
        let started = 0;
        return {
          onOpen(caller: Caller): void {
            started = Date.now();
            opened.resolve(caller);
            onOpen?.(caller);
          },
          onIdleTimeout(): void {
            record.idles.push(Date.now() - started);
          },
        };
      },
    },
  });
  return { port: listener.port, connections };
}

async function until(condition: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out after ${ms} ms waiting for ${what}`);
    await delay(10);
  }
}

describe("idleTimeout with pingInterval shorter than it", () => {
  test("the keep-alive pings and the peer's pongs do not count: onIdleTimeout comes, again each period, and the connection stays open", async () => {
    const { port, connections } = await idleService({ idleTimeout: 0.4, pingInterval: 0.1 });
    const ws = await openWs(port, "/");
    let pongs = 0;
    ws.on("ping", () => pongs++);
    await until(() => (connections[0]?.idles.length ?? 0) >= 2, 5000, "two idle timeouts");
    const [first, second] = connections[0]!.idles as [number, number];
    assert.ok(first >= 350, `first idle at ${first} ms`);
    assert.ok(second - first >= 350, `second idle ${second - first} ms after the first`);
    assert.ok(pongs >= 3, `only ${pongs} pings came`);
    assert.equal(ws.readyState, ws.OPEN, "pongs kept the connection open");
    ws.close();
  });

  test("the peer's own pings do not count either", async () => {
    const { port, connections } = await idleService({ idleTimeout: 0.4, pingInterval: 0.1 });
    const ws = await openWs(port, "/");
    let pongs = 0;
    ws.on("pong", () => pongs++);
    const pinging = setInterval(() => ws.ping("still here"), 50);
    try {
      await until(() => (connections[0]?.idles.length ?? 0) >= 1, 5000, "an idle timeout");
      assert.ok(pongs >= 3, `only ${pongs} pongs came`);
    } finally {
      clearInterval(pinging);
      ws.close();
    }
  });

  test("data frames count, read (continuation frames too) and written", async () => {
    let ticking: NodeJS.Timeout | undefined;
    const { port, connections } = await idleService({ idleTimeout: 0.4, pingInterval: 0.1 }, (caller) => {
      // The service writes a message every 100 ms for 1 s, then falls silent.
      let ticks = 0;
      ticking = setInterval(() => {
        if (++ticks === 10) clearInterval(ticking);
        void caller.writeTextMessage("tick").catch(() => undefined);
      }, 100);
    });
    const ws = await openWs(port, "/");
    await delay(1000);
    clearInterval(ticking);
    assert.deepEqual(connections[0]!.idles, [], "writes postpone onIdleTimeout");
    await until(() => connections[0]!.idles.length >= 1, 5000, "an idle timeout once the writes stopped");
    ws.close();

    // Now the peer sends one message in fragments, one every 100 ms: reading them is activity.
    const quiet = await idleService({ idleTimeout: 0.4 });
    const raw = await RawWebSocket.open(quiet.port, "/");
    raw.socket.write(maskedFrame(OP_BINARY, "a"));
    for (let i = 0; i < 10; i++) {
      await delay(100);
      raw.socket.write(maskedFrame(i === 9 ? FIN | OP_CONTINUATION : OP_CONTINUATION, "b"));
    }
    assert.deepEqual(quiet.connections[0]!.idles, [], "continuation frames postpone onIdleTimeout");
    await until(() => quiet.connections[0]!.idles.length >= 1, 5000, "an idle timeout once the fragments stopped");
    raw.socket.destroy();
  });
});

describe("pings after our close frame", () => {
  test("a ping that comes after the server's close frame gets no pong, and the close handshake ends normally", async () => {
    const { port } = await idleService({ idleTimeout: 0, pingInterval: 0.1 });
    const raw = await RawWebSocket.open(port, "/");
    // The raw peer never answers pings: the second keep-alive ping finds the first unanswered.
    await raw.until(() => raw.events.some((event) => event.type === "close"), 3000, "the server's close frame");
    assert.deepEqual(raw.events.at(-1), { type: "close", code: 1011, reason: "No pong received within pingInterval" });
    const seen = raw.events.length;
    raw.socket.write(maskedFrame(FIN | OP_PING, "late"));
    raw.sendClose(1000);
    await raw.until(() => raw.tcpClosed, 3000, "TCP close");
    assert.deepEqual(raw.events.slice(seen), [], "nothing after the close frame, no pong");
  });
});

describe("close() after the peer closed first", () => {
  test("Caller: resolves at once, in onClose and after it", async () => {
    const inOnClose = deferred<{ closing: Promise<void> }>();
    const opened = deferred<Caller>();
    const listener = await startListener({
      "/": {
        config: { allowedOrigins: ["*"] },
        upgrade: () => ({
          onOpen: (caller: Caller) => opened.resolve(caller),
          onClose: (caller: Caller) => inOnClose.resolve({ closing: caller.close(1000, "", 5) }),
        }),
      },
    });
    const ws = await openWs(listener.port, "/");
    const caller = await within(opened.promise, 3000, "onOpen");
    ws.close(4000, "leaving");
    assert.deepEqual(await closed(ws), { code: 4000, reason: "" });
    await within((await inOnClose.promise).closing, 500, "close() in onClose");
    await within(caller.close(), 500, "close() after onClose");
    assert.equal(caller.isOpen(), false);
  });

  test("Client: resolves at once after the server's close was echoed", async () => {
    const server = await RawServer.start();
    const client = await Client.connect(server.url, { webSocketCompressionEnabled: false });
    const conn = await server.connection();
    const close = await conn.closeHandshake(4321, "maintenance");
    assert.equal(close.code, 4321);
    await within(client.close(), 500, "client.close()");
    await within(client.close(1000, "done", 5), 500, "a second client.close()");
    assert.equal(client.isOpen(), false);
  });
});

describe("closing", () => {
  test("no onIdleTimeout once the server's close frame is out, while it waits for the peer's answer", async () => {
    const { port, connections } = await idleService({ idleTimeout: 0.2 }, (caller) => void caller.close(1000, "", 5).catch(() => undefined));
    const raw = await RawWebSocket.open(port, "/");
    await raw.until(() => raw.events.some((event) => event.type === "close"), 3000, "the server's close frame");
    // The raw peer does not answer: the server waits up to 5 s, past several idle periods.
    await delay(1000);
    assert.deepEqual(connections[0]!.idles, []);
    raw.sendClose(1000);
    await raw.waitForTcpClose(3000);
  });

  test("close() with a reason over 123 bytes is refused even after the peer closed first", async () => {
    const server = await RawServer.start();
    const client = await Client.connect(server.url, { webSocketCompressionEnabled: false });
    const conn = await server.connection();
    await conn.closeHandshake(4321, "maintenance");
    await assert.rejects(client.close(1000, "x".repeat(124), 5), ConnectionClosureError);
    await within(client.close(1000, "x".repeat(123), 5), 500, "client.close() with a reason of 123 bytes");
  });
});
