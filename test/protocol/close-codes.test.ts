import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ABNORMAL_CLOSURE, isValidCloseCode, MAX_CLOSE_REASON_BYTES, NO_STATUS_RECEIVED } from "../../src/protocol/close-codes.ts";

describe("isValidCloseCode", () => {
  const valid = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3500, 4000, 4999];
  const invalid = [-1, 0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1999, 2000, 2999, 5000, 65535, 1000.5, NaN];
  for (const code of valid) {
    it(`accepts ${code}`, () => assert.equal(isValidCloseCode(code), true));
  }
  for (const code of invalid) {
    it(`rejects ${code}`, () => assert.equal(isValidCloseCode(code), false));
  }

  it("accepts exactly 1000-1003, 1007-1014 and 3000-4999 in 0..65535", () => {
    const accepted: number[] = [];
    for (let code = 0; code <= 65535; code++) if (isValidCloseCode(code)) accepted.push(code);
    const expected: number[] = [];
    for (let code = 1000; code <= 1003; code++) expected.push(code);
    for (let code = 1007; code <= 1014; code++) expected.push(code);
    for (let code = 3000; code <= 4999; code++) expected.push(code);
    assert.deepEqual(accepted, expected);
  });
});

describe("close-code constants", () => {
  it("has the reserved reporting codes and the reason limit", () => {
    assert.equal(NO_STATUS_RECEIVED, 1005);
    assert.equal(ABNORMAL_CLOSURE, 1006);
    assert.equal(MAX_CLOSE_REASON_BYTES, 123);
    assert.equal(isValidCloseCode(NO_STATUS_RECEIVED), false);
    assert.equal(isValidCloseCode(ABNORMAL_CLOSURE), false);
  });
});
