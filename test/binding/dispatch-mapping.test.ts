import assert from "node:assert/strict";
import { test } from "node:test";
import { Client } from "../../src/index.ts";
import { startListener } from "../helpers/listener.ts";

process.env["FERRY_LOG"] = "silent";

// dispatcherMapping is a plain object: a value such as "toString" must not find Object.prototype's
// function there and skip the name rule.
test("dispatcher values named like Object.prototype members follow the name rule", async () => {
  const listener = await startListener({
    "/": {
      config: { dispatcherKey: "type", dispatcherMapping: { hello: "onGreeting" } },
      upgrade: () => ({
        onToString: () => "onToString",
        onConstructor: () => "onConstructor",
        onHasOwnProperty: () => "onHasOwnProperty",
        onGreeting: () => "onGreeting",
        onTextMessage: () => "onTextMessage",
      }),
    },
  });
  const client = await Client.connect(`ws://127.0.0.1:${listener.port}/`, { readTimeout: 5 });
  for (const [type, method] of [
    ["toString", "onToString"],
    ["constructor", "onConstructor"],
    ["hasOwnProperty", "onHasOwnProperty"],
    ["__proto__", "onTextMessage"],
    ["hello", "onGreeting"],
  ]) {
    await client.writeMessage({ type });
    assert.equal(await client.readMessage("text"), method, type);
  }
  await client.close();
});
