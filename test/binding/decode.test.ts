import assert from "node:assert/strict";
import { test } from "node:test";
import * as v from "valibot";
import { z } from "zod";
import { decodeMessage } from "../../src/binding/decode.ts";
import { serializeXml } from "../../src/binding/xml.ts";
import { PayloadBindingError, PayloadValidationError } from "../../src/index.ts";

const utf8 = (text: string) => new Uint8Array(Buffer.from(text));

test("kinds from text frames and from binary frames", () => {
  assert.equal(decodeMessage("text", "héllo", true), "héllo");
  assert.equal(decodeMessage("text", utf8("héllo"), true), "héllo");
  assert.deepEqual(decodeMessage("binary", "hé", true), Buffer.from("hé"));
  assert.deepEqual(decodeMessage("json", '{"a":[1,null]}', true), { a: [1, null] });
  assert.deepEqual(decodeMessage("json", utf8("[true]"), true), [true]);
});

test("failures are PayloadBindingError with 'data binding failed'", () => {
  assert.throws(() => decodeMessage("json", "{nope", true), (e: unknown) => e instanceof PayloadBindingError && e.message.startsWith("data binding failed: "));
  assert.throws(() => decodeMessage("text", new Uint8Array([0xff, 0xfe]), true), PayloadBindingError);
  assert.throws(() => decodeMessage("xml", "<a><b></a>", true), PayloadBindingError);
});

test("xml: a W3C DOM Document that serializes back", () => {
  const doc = decodeMessage("xml", '<order id="3"><item>tea</item></order>', true) as ReturnType<typeof import("../../src/binding/xml.ts").parseXml>;
  assert.equal(doc.documentElement?.getAttribute("id"), "3");
  assert.equal(doc.getElementsByTagName("item")[0]?.textContent, "tea");
  assert.equal(serializeXml(doc), '<order id="3"><item>tea</item></order>');
});

const Order = z.object({ id: z.number().int(), note: z.string().default("none") });

test("zod: validated, with defaults and transforms applied", () => {
  assert.deepEqual(decodeMessage(Order, '{"id":3}', true), { id: 3, note: "none" });
  assert.throws(
    () => decodeMessage(Order, '{"id":"3"}', true),
    (e: unknown) => e instanceof PayloadValidationError && e instanceof PayloadBindingError && /^data validation failed: id: /.test(e.message),
  );
});

test("valibot speaks Standard Schema too", () => {
  const Schema = v.object({ name: v.pipe(v.string(), v.minLength(2)) });
  assert.deepEqual(decodeMessage(Schema, '{"name":"ab"}', true), { name: "ab" });
  assert.throws(() => decodeMessage(Schema, '{"name":"a"}', true), PayloadValidationError);
});

test("validation: false hands over the JSON unchecked", () => {
  assert.deepEqual(decodeMessage(Order, '{"id":"not a number"}', false), { id: "not a number" });
});

test("an asynchronous schema validates asynchronously", async () => {
  const Async = z.object({ n: z.number() }).refine(async (value) => value.n > 0, "n must be positive");
  assert.deepEqual(await decodeMessage(Async, '{"n":1}', true), { n: 1 });
  await assert.rejects(async () => decodeMessage(Async, '{"n":-1}', true), PayloadValidationError);
});
