/**
 * retryConfig (SPEC §10): the delay formula, the retry count, and the retries themselves:
 * the initial connect retries on I/O errors, and a read or a write that meets an abnormal
 * closure (1006) reconnects and carries on. A clean close, a protocol error or the user's own
 * close never reconnects.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { resolveClientConfiguration } from "../../src/client/client-configuration.ts";
import { mayRetry, retryDelay } from "../../src/client/retry-policy.ts";
import { type Caller, Client, type ClientClosure, ConnectionClosureError, ConnectionError, Listener } from "../../src/index.ts";
import { deferred } from "../helpers/listener.ts";
import { assertInstance, eventually, freePort, type RawConnection, RawServer, rejection, settled, sleep, within } from "./raw-server.ts";

const policy = (interval: number, backOffFactor: number, maxWaitInterval: number, maxCount = 0) => ({ interval, backOffFactor, maxWaitInterval, maxCount });

describe("retryDelay and mayRetry", () => {
  test("delay n is interval × backOffFactor^n", () => {
    const p = policy(0.5, 2, 1000);
    assert.deepEqual([0, 1, 2, 3, 4].map((n) => retryDelay(p, n)), [0.5, 1, 2, 4, 8]);
  });

  test("capped at maxWaitInterval", () => {
    const p = policy(1, 3, 10);
    assert.deepEqual([0, 1, 2, 3, 10].map((n) => retryDelay(p, n)), [1, 3, 9, 10, 10]);
    assert.equal(retryDelay(policy(5, 1, 2), 0), 2, "even the first delay");
  });

  test("backOffFactor 1 keeps the interval", () => {
    const p = policy(0.25, 1, 30);
    assert.deepEqual([0, 1, 7, 100].map((n) => retryDelay(p, n)), [0.25, 0.25, 0.25, 0.25]);
  });

  test("a huge exponent stays at the cap rather than overflowing", () => {
    assert.equal(retryDelay(policy(1, 2, 30), 5000), 30);
  });

  test("maxCount n allows n retries; 0 allows any number", () => {
    const three = policy(1, 1, 30, 3);
    assert.deepEqual([0, 1, 2, 3, 4].map((done) => mayRetry(three, done)), [true, true, true, false, false]);
    assert.equal(mayRetry(policy(1, 1, 30, 0), 1_000_000), true);
  });

  test("defaults: maxCount 0, interval 1, backOffFactor 1, maxWaitInterval 30, closeCodes [1001, 1012, 1013]; bad values refused", () => {
    assert.deepEqual(resolveClientConfiguration({ retryConfig: {} }).retry, {
      maxCount: 0,
      interval: 1,
      backOffFactor: 1,
      maxWaitInterval: 30,
      closeCodes: [1001, 1012, 1013],
      onReconnect: undefined,
    });
    assert.throws(() => resolveClientConfiguration({ retryConfig: { closeCodes: [1001, 999] } }), RangeError);
    assert.throws(() => resolveClientConfiguration({ retryConfig: { closeCodes: [1001.5] } }), RangeError);
    assert.throws(() => resolveClientConfiguration({ retryConfig: { onReconnect: "login" as never } }), TypeError);
    assert.equal(resolveClientConfiguration({}).retry, undefined);
    assert.throws(() => resolveClientConfiguration({ retryConfig: { maxCount: -1 } }), RangeError);
    assert.throws(() => resolveClientConfiguration({ retryConfig: { interval: -1 } }), RangeError);
    assert.throws(() => resolveClientConfiguration({ retryConfig: { backOffFactor: 0.9 } }), RangeError);
    assert.throws(() => resolveClientConfiguration({ retryConfig: { maxWaitInterval: Number.NaN } }), RangeError);
    // Past Node's longest timer (2^31 - 1 ms) a delay would fire after 1 ms: refused, not shortened.
    assert.throws(() => resolveClientConfiguration({ retryConfig: { maxWaitInterval: Number.POSITIVE_INFINITY } }), RangeError);
    assert.throws(() => resolveClientConfiguration({ retryConfig: { interval: 2_147_484 } }), RangeError);
    for (const key of ["readTimeout", "writeTimeout", "handShakeTimeout"] as const) {
      assert.throws(() => resolveClientConfiguration({ [key]: Number.POSITIVE_INFINITY }), RangeError, key);
      assert.throws(() => resolveClientConfiguration({ [key]: 2_147_484 }), RangeError, key);
      assert.equal(resolveClientConfiguration({ [key]: 2_147_483 })[key], 2_147_483, key);
    }
  });
});

/** A ferry listener on `port` whose service greets with `welcome <generation>` and echoes text. */
async function greeter(port: number, generation: number, upgrades = { count: 0 }): Promise<Listener> {
  const listener = new Listener(port, { host: "127.0.0.1" });
  listener.attach("/", {
    upgrade: () => (upgrades.count++, {
      onOpen: (caller: Caller) => caller.writeTextMessage(`welcome ${generation}`),
      onTextMessage: (_caller: Caller, text: string) => text,
    }),
  });
  await listener.start();
  return listener;
}

