/**
 * retryConfig over a server restart (SPEC §10): a server's close with one of
 * `retryConfig.closeCodes` [1001, 1012, 1013] reconnects like a lost connection, so reads and
 * writes carry on across a deploy; `onReconnect(client)` runs after each reconnect, before the
 * reads and writes that were waiting go on, and a failing one closes the client with its error.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { WebSocketServer } from "ws";
import { type Caller, Client, type ClientConfiguration, ConnectionClosureError, Listener } from "../../src/index.ts";
import { deferred } from "../helpers/listener.ts";
import { assertInstance, eventually, freePort, RawServer, rejection, settled, sleep, within } from "./raw-server.ts";

/** What one generation of the server saw. */
interface Generation {
  listener: Listener;
  received: string[];
  opened: number;
  /** The close codes onClose saw. */
  closes: number[];
}

/** A ferry listener on `port` that greets with `welcome <generation>` and echoes text as `echo <generation>: <text>`. */
async function start(port: number, generation: number): Promise<Generation> {
  const listener = new Listener(port, { host: "127.0.0.1" });
  const seen: Generation = { listener, received: [], opened: 0, closes: [] };
  listener.attach("/", {
    upgrade: () => ({
      onOpen: (caller: Caller) => {
        seen.opened++;
        return caller.writeTextMessage(`welcome ${generation}`);
      },
      onTextMessage: (_caller: Caller, text: string) => {
        seen.received.push(text);
        return `echo ${generation}: ${text}`;
      },
      onClose: (_caller: Caller, code: number) => void seen.closes.push(code),
    }),
  });
  await listener.start();
  return seen;
}

const RETRY = { maxCount: 100, interval: 0.05 };

async function connect(port: number, config: ClientConfiguration = { retryConfig: RETRY }): Promise<Client> {
  return within(Client.connect(`ws://127.0.0.1:${port}/`, config), 3000, "connect");
}

describe("a server restart (gracefulStop, 1001) is ridden over", () => {
  test("a pending read carries on on the restarted server; writes go on; closed stays pending", async () => {
    const port = await freePort();
    let server = await start(port, 1);
    const client = await connect(port);
    try {
      assert.equal(await within(client.readTextMessage()), "welcome 1");
      const firstId = client.getConnectionId();
      const pending = client.readTextMessage();
      await server.listener.gracefulStop();
      server = await start(port, 2);
      assert.equal(await within(pending, 5000, "the pending read"), "welcome 2");
      assert.notEqual(client.getConnectionId(), firstId);
      await client.writeTextMessage("still here");
      assert.equal(await within(client.readTextMessage()), "echo 2: still here");
      assert.equal(await settled(client.closed), false, "closed resolved across a restart");
    } finally {
      await client.close(1000, "", 2);
      await server.listener.immediateStop();
    }
  });

  test("a write made while the server is away waits and goes out on the restarted server", async () => {
    const port = await freePort();
    let server = await start(port, 1);
    const client = await connect(port);
    try {
      assert.equal(await within(client.readTextMessage()), "welcome 1");
      await server.listener.gracefulStop();
      await eventually(() => !client.isOpen(), 2000, "the client to see the close");
      const write = client.writeTextMessage("sent while away");
      await sleep(150);
      server = await start(port, 2);
      await within(write, 5000, "the write");
      assert.equal(await within(client.readTextMessage()), "welcome 2");
      assert.equal(await within(client.readTextMessage()), "echo 2: sent while away");
    } finally {
      await client.close(1000, "", 2);
      await server.listener.immediateStop();
    }
  });

  test("a for await loop runs on across two restarts", async () => {
    const port = await freePort();
    let server = await start(port, 1);
    const client = await connect(port);
    const seen: unknown[] = [];
    const loop = (async () => {
      for await (const message of client) {
        seen.push(message);
        if (message === "welcome 3") break;
      }
    })();
    try {
      for (const generation of [2, 3]) {
        await eventually(() => seen.length === generation - 1, 3000, `message ${generation - 1}`);
        await server.listener.gracefulStop();
        server = await start(port, generation);
      }
      await within(loop, 5000, "the loop");
      assert.deepEqual(seen, ["welcome 1", "welcome 2", "welcome 3"]);
    } finally {
      await client.close(1000, "", 2);
      await server.listener.immediateStop();
    }
  });
});

