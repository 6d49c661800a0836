import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { z } from "zod";
import {
  bind,
  type Caller,
  type Document,
  PayloadBindingError,
  PayloadValidationError,
  type ServiceConfig,
  type UpgradeResult,
} from "../../src/index.ts";
import { closed, delay, nextMessages, openWs, startListener } from "../helpers/listener.ts";

async function serve(make: () => UpgradeResult, config: ServiceConfig = {}): Promise<number> {
  const listener = await startListener({ "/": { config: { allowedOrigins: ["*"], ...config }, upgrade: make } });
  return listener.port;
}

const Heartbeat = z.object({ event: z.literal("heartbeat"), n: z.number() });

describe("custom dispatch (SPEC §6)", async () => {
  const port = await serve(
    () => ({
      onHeartbeat: bind(Heartbeat, (_caller: Caller, message) => `beat ${message.n + 1}`),
      onGetUser: (_caller: Caller, message: { name: string }) => `user ${message.name}`,
      onMapped: () => "mapped wins",
      onRenamed: () => "by the name rule",
      onTextMessage: (_caller: Caller, text: string) => `text: ${text}`,
      onBinaryMessage: (_caller: Caller, data: Uint8Array) => `binary of ${data.length}`,
    }),
    { dispatcherKey: "event", dispatcherMapping: { renamed: "onMapped" } },
  );

  test("the mapping first, then the name rule, then onTextMessage", async () => {
    const ws = await openWs(port, "/");
    ws.send(JSON.stringify({ event: "heartbeat", n: 1 }));
    ws.send(JSON.stringify({ event: "getUser", name: "ada" }));
    ws.send(JSON.stringify({ event: "renamed" }));
    ws.send(JSON.stringify({ event: "unknown" }));
    ws.send(JSON.stringify({ event: 42 }));
    ws.send("not json");
    ws.send(JSON.stringify(["event", "heartbeat"]));
    assert.deepEqual(await nextMessages(ws, 7), [
      "beat 2",
      "user ada",
      "mapped wins",
      'text: {"event":"unknown"}',
      'text: {"event":42}',
      "text: not json",
      'text: ["event","heartbeat"]',
    ]);
    ws.close();
  });

  test("binary frames are never custom-dispatched", async () => {
    const ws = await openWs(port, "/");
    ws.send(Buffer.from(JSON.stringify({ event: "heartbeat", n: 1 })));
    assert.deepEqual(await nextMessages(ws, 1), ["binary of 27"]);
    ws.close();
  });
});

describe("fallbacks", () => {
  test("without onTextMessage: onMessage with JSON; without either: dropped", async () => {
    const port = await serve(() => ({ onMessage: (_c: Caller, data: unknown) => ({ got: data }) }), { dispatcherKey: "type" });
    const ws = await openWs(port, "/");
    ws.send(JSON.stringify({ type: "nothing-for-this", v: 1 }));
    ws.send(Buffer.from("[1,2]"));
    assert.deepEqual(await nextMessages(ws, 2), ['{"got":{"type":"nothing-for-this","v":1}}', '{"got":[1,2]}']);
    ws.close();

    const quiet = await serve(() => ({ onOpen: () => undefined }));
    const other = await openWs(quiet, "/");
    other.send("dropped");
    other.send(Buffer.from([1]));
    await delay(100);
    assert.deepEqual(await nextMessages(other, 0), []);
    other.close();
  });

  test("onMessage bound to xml receives a Document; a returned Document goes back as text", async () => {
    const port = await serve(() => ({
      onMessage: bind("xml", (_caller, doc: Document) => {
        const root = doc.documentElement!;
        root.setAttribute("seen", "yes");
        return doc;
      }),
    }));
    const ws = await openWs(port, "/");
    ws.send("<ping><n>1</n></ping>");
    assert.deepEqual(await nextMessages(ws, 1), ['<ping seen="yes"><n>1</n></ping>']);
    ws.close();
  });
});