/** A raw server that drops every connection as soon as its request arrives (an I/O error). */
function dropping(): Promise<RawServer> {
  return RawServer.start({ onRequest: (c) => c.destroy() });
}

describe("retries on connect", () => {
  test("a server that starts late is reached", async () => {
    const port = await freePort();
    const started = Date.now();
    let listener: Listener | undefined;
    const late = sleep(300).then(async () => (listener = await greeter(port, 1)));
    try {
      const client = await within(Client.connect(`ws://127.0.0.1:${port}/`, { retryConfig: { maxCount: 40, interval: 0.05 } }), 5000, "connect");
      assert.ok(Date.now() - started >= 280, "it cannot have connected before the server started");
      assert.equal(await within(client.readTextMessage()), "welcome 1");
      await client.writeTextMessage("ping?");
      assert.equal(await within(client.readTextMessage()), "ping?");
      await client.close(1000, "", 2);
    } finally {
      await late;
      await listener?.immediateStop();
    }
  });

  test("without retryConfig there is exactly one attempt", async () => {
    const server = await dropping();
    assertInstance((await rejection(Client.connect(`${server.url}/`))), ConnectionError);
    await sleep(100);
    assert.equal(server.connections.length, 1);
  });

  test("maxCount 3: four attempts, then ConnectionError saying so", async () => {
    const server = await dropping();
    const error = await rejection(Client.connect(`${server.url}/`, { retryConfig: { maxCount: 3, interval: 0.02 } }));
    assert.ok(error instanceof ConnectionError, String(error));
    assert.match(error.message, /gave up after 3 retries/);
    assert.ok(error.cause instanceof ConnectionError, "the last attempt's error is the cause");
    assert.equal(server.connections.length, 4);
  });

  test("a refused port, exhausted: ConnectionError", async () => {
    const port = await freePort();
    const error = await rejection(Client.connect(`ws://127.0.0.1:${port}/`, { retryConfig: { maxCount: 2, interval: 0.01 } }));
    assert.ok(error instanceof ConnectionError, String(error));
    assert.equal(((error.cause as Error).cause as NodeJS.ErrnoException).code, "ECONNREFUSED");
  });

  test("the waits between attempts follow min(interval × backOffFactor^n, maxWaitInterval)", async () => {
    const server = await dropping();
    await rejection(Client.connect(`${server.url}/`, { retryConfig: { maxCount: 4, interval: 0.04, backOffFactor: 2, maxWaitInterval: 0.2 } }), 5000);
    const times = server.connections.map((c) => c.acceptedAt);
    assert.equal(times.length, 5);
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    const expected = [40, 80, 160, 200];
    gaps.forEach((gap, i) => {
      assert.ok(gap >= expected[i]! - 5 && gap < expected[i]! + 150, `wait ${i}: expected ~${expected[i]} ms, got ${gap} ms (all: ${gaps.join(", ")})`);
    });
  });
});

