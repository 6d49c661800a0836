import assert from "node:assert/strict";
import { test } from "node:test";
import {
  CloseFrame,
  closeFrame,
  GOING_AWAY,
  INTERNAL_SERVER_ERROR,
  INVALID_PAYLOAD,
  MESSAGE_TOO_BIG,
  NORMAL_CLOSURE,
  POLICY_VIOLATION,
  PROTOCOL_ERROR,
  UNSUPPORTED_DATA,
} from "../src/index.ts";
import { isCloseFrame } from "../src/close-frame.ts";

test("the SPEC §7 constants carry their codes", () => {
  const constants = [NORMAL_CLOSURE, GOING_AWAY, PROTOCOL_ERROR, UNSUPPORTED_DATA, INVALID_PAYLOAD, POLICY_VIOLATION, MESSAGE_TOO_BIG, INTERNAL_SERVER_ERROR];
  assert.deepEqual(constants.map((c) => c.status), [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1011]);
  assert.ok(constants.every((c) => c instanceof CloseFrame && Object.isFrozen(c)));
});

test("closeFrame() makes custom ones; only branded values count as close frames", () => {
  const frame = closeFrame(4000, "custom");
  assert.equal(frame.status, 4000);
  assert.equal(frame.reason, "custom");
  assert.ok(frame.valid);
  assert.equal(closeFrame(1005).valid, false);
  assert.ok(isCloseFrame(frame));
  assert.equal(isCloseFrame({ status: 1000 }), false);
  assert.equal(isCloseFrame(Object.create(CloseFrame.prototype) as unknown), true, "prototype identity is the brand");
});
