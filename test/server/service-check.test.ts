/**
 * Handlers nothing can ever call (a misspelling, a custom method without a dispatcherKey, a
 * name the dispatch rule cannot produce) are reported once per service class.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { bind, type Caller } from "../../src/index.ts";
import { unreachableMethods } from "../../src/server/service-check.ts";
import { nextMessages, openWs, startListener } from "../helpers/listener.ts";

const noDispatch = { dispatcherKey: undefined, dispatcherMapping: {} };

describe("unreachableMethods", () => {
  test("a misspelled handler, with the name it was likely meant to have", () => {
    class Chat {
      onTextMesage(_caller: Caller, text: string): string {
        return text;
      }
      onclose(): void {}
      onErorr(): void {}
    }
    assert.deepEqual(unreachableMethods(new Chat(), noDispatch), [
      { method: "onTextMesage", reason: "did you mean onTextMessage?" },
      { method: "onclose", reason: "did you mean onClose?" },
      { method: "onErorr", reason: "did you mean onError?" },
    ]);
  });

  test("custom methods without a dispatcherKey", () => {
    const found = unreachableMethods({ onSubscribe: () => undefined, onTextMessage: () => undefined }, noDispatch);
    assert.deepEqual(found, [{ method: "onSubscribe", reason: "custom methods are reached only through config.dispatcherKey" }]);
  });

  test("with a dispatcherKey: names the rule produces, mapping values and their error handlers are reachable", () => {
    class Dispatched {
      onSubscribe = bind("json", () => undefined);
      onSubscribeError(): void {}
      onGetUser(): void {}
      onConnection_init(): void {}
      onMapped_name(): void {}
      onMapped_nameError(): void {}
      onMessageError(): void {}
      once(): void {}
      online(): void {}
      get onComputed(): () => void {
        throw new Error("getters are not run");
      }
    }
    const found = unreachableMethods(new Dispatched(), { dispatcherKey: "event", dispatcherMapping: { mapped: "onMapped_name" } });
    assert.deepEqual(found.map((entry) => entry.method), ["onConnection_init"]);
    assert.match(found[0]!.reason, /the dispatch rule cannot produce this name/);
  });

  test("event handlers and the error handlers of message handlers are never reported", () => {
    const service = {
      onOpen() {},
      onClose() {},
      onError() {},
      onPing() {},
      onPong() {},
      onIdleTimeout() {},
      onTextMessage() {},
      onTextMessageError() {},
      onBinaryMessage() {},
      onMessage() {},
      onMessageError() {},
    };
    assert.deepEqual(unreachableMethods(service, noDispatch), []);
  });
});

describe("the listener warns once per service class and upgrade service", async () => {
  class Misspelled {
    onTextMesage(_caller: Caller, text: string): string {
      return text;
    }
    onTextMessage(_caller: Caller, text: string): string {
      return `echo ${text}`;
    }
  }
  const listener = await startListener({
    "/class": { upgrade: () => new Misspelled() },
    "/literal": { upgrade: () => ({ onHeartbeat: () => "beat", onTextMessage: (_caller: Caller, text: string) => text }) },
  });

  test("naming the class (or the path of a literal) and the method", async (t) => {
    const previous = process.env["FERRY_LOG"];
    process.env["FERRY_LOG"] = "";
    const warn = t.mock.method(console, "warn", () => undefined);
    try {
      for (const path of ["/class", "/class", "/literal", "/literal"]) {
        const ws = await openWs(listener.port, path);
        ws.send("hi");
        await nextMessages(ws, 1);
        ws.close();
      }
    } finally {
      process.env["FERRY_LOG"] = previous;
    }
    const lines = warn.mock.calls.map((call) => String(call.arguments[0]));
    assert.deepEqual(lines, [
      "ferry: Misspelled.onTextMesage of the service at /class is never called: did you mean onTextMessage?",
      "ferry: onHeartbeat of the service at /literal is never called: custom methods are reached only through config.dispatcherKey",
    ]);
  });

  test("the same class at two paths is checked against each path's dispatch config", async (t) => {
    class Subscriber {
      onSubscribe(): string {
        return "subscribed";
      }
      onTextMessage(_caller: Caller, text: string): string {
        return text;
      }
    }
    const shared = await startListener({
      "/dispatched": { config: { dispatcherKey: "event" }, upgrade: () => new Subscriber() },
      "/plain": { upgrade: () => new Subscriber() },
    });
    const previous = process.env["FERRY_LOG"];
    process.env["FERRY_LOG"] = "";
    const warn = t.mock.method(console, "warn", () => undefined);
    try {
      for (const path of ["/dispatched", "/plain", "/plain"]) {
        const ws = await openWs(shared.port, path);
        ws.send("hi");
        await nextMessages(ws, 1);
        ws.close();
      }
    } finally {
      process.env["FERRY_LOG"] = previous;
    }
    assert.deepEqual(
      warn.mock.calls.map((call) => String(call.arguments[0])),
      ["ferry: Subscriber.onSubscribe of the service at /plain is never called: custom methods are reached only through config.dispatcherKey"],
    );
  });
});