describe("reconnecting after an abnormal closure", () => {
  test("a read that meets a dropped connection reconnects and reads from the new one", async () => {
    const port = await freePort();
    let listener = await greeter(port, 1);
    try {
      const client = await within(Client.connect(`ws://127.0.0.1:${port}/`, { retryConfig: { maxCount: 40, interval: 0.05 } }));
      assert.equal(await within(client.readTextMessage()), "welcome 1");
      const firstId = client.getConnectionId();
      const pending = client.readTextMessage();
      await listener.immediateStop(); // TCP dropped, no close frame: 1006
      await sleep(150);
      listener = await greeter(port, 2);
      assert.equal(await within(pending, 5000, "the pending read"), "welcome 2");
      assert.notEqual(client.getConnectionId(), firstId);
      assert.equal(client.isOpen(), true);
      await client.writeTextMessage("carry on");
      assert.equal(await within(client.readTextMessage()), "carry on");
      await client.close(1000, "", 2);
    } finally {
      await listener.immediateStop();
    }
  });

  test("iteration carries on across a reconnect", async () => {
    const port = await freePort();
    let listener = await greeter(port, 1);
    try {
      const client = await within(Client.connect(`ws://127.0.0.1:${port}/`, { retryConfig: { maxCount: 40, interval: 0.05 } }));
      const seen: unknown[] = [];
      const loop = (async () => {
        for await (const message of client) {
          seen.push(message);
          if (message === "welcome 2") break;
        }
      })();
      await eventually(() => seen.length === 1);
      await listener.immediateStop();
      listener = await greeter(port, 2);
      await within(loop, 5000, "iteration");
      assert.deepEqual(seen, ["welcome 1", "welcome 2"]);
      await client.close(1000, "", 2);
    } finally {
      await listener.immediateStop();
    }
  });

  test("a write after the drop waits for the reconnect and goes out on the new connection", async () => {
    const port = await freePort();
    let listener = await greeter(port, 1);
    try {
      const client = await within(Client.connect(`ws://127.0.0.1:${port}/`, { retryConfig: { maxCount: 40, interval: 0.05 } }));
      assert.equal(await within(client.readTextMessage()), "welcome 1");
      await listener.immediateStop();
      await eventually(() => !client.isOpen(), 2000, "the client to notice the drop");
      const write = client.writeTextMessage("sent after the drop");
      await sleep(150);
      listener = await greeter(port, 2);
      await within(write, 5000, "the write");
      assert.equal(await within(client.readTextMessage()), "welcome 2");
      assert.equal(await within(client.readTextMessage()), "sent after the drop", "the new server echoed it");
      await client.close(1000, "", 2);
    } finally {
      await listener.immediateStop();
    }
  });

  test("reconnects exhausted: the pending read rejects with ConnectionError, later reads too", async () => {
    const port = await freePort();
    const listener = await greeter(port, 1);
    const client = await within(Client.connect(`ws://127.0.0.1:${port}/`, { retryConfig: { maxCount: 2, interval: 0.03 } }));
    assert.equal(await within(client.readTextMessage()), "welcome 1");
    const pending = rejection(client.readTextMessage(), 5000, "the pending read");
    const started = Date.now();
    await listener.immediateStop();
    const error = await pending;
    assert.ok(error instanceof ConnectionError, String(error));
    assert.match(error.message, /gave up after 2 retries/);
    assert.ok(Date.now() - started >= 50, "two waits of 30 ms came first");
    const later = await rejection(client.readTextMessage());
    assertInstance(later, ConnectionClosureError);
    assert.equal(later.message, "Connection already closed");
    await assert.rejects(client.writeTextMessage("x"), ConnectionClosureError);
  });

  test("a server's close with a code outside closeCodes (gracefulStop's 1001 with closeCodes []) does not reconnect", async () => {
    const port = await freePort();
    let listener = await greeter(port, 1);
    const client = await within(Client.connect(`ws://127.0.0.1:${port}/`, { retryConfig: { maxCount: 40, interval: 0.02, closeCodes: [] } }));
    assert.equal(await within(client.readTextMessage()), "welcome 1");
    const pending = rejection(client.readTextMessage());
    await listener.gracefulStop();
    const error = await pending;
    assert.ok(error instanceof ConnectionClosureError, String(error));
    assert.match(error.message, /: Status code: 1001$/);
    const upgrades = { count: 0 };
    listener = await greeter(port, 2, upgrades);
    await sleep(200);
    assert.equal((await rejection(client.readTextMessage())).message, "Connection already closed");
    assert.equal(upgrades.count, 0, "the client reconnected after a clean close");
    await listener.immediateStop();
  });

  test("after the user's close, a drop does not reconnect", async () => {
    const server = await RawServer.start();
    const client = await within(Client.connect(`${server.url}/`, { retryConfig: { maxCount: 40, interval: 0.02 } }));
    const conn = await server.connection(0);
    conn.answerClose = false;
    const closing = client.close(1000, "bye", 5);
    await conn.closeFromClient();
    conn.destroy(); // no close frame back: the closure is abnormal, but the user asked for it
    const error = await rejection(closing);
    assertInstance(error, ConnectionClosureError);
    await sleep(150);
    assert.equal(server.connections.length, 1);
  });

  test("a close() while reconnecting forever to a server that is gone resolves at once and stops the attempts", async () => {
    const port = await freePort();
    const upgrades = { count: 0 };
    const listener = await greeter(port, 1, upgrades);
    const client = await within(Client.connect(`ws://127.0.0.1:${port}/`, { retryConfig: { maxCount: 0, interval: 5 } }));
    assert.equal(await within(client.readTextMessage()), "welcome 1");
    const pending = rejection(client.readTextMessage(), 5000, "the pending read");
    await listener.immediateStop();
    await sleep(100); // the client waits 5 s before its first attempt
    const started = Date.now();
    await within(client.close(1000, "", 2), 1000, "close() during the reconnect");
    assert.ok(Date.now() - started < 1000, "close() did not wait for the next attempt");
    assert.match((await pending).message, /closed by the client while reconnecting/);
    assert.deepEqual(await within(client.closed, 1000, "client.closed"), { code: 1006, reason: "" });
    const again = await greeter(port, 2, upgrades);
    await sleep(200);
    assert.equal(upgrades.count, 1, "no attempt after the close");
    await again.immediateStop();
  });

  test("a close() while the server does not answer the reconnect's handshake resolves at once and drops that connection", async () => {
    const server: RawServer = await RawServer.start({ onRequest: (c) => (server.connections.length === 1 ? c.accept() : undefined) });
    const client = await within(Client.connect(`${server.url}/`, { retryConfig: { maxCount: 0, interval: 0.05 } }));
    const pending = rejection(client.readTextMessage(), 5000, "the pending read");
    (await server.connection(0)).destroy();
    const stuck = await server.connection(1); // its request is in, and it is never answered
    await within(client.close(1000, "", 2), 1000, "close() during the handshake");
    assert.match((await pending).message, /closed by the client while reconnecting/);
    assert.deepEqual(await within(client.closed, 1000, "client.closed"), { code: 1006, reason: "" });
    await stuck.waitForTcpClose(1000);
    await sleep(200);
    assert.equal(server.connections.length, 2, "no attempt after the close");
  });

  test("a close() while onReconnect waits for the server resolves without waiting for the hook; waiting writes reject", async () => {
    const server = await RawServer.start();
    const hookStarted = deferred<void>();
    const client = await within(
      Client.connect(`${server.url}/`, {
        retryConfig: {
          maxCount: 0,
          interval: 0.05,
          async onReconnect(c) {
            hookStarted.resolve();
            await c.readTextMessage(); // the server never answers
          },
        },
      }),
    );
    (await server.connection(0)).destroy();
    await within(hookStarted.promise, 3000, "the hook");
    const waitingWrite = rejection(client.writeTextMessage("waits for the hook"), 3000, "the waiting write");
    await within(client.close(1000, "bye", 2), 1000, "close() during the hook");
    assert.deepEqual(await within(client.closed, 1000, "client.closed"), { code: 1000, reason: "" });
    assertInstance(await waitingWrite, ConnectionClosureError);
    assert.deepEqual((await (await server.connection(1)).closeFromClient()).close.code, 1000);
  });

  test("an invalid close code does not switch reconnection off", async () => {
    const port = await freePort();
    let listener = await greeter(port, 1);
    try {
      const client = await within(Client.connect(`ws://127.0.0.1:${port}/`, { retryConfig: { maxCount: 40, interval: 0.05 } }));
      assert.equal(await within(client.readTextMessage()), "welcome 1");
      await assert.rejects(client.close(1005), /Invalid status code: 1005/);
      assert.equal(client.isOpen(), true);
      const pending = client.readTextMessage();
      await listener.immediateStop();
      listener = await greeter(port, 2);
      assert.equal(await within(pending, 5000, "the pending read"), "welcome 2");
      await client.close(1000, "", 2);
    } finally {
      await listener.immediateStop();
    }
  });
});

