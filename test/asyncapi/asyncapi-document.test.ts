import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { toJsonSchema } from "@valibot/to-json-schema";
import * as v from "valibot";
import { z } from "zod";
import {
  type AsyncAPIDocument,
  type AsyncAPIOperation,
  bind,
  type Caller,
  type JsonSchema,
  Listener,
  type Service,
  toAsyncAPI,
  type UpgradeService,
} from "../../src/index.ts";
import gqlListener from "./fixtures/gql-service.ts";
import { parseValid } from "./validate.ts";

process.env["FERRY_LOG"] = "silent";

/** A listener (never started) with these services attached. */
function listenerWith(services: Record<string, UpgradeService>): Listener {
  const listener = new Listener(0, { host: "127.0.0.1" });
  for (const [path, service] of Object.entries(services)) listener.attach(path, service);
  return listener;
}

const unused = (): Service => ({});

/** The component a `$ref` inside the document points to. */
function resolve(document: AsyncAPIDocument, reference: { $ref: string }): unknown {
  assert.match(reference.$ref, /^#\//);
  let node: unknown = document;
  for (const segment of reference.$ref.slice(2).split("/")) {
    node = (node as Record<string, unknown>)[segment.replace(/~1/g, "/").replace(/~0/g, "~")];
    assert.ok(node !== undefined, `dangling reference ${reference.$ref}`);
  }
  return node;
}

/** The payload schema of a channel's message, by its key in the channel. */
function payloadOf(document: AsyncAPIDocument, channel: string, message: string): JsonSchema {
  const ref = document.channels[channel]!.messages[message];
  assert.ok(ref !== undefined, `no message ${message} in ${channel}: ${Object.keys(document.channels[channel]!.messages).join(", ")}`);
  const resolved = resolve(document, ref) as { payload: { $ref: string } };
  return resolve(document, resolved.payload) as JsonSchema;
}

function messageNames(document: AsyncAPIDocument, channel: string): string[] {
  return Object.keys(document.channels[channel]!.messages).sort();
}

describe("toAsyncAPI: a graphql-transport-ws service", () => {
  const document = toAsyncAPI(gqlListener, {
    title: "GraphQL over WebSocket",
    version: "2.1.0",
    description: "Subscriptions",
    servers: { local: "ws://127.0.0.1:4000", production: { host: "api.example.com", protocol: "wss", pathname: "/v1" } },
  });

  test("is valid under @asyncapi/parser and plain JSON", async () => {
    await parseValid(document);
    assert.deepEqual(JSON.parse(JSON.stringify(document)), document);
    assert.equal(document.asyncapi, "3.0.0");
    assert.deepEqual(document.info, { title: "GraphQL over WebSocket", version: "2.1.0", description: "Subscriptions" });
    assert.deepEqual(document.servers, {
      local: { host: "127.0.0.1:4000", protocol: "ws" },
      production: { host: "api.example.com", protocol: "wss", pathname: "/v1" },
    });
  });

  test("has a channel for the path with a message per dispatcher value, sent and received", () => {
    assert.deepEqual(Object.keys(document.channels), ["graphql"]);
    const channel = document.channels["graphql"]!;
    assert.equal(channel.address, "/graphql");
    assert.equal(channel.parameters, undefined);
    assert.deepEqual(messageNames(document, "graphql"), ["complete", "connection_ack", "connection_init", "error", "next", "ping", "pong", "subscribe"]);
    assert.match(JSON.stringify(channel.bindings?.ws.headers), /graphql-transport-ws/);
  });

  test("payloads are the schemas' JSON Schema, with the dispatcher key's constant", () => {
    const subscribe = payloadOf(document, "graphql", "subscribe");
    assert.equal(subscribe["type"], "object");
    assert.deepEqual((subscribe["properties"] as Record<string, JsonSchema>)["type"], { type: "string", const: "subscribe" });
    assert.deepEqual(subscribe["required"], ["type", "id", "payload"]);
    assert.equal(subscribe["$schema"], undefined);
    // "connection_init", not "connectionInit": the schema's literal names the value.
    const init = payloadOf(document, "graphql", "connection_init");
    assert.equal((init["properties"] as Record<string, JsonSchema>)["type"]!["const"], "connection_init");
  });

  test("operations receive what the client sends, with the declared replies", async () => {
    const operations: Record<string, AsyncAPIOperation> = Object.fromEntries(
      Object.values(document.operations).map((operation) => [operation["x-ferry-method"], operation]),
    );
    assert.deepEqual(Object.keys(operations).sort(), ["onComplete", "onConnectionInit", "onGqlPing", "onGqlPong", "onSubscribe"]);
    for (const operation of Object.values(document.operations)) {
      assert.equal(operation.action, "receive");
      assert.deepEqual(operation.channel, { $ref: "#/channels/graphql" });
    }
    const replies = (method: string): string[] | undefined =>
      operations[method]!.reply?.messages.map((message) => message.$ref.replace("#/channels/graphql/messages/", ""));
    assert.deepEqual(replies("onConnectionInit"), ["connection_ack"]);
    assert.deepEqual(replies("onSubscribe"), ["next", "error", "complete"]);
    assert.deepEqual(replies("onGqlPing"), ["pong"]);
    assert.equal(replies("onComplete"), undefined);
    assert.equal(operations["onSubscribe"]!.summary, "Runs a subscription; results come back as next messages with the request's id.");

    // The parser reads them the same way.
    const parsed = await parseValid(document);
    const subscribe = parsed.operations().all().find((operation) => operation.messages().all()[0]?.name() === "subscribe");
    assert.ok(subscribe !== undefined);
    assert.equal(subscribe.action(), "receive");
    assert.deepEqual(subscribe.channels().all().map((channel) => channel.address()), ["/graphql"]);
    assert.deepEqual(subscribe.reply()?.messages().all().map((message) => message.name()), ["next", "error", "complete"]);
  });

  test("the stream id is the correlation id of requests and of the replies that carry it", () => {
    const message = (key: string): { correlationId?: { location: string } } =>
      resolve(document, document.channels["graphql"]!.messages[key]!) as { correlationId?: { location: string } };
    for (const key of ["subscribe", "next", "error", "complete"]) assert.equal(message(key).correlationId?.location, "$message.payload#/id", key);
    for (const key of ["connection_init", "connection_ack", "ping"]) assert.equal(message(key).correlationId, undefined, key);
  });

  test("event handlers (onError, onClose) are not messages", () => {
    assert.ok(!Object.values(document.operations).some((operation) => /onError|onClose/.test(operation["x-ferry-method"] ?? "")));
  });
});

describe("toAsyncAPI: dispatcher values from method names", () => {
  const Greeting = z.object({ text: z.string() });

  class Named implements Service {
    // No constant in the schema: the value is the name without "on", lower-camel.
    onGetUser = bind(z.object({ userId: z.number().int() }), () => ({ name: "x" }));
    onConnectionInit = bind(Greeting, () => undefined);
    // Mapped: the mapping's value, not "renamed".
    onRenamed = bind(Greeting, () => undefined);
    onGetUserError(): void {}
    onOrphanError(): void {}
    onPing(): void {}
    onOpen(): void {}
    onIdleTimeout(): void {}
    once(): void {}
    // A plain method: any JSON object with the key.
    onHeartbeat(_caller: Caller, _data: unknown): void {}
    // "un subscribe" is mapped elsewhere, so this method is never reached by the value its name gives.
    onTaken(): void {}
  }

  const document = toAsyncAPI(
    listenerWith({
      "/named": {
        config: { dispatcherKey: "event", dispatcherMapping: { "un subscribe": "onRenamed", taken: "onRenamed", ghost: "onMissing" } },
        upgrade: () => new Named(),
        describe: Named,
      },
    }),
  );

  test("follows the mapping, then the lower-camel rule", async () => {
    await parseValid(document);
    assert.deepEqual(messageNames(document, "named"), ["connectionInit", "getUser", "heartbeat", "orphanError", "taken", "un_subscribe"].sort());
    const renamed = resolve(document, document.channels["named"]!.messages["un_subscribe"]!) as { name: string };
    assert.equal(renamed.name, "un subscribe");
    const methods = Object.values(document.operations).map((operation) => operation["x-ferry-method"]).sort();
    assert.deepEqual(methods, ["onConnectionInit", "onGetUser", "onHeartbeat", "onOrphanError", "onRenamed", "onRenamed"]);
  });

  test("adds the dispatcher key to schemas that lack it", () => {
    const getUser = payloadOf(document, "named", "getUser");
    assert.deepEqual(getUser["properties"], { userId: { type: "integer", minimum: Number.MIN_SAFE_INTEGER, maximum: Number.MAX_SAFE_INTEGER }, event: { type: "string", const: "getUser" } });
    assert.deepEqual(getUser["required"], ["userId", "event"]);
    assert.deepEqual(payloadOf(document, "named", "heartbeat"), { type: "object", properties: { event: { type: "string", const: "heartbeat" } }, required: ["event"] });
  });

  test("without a dispatcherKey, custom methods are not messages", () => {
    const plain = toAsyncAPI(listenerWith({ "/": { upgrade: () => new Named(), describe: new Named() } }));
    assert.deepEqual(plain.channels["root"]!.messages, {});
    assert.deepEqual(plain.operations, {});
  });
});

describe("toAsyncAPI: generic messages and paths", () => {
  const Chat = z.object({ to: z.string(), text: z.string().max(500) });
  const Receipt = z.object({ ok: z.boolean() });

  class ChatService implements Service {
    onTextMessage(_caller: Caller, text: string): string {
      return text;
    }
    onBinaryMessage(_caller: Caller, data: Uint8Array): Uint8Array {
      return data;
    }
    // Shadowed for text and binary by the two above: not described.
    onMessage(): void {}
  }

  const document = toAsyncAPI(
    listenerWith({
      "/rooms/{room}/chat": { upgrade: () => new ChatService(), describe: ChatService },
      "/echo": { upgrade: unused },
      "/json": {
        upgrade: unused,
        describe: { onMessage: bind(Chat, () => ({ ok: true }), { reply: Receipt, summary: "Sends a chat line." }) },
      },
      "/xml": { upgrade: unused, describe: { onMessage: bind("xml", () => undefined) } },
    }),
  );

  test("is valid", async () => {
    await parseValid(document);
  });

  test("a path with {params} is a channel with parameters", () => {
    const channel = document.channels["rooms.room.chat"]!;
    assert.equal(channel.address, "/rooms/{room}/chat");
    assert.deepEqual(Object.keys(channel.parameters ?? {}), ["room"]);
    assert.deepEqual(messageNames(document, "rooms.room.chat"), ["binaryMessage", "textMessage"]);
    assert.deepEqual(payloadOf(document, "rooms.room.chat", "textMessage"), { type: "string" });
    const binary = resolve(document, channel.messages["binaryMessage"]!) as { contentType: string };
    assert.equal(binary.contentType, "application/octet-stream");
  });

  test("a service without describe gets text and binary messages", () => {
    const channel = document.channels["echo"]!;
    assert.deepEqual(messageNames(document, "echo"), ["binaryMessage", "textMessage"]);
    assert.match(channel.description ?? "", /without `describe`/);
    assert.equal(Object.values(document.operations).filter((operation) => operation.channel.$ref === "#/channels/echo").length, 2);
  });

  test("onMessage bound to a schema, with a reply", () => {
    assert.deepEqual(messageNames(document, "json"), ["message", "message.reply"]);
    assert.deepEqual(payloadOf(document, "json", "message")["required"], ["to", "text"]);
    const operation = Object.values(document.operations).find((candidate) => candidate.channel.$ref === "#/channels/json")!;
    assert.equal(operation.summary, "Sends a chat line.");
    assert.deepEqual(operation.reply?.messages, [{ $ref: "#/channels/json/messages/message.reply" }]);
  });

  test("XML is text of content type application/xml", () => {
    const message = resolve(document, document.channels["xml"]!.messages["message"]!) as { contentType: string };
    assert.equal(message.contentType, "application/xml");
  });

  test("channel ids stay unique", () => {
    const twins = toAsyncAPI(listenerWith({ "/a/b": { upgrade: unused }, "/a.b": { upgrade: unused } }));
    assert.deepEqual(Object.keys(twins.channels).sort(), ["a.b", "a.b_2"]);
  });
});

describe("toAsyncAPI: JSON Schema from other libraries and awkward schemas", () => {
  const Move = v.object({ type: v.literal("move"), x: v.number(), y: v.number() });
  const Moved = v.object({ type: v.literal("moved"), ok: v.boolean() });

  interface Tree {
    name: string;
    children: Tree[];
  }
  const TreeSchema: z.ZodType<Tree> = z.lazy(() => z.object({ name: z.string(), children: z.array(TreeSchema) }));

  const service = {
    onMove: bind(Move, () => ({ type: "moved", ok: true }), { reply: Moved }),
    // Declared by hand: wins over anything ferry would work out.
    onJump: bind("json", () => undefined, { jsonSchema: { type: "object", properties: { height: { type: "number" } } } }),
    onPlant: bind(z.object({ tree: TreeSchema, spare: TreeSchema.optional() }), () => undefined),
    onSchedule: bind(z.object({ at: z.date(), count: z.string().transform(Number) }), () => undefined),
  };
  const listener = listenerWith({ "/game": { config: { dispatcherKey: "type" }, upgrade: unused, describe: service } });
  const plain = toAsyncAPI(listener);

  test("valibot without a hook: described as any value, and still valid", async () => {
    const document = plain;
    await parseValid(document);
    const move = payloadOf(document, "game", "move");
    assert.match(String(move["description"]), /valibot schema ferry cannot express/);
    assert.deepEqual(move["required"], ["type"]);
  });

  test("valibot through the jsonSchema hook", async () => {
    const document = toAsyncAPI(listener, {
      jsonSchema: (schema) => (schema["~standard"].vendor === "valibot" ? toJsonSchema(schema as v.GenericSchema) : undefined),
    });
    await parseValid(document);
    const move = payloadOf(document, "game", "move");
    assert.deepEqual(move["required"], ["type", "x", "y"]);
    assert.deepEqual((move["properties"] as Record<string, JsonSchema>)["type"], { const: "move" });
    assert.deepEqual(payloadOf(document, "game", "moved")["required"], ["type", "ok"]);
  });

  test("bind(…, { jsonSchema }) is used as given", () => {
    const document = plain;
    assert.deepEqual(payloadOf(document, "game", "jump"), {
      type: "object",
      properties: { height: { type: "number" }, type: { type: "string", const: "jump" } },
      required: ["type"],
    });
  });

  test("recursive schemas: definitions move to components and references follow", async () => {
    const document = plain;
    const parsed = await parseValid(document);
    const plant = payloadOf(document, "game", "plant");
    const tree = (plant["properties"] as Record<string, JsonSchema>)["tree"]!;
    assert.match(String(tree["$ref"]), /^#\/components\/schemas\/game\.plant\./);
    const definition = resolve(document, tree as { $ref: string }) as JsonSchema;
    assert.deepEqual(((definition["properties"] as Record<string, JsonSchema>)["children"]!["items"] as JsonSchema)["$ref"], tree["$ref"]);
    assert.equal(plant["definitions"], undefined);
    const message = parsed.messages().all().find((candidate) => candidate.name() === "plant");
    assert.deepEqual(message?.payload()?.properties()?.["tree"]?.properties()?.["name"]?.type(), "string");
  });

  test("named schemas (zod .meta({ id })): the root is inlined, a union reply split, unused definitions left out", async () => {
    const Point = z.object({ x: z.number(), y: z.number() }).meta({ id: "Point" });
    const Moved = z.object({ type: z.literal("moved"), id: z.string(), to: Point }).meta({ id: "Moved" });
    const Blocked = z.object({ type: z.literal("blocked"), reason: z.string() }).meta({ id: "Blocked" });
    const Walk = z.object({ type: z.literal("walk"), id: z.string(), to: Point }).meta({ id: "Walk" });
    // Declared apart: an object literal written in `describe` gets excess-property checks against Service.
    const walker = { onWalk: bind(Walk, () => undefined, { reply: z.discriminatedUnion("type", [Moved, Blocked]) }) };
    const document = toAsyncAPI(
      listenerWith({
        "/walk": { config: { dispatcherKey: "type", dispatcherStreamId: "id" }, upgrade: unused, describe: walker },
      }),
    );
    await parseValid(document);
    assert.deepEqual(messageNames(document, "walk"), ["blocked", "moved", "walk"]);
    const walk = payloadOf(document, "walk", "walk");
    assert.deepEqual(walk["required"], ["type", "id", "to"]);
    assert.deepEqual((walk["properties"] as Record<string, JsonSchema>)["to"], { $ref: "#/components/schemas/walk.walk.Point" });
    // "blocked" has no id of its own: ferry copies the request's in.
    assert.deepEqual(payloadOf(document, "walk", "blocked")["required"], ["type", "reason", "id"]);
    assert.deepEqual(Object.keys(document.components.schemas).sort(), ["walk.blocked", "walk.moved", "walk.moved.Point", "walk.walk", "walk.walk.Point"]);
  });

  test("transforms are described by their input; unrepresentable types as any value", () => {
    const schedule = payloadOf(plain, "game", "schedule");
    const properties = schedule["properties"] as Record<string, JsonSchema>;
    assert.deepEqual(properties["count"], { type: "string" });
    assert.deepEqual(properties["at"], {});
  });
});

test("toAsyncAPI refuses a server URL that does not parse", () => {
  assert.throws(() => toAsyncAPI(listenerWith({}), { servers: { bad: "not a url" } }), /not a server URL: not a url/);
});