describe("closeCodes", () => {
  for (const code of [1012, 1013]) {
    test(`a ws server's close with ${code} reconnects by default`, async () => {
      const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
      await new Promise<void>((resolve) => wss.once("listening", resolve));
      let connections = 0;
      wss.on("connection", (ws) => {
        connections++;
        ws.send(`hello ${connections}`);
        if (connections === 1) setTimeout(() => ws.close(code, "restarting"), 20);
      });
      const client = await connect((wss.address() as { port: number }).port);
      try {
        assert.equal(await within(client.readTextMessage()), "hello 1");
        assert.equal(await within(client.readTextMessage(), 3000, "the read after the close"), "hello 2");
      } finally {
        await client.close(1000, "", 2);
        await new Promise((resolve) => wss.close(resolve));
      }
    });
  }

  test("a write made between the server's 1001 and the end of TCP is sent again on the new connection", async () => {
    const server = await RawServer.start({ allowHalfOpen: true });
    const client = await within(Client.connect(`${server.url}/`, { retryConfig: RETRY }));
    const first = await server.connection(0);
    first.answerClose = false; // TCP stays open after the close frames: the write meets a closing connection
    first.sendClose(1001, "deploy");
    await eventually(() => !client.isOpen(), 2000, "the client to see the close");
    const write = client.writeTextMessage("between");
    await sleep(50);
    assert.equal(server.connections.length, 1, "reconnected before TCP closed");
    first.end();
    const second = await server.connection(1);
    await within(write, 3000, "the write");
    assert.deepEqual(await second.event(0), { type: "text", text: "between" });
    await client.close(1000, "", 2);
  });

  test("a write after a 1001 that came behind unread messages (queue full) reconnects, and nothing is lost", async () => {
    const server = await RawServer.start();
    const client = await within(Client.connect(`${server.url}/`, { maxQueuedBytes: 150, retryConfig: RETRY }));
    const first = await server.connection(0);
    const old = [0, 1, 2, 3, 4, 5].map((i) => `old${i}`);
    for (const text of old) first.sendText(text);
    first.sendClose(1001, "deploy");
    await first.closeFromClient(); // echoed at once, though the messages before it wait for reads
    await first.waitForTcpClose();
    await within(client.writeTextMessage("after the deploy"), 3000, "the write");
    const second = await server.connection(1);
    assert.deepEqual(await second.event(0), { type: "text", text: "after the deploy" });
    second.sendText("new0");
    second.sendText("new1");
    second.sendPing("sync");
    await second.until(() => second.events.some((e) => e.type === "pong"), 3000, "the pong after the new messages");
    const read: string[] = [];
    for (let i = 0; i < 8; i++) read.push(await within(client.readTextMessage(), 3000, `read ${i} after ${read.join(" ")}`));
    assert.deepEqual(read, [...old, "new0", "new1"]);
    await client.close(1000, "", 2);
  });

  test("1000 never reconnects: the pending read gets the close, closed gives it", async () => {
    const server = await RawServer.start();
    const client = await within(Client.connect(`${server.url}/`, { retryConfig: RETRY }));
    const pending = rejection(client.readTextMessage());
    await (await server.connection(0)).closeHandshake(1000, "bye");
    const error = await pending;
    assertInstance(error, ConnectionClosureError);
    assert.equal(error.message, "bye: Status code: 1000");
    assert.deepEqual(await within(client.closed), { code: 1000, reason: "bye" });
    await sleep(100);
    assert.equal(server.connections.length, 1);
  });

  test("a code of the user's own list reconnects, and 1001 outside it does not", async () => {
    const server = await RawServer.start();
    const client = await within(Client.connect(`${server.url}/`, { retryConfig: { ...RETRY, closeCodes: [4000] } }));
    await (await server.connection(0)).closeHandshake(4000, "moved");
    const second = await server.connection(1);
    second.sendText("on the second connection");
    assert.equal(await within(client.readTextMessage()), "on the second connection");
    await second.closeHandshake(1001, "going away");
    assert.deepEqual(await within(client.closed), { code: 1001, reason: "going away" });
    await sleep(100);
    assert.equal(server.connections.length, 2);
  });

  test("the user's close is never undone by a reconnect", async () => {
    const port = await freePort();
    const server = await start(port, 1);
    const client = await connect(port);
    assert.equal(await within(client.readTextMessage()), "welcome 1");
    await client.close(1001, "leaving", 2);
    assert.deepEqual(await within(client.closed), { code: 1001, reason: "" });
    await sleep(150);
    assert.equal(server.opened, 1);
    await server.listener.immediateStop();
  });
});