describe("reconnect rounds: one retry count, a wait before every attempt", () => {
  const overloaded: [string, (c: RawConnection) => void, ClientClosure][] = [
    ["closes with 1013", (c) => c.sendClose(1013, "overloaded"), { code: 1013, reason: "overloaded" }],
    ["closes with 1012", (c) => c.sendClose(1012, "restarting"), { code: 1012, reason: "restarting" }],
    ["drops TCP", (c) => c.destroy(), { code: 1006, reason: "" }],
  ];
  for (const [what, answer, closure] of overloaded) {
    test(`a server that accepts and at once ${what}: maxCount retries, each after its delay, then the client ends`, async () => {
      const server: RawServer = await RawServer.start({
        onRequest: (c) => {
          c.accept();
          if (server.connections.length > 1) answer(c);
        },
      });
      const client = await within(Client.connect(`${server.url}/`, { retryConfig: { maxCount: 3, interval: 0.1 } }));
      const pending = rejection(client.readTextMessage(), 5000, "the pending read");
      answer(await server.connection(0));
      const error = await pending;
      assertInstance(error, ConnectionError);
      assert.match(error.message, /gave up after 3 retries/);
      assert.deepEqual(await within(client.closed, 1000, "closed"), closure);
      await sleep(300);
      assert.equal(server.connections.length, 4, "the first connection and three retries");
      const times = server.connections.map((c) => c.acceptedAt);
      const gaps = times.slice(1).map((t, i) => t - times[i]!);
      assert.ok(gaps.every((gap) => gap >= 90), `every attempt waited 100 ms first: ${gaps.join(", ")} ms`);
      await assert.rejects(client.writeTextMessage("x"), ConnectionClosureError);
    });
  }

  test("a connection that stayed up for interval seconds (at least one) starts the count afresh", async () => {
    const server = await RawServer.start({ onRequest: (c) => (c.accept(), void setTimeout(() => c.destroy(), 1500)) });
    const client = await within(Client.connect(`${server.url}/`, { retryConfig: { maxCount: 1, interval: 0.05 } }));
    await server.connection(3, 10_000);
    assert.equal(await settled(client.closed), false, "the client gave up although each connection proved itself");
    await client.close(1000, "", 2);
  });
});

