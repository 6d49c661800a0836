/**
 * `client.closed` (SPEC §10): a promise of { code, reason } that resolves once the connection
 * is over for good (after the last retry) and never rejects, so that a `for await` loop that
 * ended quietly can tell why; and the loop itself honours readTimeout.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Client, type ClientConfiguration, ConnectionError, ReadTimedOutError } from "../../src/index.ts";
import { assertInstance, FIN, frame, OP_TEXT, type RawConnection, RawServer, rejection, settled, sleep, within } from "./raw-server.ts";

async function session(config: ClientConfiguration = {}): Promise<{ server: RawServer; conn: RawConnection; client: Client }> {
  const server = await RawServer.start();
  const client = await within(Client.connect(`${server.url}/`, config), 3000, "connect");
  return { server, conn: await server.connection(0), client };
}

describe("client.closed", () => {
  test("a loop that ended quietly at the server's close: closed gives its code and reason", async () => {
    const { conn, client } = await session();
    assert.equal(await settled(client.closed), false, "closed resolved while the connection was open");
    conn.sendText("last words");
    conn.sendClose(4001, "session expired");
    const seen: unknown[] = [];
    await within(
      (async () => {
        for await (const message of client) seen.push(message);
      })(),
      3000,
      "the loop",
    );
    assert.deepEqual(seen, ["last words"]);
    assert.deepEqual(await within(client.closed), { code: 4001, reason: "session expired" });
  });

  test("a close frame without a code: 1005 and no reason", async () => {
    const { conn, client } = await session();
    await conn.closeHandshake();
    assert.deepEqual(await within(client.closed), { code: 1005, reason: "" });
  });

  test("TCP lost without a close frame: 1006, and closed still resolves (never rejects)", async () => {
    const { conn, client } = await session();
    conn.destroy();
    assert.deepEqual(await within(client.closed), { code: 1006, reason: "" });
    assertInstance(await rejection(client.readTextMessage()), ConnectionError);
  });

  test("the client's own close: resolves once the server answered", async () => {
    const { conn, client } = await session();
    await client.close(1000, "done", 2);
    assert.deepEqual(await within(client.closed), { code: 1000, reason: "" });
    await conn.waitForTcpClose();
  });

  test("a protocol error: the code the client closed with, and the error as the reason", async () => {
    const { conn, client } = await session();
    conn.write(frame(FIN | 0x20 | OP_TEXT, "rsv2"));
    const { code, reason } = await within(client.closed);
    assert.equal(code, 1002);
    assert.match(reason, /RSV/);
    await conn.closeFromClient();
  });

  test("with retryConfig: pending while the client reconnects, then the last closure once it gives up", async () => {
    const server = await RawServer.start({ onRequest: (c) => (server.connections.length === 1 ? c.accept() : c.destroy()) });
    const client = await within(Client.connect(`${server.url}/`, { retryConfig: { maxCount: 3, interval: 0.1 } }));
    (await server.connection(0)).destroy();
    await server.connection(1);
    assert.equal(await settled(client.closed), false, "closed resolved before the last retry");
    assert.deepEqual(await within(client.closed, 3000, "closed"), { code: 1006, reason: "" });
    assert.equal(server.connections.length, 4, "the first connection and three retries: one count across the reconnect");
  });
});

describe("for await and readTimeout", () => {
  test("the loop throws ReadTimedOutError when no message comes in time; the client stays usable", async () => {
    const { conn, client } = await session({ readTimeout: 0.2 });
    conn.sendText("first");
    const seen: unknown[] = [];
    const started = Date.now();
    const error = await rejection(
      (async () => {
        for await (const message of client) seen.push(message);
      })(),
      3000,
      "the loop",
    );
    assertInstance(error, ReadTimedOutError);
    assert.ok(Date.now() - started >= 180, `timed out after ${Date.now() - started} ms`);
    assert.deepEqual(seen, ["first"]);
    assert.equal(client.isOpen(), true);
    conn.sendText("later");
    assert.equal(await within(client.readTextMessage()), "later");
    await client.close(1000, "", 2);
  });

  test("without readTimeout the loop waits as long as it takes", async () => {
    const { conn, client } = await session();
    const seen: unknown[] = [];
    const loop = (async () => {
      for await (const message of client) seen.push(message);
    })();
    await sleep(300);
    conn.sendText("late");
    conn.sendClose(1000);
    await within(loop, 3000, "the loop");
    assert.deepEqual(seen, ["late"]);
  });
});
