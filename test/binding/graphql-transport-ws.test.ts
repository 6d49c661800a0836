/**
 * A graphql-transport-ws service on ferry: custom dispatch on "type", the request's "id"
 * copied into every streamed reply, two subscriptions interleaved on one socket, and
 * cancellation by the client's "complete". Driven with ferry's own Client.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { z } from "zod";
import { Client, ConnectionClosureError } from "../../src/index.ts";
import { ConnectionAck, gqlUpgradeService, Pong, SubscriptionReply, Ticks } from "../asyncapi/fixtures/gql-service.ts";
import { delay, startListener, within } from "../helpers/listener.ts";

process.env["FERRY_LOG"] = "silent";

type Reply = z.output<typeof SubscriptionReply>;

/** Its own ticks per test, so that tests in this file cannot feed each other's subscriptions. */
async function serve(): Promise<{ url: string; ticks: Ticks }> {
  const ticks = new Ticks();
  const listener = await startListener({ "/graphql": gqlUpgradeService(ticks) });
  return { url: `ws://127.0.0.1:${listener.port}/graphql`, ticks };
}

async function connect(url: string): Promise<Client> {
  const client = await Client.connect(url, { subProtocols: ["graphql-transport-ws"], readTimeout: 5 });
  assert.equal(client.getNegotiatedSubProtocol(), "graphql-transport-ws");
  return client;
}

/** connection_init → connection_ack. */
async function initialise(client: Client): Promise<void> {
  await client.writeMessage({ type: "connection_init", payload: {} });
  assert.deepEqual(await client.readMessage(ConnectionAck), { type: "connection_ack" });
}

function subscribe(client: Client, id: string, count: number): Promise<void> {
  return client.writeMessage({ type: "subscribe", id, payload: { query: "subscription { ticks }", variables: { count } } });
}

/** Waits (bounded) until the server's subscriptions have started listening. */
async function subscribers(ticks: Ticks, count: number): Promise<void> {
  const deadline = Date.now() + 5000;
  while (ticks.subscribers !== count) {
    if (Date.now() > deadline) throw new Error(`expected ${count} subscribers, have ${ticks.subscribers}`);
    await delay(2);
  }
}

async function read(client: Client, count: number): Promise<Reply[]> {
  const replies: Reply[] = [];
  for (let i = 0; i < count; i++) replies.push(await client.readMessage(SubscriptionReply));
  return replies;
}

function next(id: string, n: number, of: number): Reply {
  return { type: "next", id, payload: { data: { ticks: { n, of } } } };
}

const byId = (a: Reply, b: Reply): number => a.id.localeCompare(b.id) || a.type.localeCompare(b.type);