describe("a reconnect while the unread queue is full", () => {
  test("nothing is lost or reordered: the old connection's messages come first", async () => {
    const server = await RawServer.start();
    const client = await within(Client.connect(`${server.url}/`, { maxQueuedBytes: 150, retryConfig: { maxCount: 40, interval: 0.05 } }));
    const first = await server.connection(0);
    const old = [0, 1, 2, 3, 4, 5].map((i) => `old${i}`);
    for (const text of old) first.sendText(text);
    first.sendPing("sync");
    await first.until(() => first.events.length > 0, 3000, "the pong after the old messages");
    first.destroy();
    // The client has stopped reading, so only a failed write tells it the connection is gone.
    for (let probe = 0; client.isOpen(); probe++) {
      await within(client.writeTextMessage(`probe ${probe}`), 3000, "a probe");
      await sleep(20);
    }
    await within(client.writeTextMessage("after the drop"), 3000, "the write");
    const second = await server.connection(1);
    await second.until(() => second.events.some((e) => e.type === "text" && e.text === "after the drop"), 3000, "the write on the new connection");
    const fresh = [0, 1, 2, 3, 4, 5].map((i) => `new${i}`);
    for (const text of fresh) second.sendText(text);
    second.sendPing("sync");
    await second.until(() => second.events.some((e) => e.type === "pong"), 3000, "the pong after the new messages");
    const read: string[] = [];
    for (let i = 0; i < 12; i++) read.push(await within(client.readTextMessage(), 3000, `read ${i} after ${read.join(" ")}`));
    assert.deepEqual(read, [...old, ...fresh]);
    await client.close(1000, "", 2);
  });
});
