import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  iterateStream,
  OUT_BINARY,
  OUT_CLOSE,
  OUT_JSON,
  OUT_NOTHING,
  OUT_STREAM,
  OUT_TEXT,
  OUT_XML,
  outgoingKind,
  textOf,
} from "../../src/binding/outgoing.ts";
import { parseXml } from "../../src/binding/xml.ts";
import { closeFrame, PayloadBindingError } from "../../src/index.ts";

describe("outgoingKind", () => {
  test("each value goes out by one rule of SPEC §4", () => {
    const cases: [unknown, number][] = [
      ["text", OUT_TEXT],
      [null, OUT_NOTHING],
      [undefined, OUT_NOTHING],
      [42, OUT_JSON],
      [new Uint8Array(1), OUT_BINARY],
      [new DataView(new ArrayBuffer(2)), OUT_BINARY],
      [new ArrayBuffer(1), OUT_BINARY],
      [closeFrame(1000), OUT_CLOSE],
      [parseXml("<a/>"), OUT_XML],
      [(async function* () {})(), OUT_STREAM],
      [(function* () {})(), OUT_STREAM],
      [[1, 2], OUT_JSON],
      [new Map(), OUT_JSON],
      [{ status: 1000 }, OUT_JSON],
    ];
    for (const [value, kind] of cases) assert.equal(outgoingKind(value), kind, String(value));
  });
});

describe("textOf", () => {
  test("JSON and XML text; what JSON leaves out is undefined", () => {
    assert.equal(textOf({ a: [1, null] }, OUT_JSON), '{"a":[1,null]}');
    assert.equal(textOf(parseXml('<a x="1"/>'), OUT_XML), '<a x="1"/>');
    assert.equal(textOf(() => 1, OUT_JSON), undefined);
  });

  test("a value JSON cannot hold is a PayloadBindingError", () => {
    const circular: Record<string, unknown> = {};
    circular["self"] = circular;
    for (const value of [circular, 10n, { toJSON: () => { throw new Error("no") } }]) {
      assert.throws(() => textOf(value, OUT_JSON), (error: unknown) => {
        assert.ok(error instanceof PayloadBindingError);
        assert.match(error.message, /^data binding failed: the value cannot be written as JSON: /);
        return true;
      });
    }
  });
});

describe("iterateStream", () => {
  test("ending the iteration early ends a sync generator too: its finally runs", async () => {
    let ended = false;
    const source = (function* () {
      try {
        yield 1;
        yield 2;
      } finally {
        ended = true;
      }
    })();
    for await (const element of iterateStream(source)) {
      assert.equal(element, 1);
      break;
    }
    assert.equal(ended, true);
  });
});