describe("graphql-transport-ws", () => {
  test("connection_init is acknowledged and a JSON ping gets a pong, apart from WebSocket pings", async () => {
    const { url } = await serve();
    const client = await connect(url);
    await initialise(client);
    await client.writeMessage({ type: "ping" });
    assert.deepEqual(await client.readMessage(Pong), { type: "pong" });
    await client.close();
  });

  test("two subscriptions stream interleaved on one socket, each reply carrying its id", async () => {
    const { url, ticks } = await serve();
    const client = await connect(url);
    await initialise(client);
    await subscribe(client, "a", 3);
    await subscribe(client, "b", 4);
    await subscribers(ticks, 2);

    const received: Reply[] = [];
    for (let tick = 1; tick <= 4; tick++) {
      ticks.publish(tick);
      // Tick 3 ends "a" (next, complete); tick 4 ends "b".
      const expected =
        tick < 3
          ? [next("a", tick, 3), next("b", tick, 4)]
          : tick === 3
            ? [next("a", 3, 3), { type: "complete" as const, id: "a" }, next("b", 3, 4)]
            : [next("b", 4, 4), { type: "complete" as const, id: "b" }];
      const replies = await within(read(client, expected.length), 5000, `the replies to tick ${tick}`);
      assert.deepEqual([...replies].sort(byId), [...expected].sort(byId), `tick ${tick}`);
      received.push(...replies);
    }

    const ids = received.map((reply) => reply.id);
    assert.equal(ids.filter((id) => id === "a").length, 4);
    assert.equal(ids.filter((id) => id === "b").length, 5);
    // Interleaved, not one stream after the other: "b" answers before "a" is done.
    assert.ok(ids.indexOf("b") < ids.lastIndexOf("a"), `interleaved: ${ids.join(" ")}`);
    // Each stream in its own order: next 1, 2, 3 …, then complete.
    for (const id of ["a", "b"]) {
      const stream = received.filter((reply) => reply.id === id);
      assert.deepEqual(
        stream.map((reply) => (reply.type === "next" ? (reply.payload.data?.["ticks"] as { n: number }).n : reply.type)),
        id === "a" ? [1, 2, 3, "complete"] : [1, 2, 3, 4, "complete"],
      );
    }
    await subscribers(ticks, 0);
    await client.close();
  });

  test("complete from the client cancels its subscription and leaves the other running", async () => {
    const { url, ticks } = await serve();
    const client = await connect(url);
    await initialise(client);
    await subscribe(client, "c", 10);
    await subscribe(client, "d", 10);
    await subscribers(ticks, 2);
    ticks.publish(1);
    assert.deepEqual((await read(client, 2)).sort(byId), [next("c", 1, 10), next("d", 1, 10)]);

    await client.writeMessage({ type: "complete", id: "c" });
    await subscribers(ticks, 1);
    ticks.publish(2);
    assert.deepEqual(await client.readMessage(SubscriptionReply), next("d", 2, 10));

    await client.writeMessage({ type: "complete", id: "d" });
    await subscribers(ticks, 0);
    ticks.publish(3);
    // Nothing more from either: the next message is the answer to this ping.
    await client.writeMessage({ type: "ping" });
    assert.deepEqual(await client.readMessage(Pong), { type: "pong" });

    // A completed id may be used again.
    await subscribe(client, "c", 1);
    await subscribers(ticks, 1);
    ticks.publish(4);
    assert.deepEqual(await read(client, 2), [next("c", 4, 1), { type: "complete", id: "c" }]);
    await client.close();
  });

  test("a query the executor does not know gets one error message with the id", async () => {
    const { url } = await serve();
    const client = await connect(url);
    await initialise(client);
    await client.writeMessage({ type: "subscribe", id: "e", payload: { query: "subscription { nothing }" } });
    const reply = await client.readMessage(SubscriptionReply);
    assert.equal(reply.type, "error");
    assert.equal(reply.id, "e");
    await client.close();
  });

  const closes: [string, (client: Client) => Promise<void>, number, RegExp][] = [
    ["subscribe before connection_init", (client) => subscribe(client, "x", 1), 4401, /Unauthorized/],
    [
      "a second connection_init",
      async (client) => {
        await initialise(client);
        await client.writeMessage({ type: "connection_init" });
      },
      4429,
      /Too many initialisation requests/,
    ],
    [
      "a subscribe id already running",
      async (client) => {
        await initialise(client);
        await subscribe(client, "x", 5);
        await subscribe(client, "x", 5);
      },
      4409,
      /Subscriber for x already exists/,
    ],
    [
      "a subscribe without an id (validation fails)",
      async (client) => {
        await initialise(client);
        await client.writeMessage({ type: "subscribe", payload: { query: "subscription { ticks }" } });
      },
      4400,
      /data validation failed: id/,
    ],
  ];
  for (const [what, provoke, code, reason] of closes) {
    test(`${what} closes with ${code}`, async () => {
      const { url } = await serve();
      const client = await connect(url);
      await provoke(client);
      const error = await within(client.readMessage().then(() => undefined, (e: unknown) => e), 5000, "the close");
      assert.ok(error instanceof ConnectionClosureError, String(error));
      assert.equal(error.closeCode, code);
      assert.match(error.message, reason);
    });
  }
});