describe("onReconnect", () => {
  test("runs after each reconnect (not the first connect) with the client, before waiting reads and writes go on", async () => {
    const port = await freePort();
    let server = await start(port, 1);
    const hook: string[] = [];
    const client = await connect(port, {
      retryConfig: {
        ...RETRY,
        async onReconnect(c) {
          assert.equal(c, client);
          hook.push(await c.readTextMessage());
          await c.writeTextMessage("login");
          hook.push(await c.readTextMessage());
        },
      },
    });
    try {
      assert.equal(await within(client.readTextMessage()), "welcome 1");
      assert.deepEqual(hook, []);
      const pendingRead = client.readTextMessage();
      await server.listener.gracefulStop();
      await eventually(() => !client.isOpen(), 2000, "the client to see the close");
      const pendingWrite = client.writeTextMessage("waiting write");
      server = await start(port, 2);
      assert.equal(await within(pendingRead, 5000, "the waiting read"), "echo 2: waiting write");
      await within(pendingWrite);
      assert.deepEqual(hook, ["welcome 2", "echo 2: login"], "the hook read first");
      assert.deepEqual(server.received, ["login", "waiting write"], "the hook wrote first");

      await server.listener.gracefulStop();
      server = await start(port, 3);
      await eventually(() => hook.length === 4, 5000, "the second reconnect's hook");
      assert.deepEqual(hook.slice(2), ["welcome 3", "echo 3: login"]);
    } finally {
      await client.close(1000, "", 2);
      await server.listener.immediateStop();
    }
  });

  test("a connection lost while the hook runs: its read fails, and the next connection runs the hook again", async () => {
    const server = await RawServer.start();
    const outcomes: string[] = [];
    const client = await within(
      Client.connect(`${server.url}/`, {
        retryConfig: {
          ...RETRY,
          async onReconnect(c) {
            await c.writeTextMessage("login");
            try {
              outcomes.push(`ok: ${await c.readTextMessage()}`);
            } catch (error) {
              outcomes.push(`failed: ${(error as Error).constructor.name}`);
              throw error;
            }
          },
        },
      }),
    );
    const pending = client.readTextMessage();
    (await server.connection(0)).destroy();
    const second = await server.connection(1);
    assert.deepEqual(await second.event(0), { type: "text", text: "login" });
    second.destroy();
    const third = await server.connection(2, 5000);
    assert.deepEqual(await third.event(0), { type: "text", text: "login" });
    third.sendText("welcome back");
    await eventually(() => outcomes.length === 2, 3000, "the second run of the hook");
    assert.deepEqual(outcomes, ["failed: ConnectionError", "ok: welcome back"]);
    third.sendText("for the waiting read");
    assert.equal(await within(pending, 3000, "the waiting read"), "for the waiting read");
    assert.equal(client.isOpen(), true);
    await client.close(1000, "", 2);
  });

  test("a hook that throws closes the client (1011) with that error: waiting reads and writes reject with it", async () => {
    const port = await freePort();
    let server = await start(port, 1);
    const failure = new Error("login refused");
    const client = await connect(port, {
      retryConfig: {
        ...RETRY,
        async onReconnect(c) {
          await c.readTextMessage();
          throw failure;
        },
      },
    });
    try {
      assert.equal(await within(client.readTextMessage()), "welcome 1");
      const pendingRead = rejection(client.readTextMessage(), 5000, "the waiting read");
      await server.listener.gracefulStop();
      await eventually(() => !client.isOpen(), 2000, "the client to see the close");
      const pendingWrite = rejection(client.writeTextMessage("never sent"), 5000, "the waiting write");
      server = await start(port, 2);
      assert.equal(await pendingRead, failure);
      assert.equal(await pendingWrite, failure);
      assert.deepEqual(await within(client.closed, 3000, "closed"), { code: 1011, reason: "" });
      assert.deepEqual(server.received, []);
      await eventually(() => server.closes.length === 1, 3000, "the server's onClose");
      assert.deepEqual(server.closes, [1011]);
      assertInstance(await rejection(client.readTextMessage()), ConnectionClosureError);
    } finally {
      await server.listener.immediateStop();
    }
  });
  test("a read other code makes while the hook runs is not the hook's: it takes the older messages, then waits for the hook", async () => {
    const server = await RawServer.start();
    const hookStarted = deferred<void>();
    const hookGot: string[] = [];
    const client = await within(
      Client.connect(`${server.url}/`, {
        retryConfig: {
          ...RETRY,
          async onReconnect(c) {
            hookStarted.resolve();
            await c.writeTextMessage("login");
            hookGot.push(await c.readTextMessage());
          },
        },
      }),
    );
    const first = await server.connection(0);
    for (const text of ["old0", "old1", "old2"]) first.sendText(text);
    first.sendPing("sync");
    await first.until(() => first.events.length > 0, 3000, "the pong after the old messages");
    const seen: unknown[] = [];
    const loop = (async () => {
      for await (const message of client) {
        seen.push(message);
        if (message === "old0") await hookStarted.promise;
        if (message === "new1") break;
      }
    })();
    await eventually(() => seen.length === 1, 3000, "the loop's first message");
    first.destroy();
    const second = await server.connection(1);
    assert.deepEqual(await second.event(0), { type: "text", text: "login" });
    await sleep(100); // the loop reads on while the hook waits for its answer
    second.sendText("logged in");
    second.sendText("new1");
    await within(loop, 3000, "the loop");
    assert.deepEqual(hookGot, ["logged in"]);
    assert.deepEqual(seen, ["old0", "old1", "old2", "new1"]);
    await client.close(1000, "", 2);
  });

  test("a write other code makes while the hook runs waits until the hook is done", async () => {
    const server = await RawServer.start();
    const hookStarted = deferred<void>();
    const client = await within(
      Client.connect(`${server.url}/`, {
        retryConfig: {
          ...RETRY,
          async onReconnect(c) {
            hookStarted.resolve();
            await c.writeTextMessage("login");
            await c.readTextMessage();
            await c.writeTextMessage("subscribe");
          },
        },
      }),
    );
    (await server.connection(0)).destroy();
    await within(hookStarted.promise, 3000, "the hook");
    const write = client.writeTextMessage("from the application");
    const second = await server.connection(1);
    await second.event(0);
    await sleep(100);
    second.sendText("logged in");
    await within(write, 3000, "the application's write");
    await second.event(2);
    assert.deepEqual(
      second.events.map((e) => (e.type === "text" ? e.text : e.type)),
      ["login", "subscribe", "from the application"],
    );
    await client.close(1000, "", 2);
  });
});
