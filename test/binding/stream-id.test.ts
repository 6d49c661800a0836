import assert from "node:assert/strict";
import { test } from "node:test";
import { streamIdOf, withStreamId } from "../../src/binding/stream-id.ts";

test("the stream id is read from request objects only", () => {
  assert.equal(streamIdOf({ id: "7", type: "subscribe" }, "id"), "7");
  assert.equal(streamIdOf({ id: 0 }, "id"), 0);
  assert.equal(streamIdOf({ type: "x" }, "id"), undefined);
  assert.equal(streamIdOf([1], "0"), undefined);
  assert.equal(streamIdOf("text", "id"), undefined);
  assert.equal(streamIdOf({ id: "7" }, undefined), undefined);
});

test("replies that are plain objects get the id; others pass unchanged", () => {
  assert.deepEqual(withStreamId({ type: "next" }, "id", "7"), { type: "next", id: "7" });
  assert.deepEqual(withStreamId({ type: "next", id: "own" }, "id", "7"), { type: "next", id: "own" });
  assert.deepEqual(withStreamId([1, 2], "id", "7"), [1, 2]);
  assert.equal(withStreamId("text", "id", "7"), "text");
  const date = new Date(0);
  assert.equal(withStreamId(date, "id", "7"), date);
  assert.deepEqual(withStreamId({ a: 1 }, "id", undefined), { a: 1 });
});