describe("binding failures", () => {
  test("onXError gets the error and the connection stays open", async () => {
    const errors: unknown[] = [];
    const port = await serve(
      () => ({
        onHeartbeat: bind(Heartbeat, () => "ok"),
        onHeartbeatError: (_c: Caller, error: unknown) => void errors.push(error),
        onMessage: bind("json", () => "never"),
        onMessageError: (_c: Caller, error: unknown) => {
          errors.push(error);
          return { type: "error", reason: "bad message" };
        },
      }),
      { dispatcherKey: "event" },
    );
    const ws = await openWs(port, "/");
    ws.send(JSON.stringify({ event: "heartbeat", n: "one" }));
    ws.send("{broken json");
    ws.send(JSON.stringify({ event: "heartbeat", n: 1 }));
    assert.deepEqual(await nextMessages(ws, 2), ['{"type":"error","reason":"bad message"}', "ok"], "onXError's reply goes back");
    assert.ok(errors[0] instanceof PayloadValidationError);
    assert.match((errors[0] as Error).message, /^data validation failed: n: /);
    assert.ok(errors[1] instanceof PayloadBindingError && !(errors[1] instanceof PayloadValidationError));
    ws.close();
  });

  test("without onXError: onError, and the connection stays open", async () => {
    const errors: unknown[] = [];
    const port = await serve(
      () => ({
        onHeartbeat: bind(Heartbeat, () => "ok"),
        onError: (_c: Caller, error: unknown) => void errors.push(error),
      }),
      { dispatcherKey: "event" },
    );
    const ws = await openWs(port, "/");
    ws.send(JSON.stringify({ event: "heartbeat" }));
    ws.send(JSON.stringify({ event: "heartbeat", n: 2 }));
    assert.deepEqual(await nextMessages(ws, 1), ["ok"]);
    assert.ok(errors[0] instanceof PayloadValidationError);
    ws.close();
  });

  test("with neither: close 1003 with the message, cut to 123 bytes on a character boundary", async () => {
    const Long = z.object({ event: z.string(), value: z.string().refine(() => false, "é".repeat(100)) });
    const port = await serve(() => ({ onThing: bind(Long, () => "never") }), { dispatcherKey: "event" });
    const ws = await openWs(port, "/");
    const result = closed(ws);
    ws.send(JSON.stringify({ event: "thing", value: "x" }));
    const { code, reason } = await result;
    assert.equal(code, 1003);
    assert.ok(reason.startsWith("data validation failed: value: éé"), reason);
    assert.ok(Buffer.byteLength(reason) <= 123 && Buffer.byteLength(reason) >= 122, `${Buffer.byteLength(reason)} bytes`);
    assert.ok(!reason.includes("\ufffd"));

    const plain = await serve(() => ({ onMessage: bind("json", () => "never") }));
    const other = await openWs(plain, "/");
    const second = closed(other);
    other.send("nope");
    const outcome = await second;
    assert.equal(outcome.code, 1003);
    assert.match(outcome.reason, /^data binding failed: /);
  });

  test("validation: false hands the handler unchecked JSON", async () => {
    const port = await serve(() => ({ onHeartbeat: bind(Heartbeat, (_c, message) => ({ raw: message })) }), {
      dispatcherKey: "event",
      validation: false,
    });
    const ws = await openWs(port, "/");
    ws.send(JSON.stringify({ event: "heartbeat", n: "not a number" }));
    assert.deepEqual(await nextMessages(ws, 1), ['{"raw":{"event":"heartbeat","n":"not a number"}}']);
    ws.close();
  });
});

describe("dispatcherStreamId", () => {
  test("the request's id is copied into every object sent back for it, returned or streamed", async () => {
    const port = await serve(
      () => ({
        onGet: () => ({ type: "result", value: 1 }),
        async *onWatch(_caller: Caller, request: { count: number }): AsyncGenerator<unknown> {
          for (let i = 0; i < request.count; i++) {
            await delay(5);
            yield { type: "next", i };
          }
          yield "plain text has no id";
          yield { type: "complete", id: "kept" };
        },
      }),
      { dispatcherKey: "type", dispatcherStreamId: "id" },
    );
    const ws = await openWs(port, "/");
    ws.send(JSON.stringify({ type: "watch", id: "a", count: 2 }));
    ws.send(JSON.stringify({ type: "get", id: 7 }));
    const got = (await nextMessages(ws, 5)).map(String);
    assert.equal(got[0], '{"type":"result","value":1,"id":7}', "the later request is answered while the stream runs");
    assert.deepEqual(got.slice(1), [
      '{"type":"next","i":0,"id":"a"}',
      '{"type":"next","i":1,"id":"a"}',
      "plain text has no id",
      '{"type":"complete","id":"kept"}',
    ]);
    ws.close();
  });
});

describe("reserved names", () => {
  test("a dispatcher value cannot reach event handlers or error handlers, unless mapped", async () => {
    const calls: string[] = [];
    const port = await serve(
      () => ({
        onClose: () => void calls.push("onClose"),
        onError: () => void calls.push("onError"),
        onPing: () => void calls.push("onPing"),
        onSubscribe: () => "subscribed",
        onSubscribeError: () => void calls.push("onSubscribeError"),
        onAppPing: () => "app pong",
        onTextMessage: (_c: Caller, text: string) => `fallback ${text}`,
      }),
      { dispatcherKey: "type", dispatcherMapping: { ping: "onAppPing" } },
    );
    const ws = await openWs(port, "/");
    for (const type of ["close", "error", "_ping", "subscribe_error", "text_message", "ping", "subscribe"]) ws.send(JSON.stringify({ type }));
    const got = await nextMessages(ws, 7);
    assert.deepEqual(got, [
      'fallback {"type":"close"}',
      'fallback {"type":"error"}',
      'fallback {"type":"_ping"}',
      'fallback {"type":"subscribe_error"}',
      'fallback {"type":"text_message"}',
      "app pong",
      "subscribed",
    ]);
    assert.deepEqual(calls, []);
    ws.close();
  });
});
