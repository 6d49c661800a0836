import assert from "node:assert/strict";
import { test } from "node:test";
import { methodNameFor } from "../../src/binding/method-name.ts";

const table: [string, string][] = [
  ["heartbeat", "onHeartbeat"],
  ["un subscribe", "onUnSubscribe"],
  ["connection_init", "onConnectionInit"],
  ["_ping", "onPing"],
  ["getUser", "onGetUser"],
  ["GET-user", "onGETUser"],
  ["a--b__c  d", "onABCD"],
  ["v2.update", "onV2Update"],
  ["2fa", "on2fa"],
  ["ünïcode-wörd", "onÜnïcodeWörd"],
  ["", "on"],
  ["---", "on"],
];

test("the name rule of SPEC §6, case by case", () => {
  for (const [value, name] of table) assert.equal(methodNameFor(value), name, JSON.stringify(value));
});
