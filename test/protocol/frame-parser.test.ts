import assert from "node:assert/strict";
import { constants as bufferConstants } from "node:buffer";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  CorruptedFrameError,
  InvalidContinuationFrameError,
  PayloadTooLargeError,
  WebSocketError,
} from "../../src/errors.ts";
import {
  EV_BINARY,
  EV_CLOSE,
  EV_ERROR,
  EV_NONE,
  EV_PING,
  EV_PONG,
  EV_TEXT,
  FrameParser,
  type FrameParserOptions,
  TARGET_LOOKAHEAD,
} from "../../src/protocol/frame-parser.ts";
import { OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_PONG, OP_TEXT } from "../../src/protocol/opcodes.ts";
import {
  bytewise,
  chop,
  CLIENT,
  closePayload,
  drain,
  feedChunks,
  parseAll,
  rawFrame,
  type RawFrameOptions,
  type Recorded,
  SERVER,
  unicodeString,
} from "./frames.ts";

/** A frame as a client sends it (masked): what a server-role parser expects. */
const c = (o: RawFrameOptions): Buffer => rawFrame({ mask: true, ...o });
/** A frame as a server sends it (unmasked): what a client-role parser expects. */
const s = (o: RawFrameOptions): Buffer => rawFrame({ mask: false, ...o });

const bytes = (n: number, seed = 1): Buffer => {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed * 7) & 0xff;
  return b;
};

type ErrorClass = typeof CorruptedFrameError | typeof InvalidContinuationFrameError | typeof PayloadTooLargeError;

function assertError(recorded: Recorded | undefined, code: number, cls: ErrorClass): void {
  assert.ok(recorded !== undefined, "expected an error event, got nothing");
  assert.equal(recorded.ev, "error", `expected an error event, got ${JSON.stringify(recorded)}`);
  if (recorded.ev !== "error") return;
  assert.equal(recorded.code, code);
  assert.equal(recorded.error.constructor, cls, `expected ${cls.name}, got ${recorded.error.constructor.name}`);
  assert.ok(recorded.error instanceof WebSocketError);
  assert.equal((recorded.error as WebSocketError).closeCode, code);
}

describe("FrameParser: data and control events", () => {
  for (const [role, options, f] of [
    ["server", SERVER, c],
    ["client", CLIENT, s],
  ] as const) {
    describe(`${role} role`, () => {
      it("returns a text frame as EV_TEXT with its text", () => {
        assert.deepEqual(parseAll(options, f({ opcode: OP_TEXT, payload: "Hello, κόσμε 🚀" })), [
          { ev: "text", text: "Hello, κόσμε 🚀" },
        ]);
      });

      it("returns a binary frame as EV_BINARY with its bytes", () => {
        const payload = bytes(100);
        assert.deepEqual(parseAll(options, f({ opcode: OP_BINARY, payload })), [{ ev: "binary", data: [...payload] }]);
      });

      it("returns ping and pong payloads", () => {
        assert.deepEqual(
          parseAll(options, f({ opcode: OP_PING, payload: "are you there" }), f({ opcode: OP_PONG, payload: Uint8Array.of(0, 1, 255) })),
          [
            { ev: "ping", data: [...Buffer.from("are you there")] },
            { ev: "pong", data: [0, 1, 255] },
          ],
        );
      });

      it("returns empty frames as empty events", () => {
        assert.deepEqual(
          parseAll(
            options,
            f({ opcode: OP_TEXT }),
            f({ opcode: OP_BINARY }),
            f({ opcode: OP_PING }),
            f({ opcode: OP_PONG }),
            f({ opcode: OP_TEXT, fin: false }),
            f({ opcode: OP_CONTINUATION, fin: false }),
            f({ opcode: OP_CONTINUATION }),
            f({ opcode: OP_BINARY, fin: false }),
            f({ opcode: OP_CONTINUATION }),
          ),
          [
            { ev: "text", text: "" },
            { ev: "binary", data: [] },
            { ev: "ping", data: [] },
            { ev: "pong", data: [] },
            { ev: "text", text: "" },
            { ev: "binary", data: [] },
          ],
        );
      });

      it("accepts a control frame of exactly 125 bytes", () => {
        const payload = bytes(125);
        assert.deepEqual(parseAll(options, f({ opcode: OP_PING, payload })), [{ ev: "ping", data: [...payload] }]);
      });

      for (const size of [125, 126, 127, 1000, 65535, 65536, 100_000]) {
        it(`reads a ${size}-byte payload (${size < 126 ? "7" : size < 65536 ? "16" : "64"}-bit length)`, () => {
          const payload = bytes(size, size);
          const frame = f({ opcode: OP_BINARY, payload });
          assert.equal(frame[1]! & 0x7f, size < 126 ? size : size < 65536 ? 126 : 127);
          assert.deepEqual(parseAll(options, frame), [{ ev: "binary", data: [...payload] }]);
          const text = "é".repeat(size >> 1) + (size & 1 ? "x" : "");
          assert.deepEqual(parseAll(options, f({ opcode: OP_TEXT, payload: text })), [{ ev: "text", text }]);
        });
      }

      it("accepts non-minimal length encodings (16-bit and 64-bit forms of small lengths)", () => {
        assert.deepEqual(
          parseAll(options, f({ opcode: OP_TEXT, payload: "abc", lengthForm: 16 }), f({ opcode: OP_BINARY, payload: Uint8Array.of(9), lengthForm: 64 })),
          [
            { ev: "text", text: "abc" },
            { ev: "binary", data: [9] },
          ],
        );
      });

      it("joins fragmented text and binary messages", () => {
        assert.deepEqual(
          parseAll(
            options,
            f({ opcode: OP_TEXT, fin: false, payload: "Hel" }),
            f({ opcode: OP_CONTINUATION, fin: false, payload: "lo, " }),
            f({ opcode: OP_CONTINUATION, payload: "world" }),
            f({ opcode: OP_BINARY, fin: false, payload: Uint8Array.of(1, 2) }),
            f({ opcode: OP_CONTINUATION, payload: Uint8Array.of(3) }),
          ),
          [
            { ev: "text", text: "Hello, world" },
            { ev: "binary", data: [1, 2, 3] },
          ],
        );
      });

      it("keeps a leading byte order mark, whole or fragmented", () => {
        const bom = Uint8Array.of(0xef, 0xbb, 0xbf);
        assert.deepEqual(
          parseAll(
            options,
            f({ opcode: OP_TEXT, payload: Buffer.concat([bom, Buffer.from("a")]) }),
            f({ opcode: OP_TEXT, fin: false, payload: bom.subarray(0, 2) }),
            f({ opcode: OP_CONTINUATION, payload: Buffer.concat([bom.subarray(2), Buffer.from("b")]) }),
          ),
          [
            { ev: "text", text: "\ufeffa" },
            { ev: "text", text: "\ufeffb" },
          ],
        );
      });

      it("joins a code point split across fragments", () => {
        const euro = Buffer.from("€"); // e2 82 ac
        assert.deepEqual(
          parseAll(
            options,
            f({ opcode: OP_TEXT, fin: false, payload: Buffer.concat([Buffer.from("a"), euro.subarray(0, 1)]) }),
            f({ opcode: OP_CONTINUATION, fin: false, payload: euro.subarray(1, 2) }),
            f({ opcode: OP_CONTINUATION, payload: Buffer.concat([euro.subarray(2), Buffer.from("b")]) }),
          ),
          [{ ev: "text", text: "a€b" }],
        );
      });

      it("delivers control frames interleaved in a fragmented message before the message", () => {
        assert.deepEqual(
          parseAll(
            options,
            f({ opcode: OP_TEXT, fin: false, payload: "frag1 " }),
            f({ opcode: OP_PING, payload: "p1" }),
            f({ opcode: OP_CONTINUATION, fin: false, payload: "frag2 " }),
            f({ opcode: OP_PONG, payload: "p2" }),
            f({ opcode: OP_PING, payload: "p3" }),
            f({ opcode: OP_CONTINUATION, payload: "frag3" }),
            f({ opcode: OP_BINARY, payload: Uint8Array.of(7) }),
          ),
          [
            { ev: "ping", data: [...Buffer.from("p1")] },
            { ev: "pong", data: [...Buffer.from("p2")] },
            { ev: "ping", data: [...Buffer.from("p3")] },
            { ev: "text", text: "frag1 frag2 frag3" },
            { ev: "binary", data: [7] },
          ],
        );
      });

      it("ends the message on a close frame in the middle of a fragmented message", () => {
        assert.deepEqual(
          parseAll(
            options,
            f({ opcode: OP_TEXT, fin: false, payload: "half" }),
            f({ opcode: OP_CLOSE, payload: closePayload(1001, "bye") }),
            f({ opcode: OP_CONTINUATION, payload: "rest" }),
          ),
          [{ ev: "close", code: 1001, reason: "bye" }],
        );
      });

      it("reports a close frame without payload as 1005 with an empty reason", () => {
        const parser = new FrameParser(options);
        parser.push(f({ opcode: OP_CLOSE }));
        assert.equal(parser.next(), EV_CLOSE);
        assert.equal(parser.closeCode, 1005);
        assert.equal(parser.closeReason, "");
        assert.equal(parser.next(), EV_NONE);
      });

      it("reports a close frame's code and UTF-8 reason", () => {
        assert.deepEqual(parseAll(options, f({ opcode: OP_CLOSE, payload: closePayload(1000) })), [{ ev: "close", code: 1000, reason: "" }]);
        const reason = "ü".repeat(61) + "x"; // 123 bytes, the most a close frame can carry
        assert.equal(Buffer.byteLength(reason), 123);
        assert.deepEqual(parseAll(options, f({ opcode: OP_CLOSE, payload: closePayload(4321, reason) })), [
          { ev: "close", code: 4321, reason },
        ]);
      });

      it("processes nothing after a close frame, in the same chunk or later", () => {
        const parser = new FrameParser(options);
        parser.push(
          Buffer.concat([
            f({ opcode: OP_TEXT, payload: "before" }),
            f({ opcode: OP_CLOSE, payload: closePayload(1000, "done") }),
            f({ opcode: OP_TEXT, payload: "after" }),
            f({ opcode: OP_PING, payload: "after" }),
          ]),
        );
        assert.deepEqual(drain(parser), [
          { ev: "text", text: "before" },
          { ev: "close", code: 1000, reason: "done" },
        ]);
        assert.equal(parser.done, true);
        assert.equal(parser.bufferedBytes, 0);
        parser.push(Buffer.concat([f({ opcode: OP_BINARY, payload: "late" }), Buffer.from([0xff, 0xff])]));
        assert.equal(parser.bufferedBytes, 0);
        assert.deepEqual(drain(parser), []);
        assert.equal(parser.next(), EV_NONE);
      });

      it("processes nothing after an error", () => {
        const parser = new FrameParser(options);
        parser.push(Buffer.concat([f({ opcode: 0x3 }), f({ opcode: OP_TEXT, payload: "after" })]));
        const events = drain(parser);
        assert.equal(events.length, 1);
        assertError(events[0], 1002, CorruptedFrameError);
        assert.equal(parser.done, true);
        parser.push(f({ opcode: OP_TEXT, payload: "later" }));
        assert.deepEqual(drain(parser), []);
      });

      it("waits (EV_NONE) on a partial frame and completes when the rest arrives", () => {
        const frame = f({ opcode: OP_TEXT, payload: "partial" });
        const parser = new FrameParser(options);
        parser.push(frame.subarray(0, frame.length - 1));
        assert.equal(parser.next(), EV_NONE);
        assert.equal(parser.next(), EV_NONE);
        parser.push(frame.subarray(frame.length - 1));
        assert.equal(parser.next(), EV_TEXT);
        assert.equal(parser.text, "partial");
      });

      it("returns events one at a time, each with its own data", () => {
        const parser = new FrameParser(options);
        parser.push(Buffer.concat([f({ opcode: OP_PING, payload: "a" }), f({ opcode: OP_BINARY, payload: "bb" }), f({ opcode: OP_PONG, payload: "c" })]));
        assert.equal(parser.next(), EV_PING);
        assert.equal(parser.data.toString(), "a");
        assert.equal(parser.next(), EV_BINARY);
        assert.equal(parser.data.toString(), "bb");
        assert.equal(parser.next(), EV_PONG);
        assert.equal(parser.data.toString(), "c");
        assert.equal(parser.next(), EV_NONE);
      });
    });
  }
});

interface Violation {
  name: string;
  options: FrameParserOptions;
  /** Valid frames before the offending one, and the events they produce. */
  before?: Buffer[];
  beforeEvents?: Recorded[];
  frame: Buffer;
  /** How many bytes of `frame` are enough to report the error (fewer: nothing yet). */
  header?: number;
  code: number;
  cls: ErrorClass;
}

const LIMITED: FrameParserOptions = { role: "server", maxFrameSize: 100, maxMessageSize: 0 };
const MSG_LIMITED: FrameParserOptions = { role: "server", maxFrameSize: 0, maxMessageSize: 100 };

function topBitLength(masked: boolean, low = 5): Buffer {
  const head = [0x82, (masked ? 0x80 : 0) | 127, 0x80, 0, 0, 0, 0, 0, 0, low];
  return Buffer.from(masked ? [...head, 1, 2, 3, 4] : head);
}

const violations: Violation[] = [
  // Reserved bits without an extension.
  { name: "RSV1 on a text frame without an extension", options: SERVER, frame: c({ opcode: OP_TEXT, rsv: 0x40, payload: "x" }), header: 2, code: 1002, cls: CorruptedFrameError },
  { name: "RSV2 on a text frame", options: SERVER, frame: c({ opcode: OP_TEXT, rsv: 0x20, payload: "x" }), header: 2, code: 1002, cls: CorruptedFrameError },
  { name: "RSV3 on a binary frame", options: SERVER, frame: c({ opcode: OP_BINARY, rsv: 0x10, payload: "x" }), header: 2, code: 1002, cls: CorruptedFrameError },
  { name: "RSV1 on a ping (client role)", options: CLIENT, frame: s({ opcode: OP_PING, rsv: 0x40 }), header: 2, code: 1002, cls: CorruptedFrameError },
  { name: "RSV2 with an RSV1 extension", options: { ...SERVER, rsv1Extension: true }, frame: c({ opcode: OP_TEXT, rsv: 0x20 }), header: 2, code: 1002, cls: CorruptedFrameError },
  { name: "RSV1 on a control frame with an RSV1 extension", options: { ...SERVER, rsv1Extension: true }, frame: c({ opcode: OP_PING, rsv: 0x40 }), header: 2, code: 1002, cls: CorruptedFrameError },
  {
    name: "RSV1 on a continuation frame with an RSV1 extension",
    options: { ...SERVER, rsv1Extension: true },
    before: [c({ opcode: OP_BINARY, fin: false, payload: "a" })],
    frame: c({ opcode: OP_CONTINUATION, rsv: 0x40, payload: "b" }),
    header: 2,
    code: 1002,
    cls: CorruptedFrameError,
  },
  // Reserved opcodes.
  ...[3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf].flatMap((opcode): Violation[] => [
    { name: `reserved opcode 0x${opcode.toString(16)} (server role)`, options: SERVER, frame: c({ opcode, payload: "x" }), header: 2, code: 1002, cls: CorruptedFrameError },
    { name: `reserved opcode 0x${opcode.toString(16)} (client role)`, options: CLIENT, frame: s({ opcode }), header: 2, code: 1002, cls: CorruptedFrameError },
  ]),
  // Fragmented control frames.
  { name: "ping without FIN", options: SERVER, frame: c({ opcode: OP_PING, fin: false, payload: "p" }), header: 2, code: 1002, cls: CorruptedFrameError },
  { name: "pong without FIN", options: CLIENT, frame: s({ opcode: OP_PONG, fin: false }), header: 2, code: 1002, cls: CorruptedFrameError },
  { name: "close without FIN", options: SERVER, frame: c({ opcode: OP_CLOSE, fin: false, payload: closePayload(1000) }), header: 2, code: 1002, cls: CorruptedFrameError },
  {
    name: "unfinished ping inside a fragmented message",
    options: SERVER,
    before: [c({ opcode: OP_TEXT, fin: false, payload: "a" })],
    frame: c({ opcode: OP_PING, fin: false }),
    header: 2,
    code: 1002,
    cls: CorruptedFrameError,
  },
  // Control frames over 125 bytes.
  { name: "ping of 126 bytes", options: SERVER, frame: c({ opcode: OP_PING, payload: bytes(126) }), header: 2, code: 1002, cls: CorruptedFrameError },
  { name: "pong of 200 bytes", options: CLIENT, frame: s({ opcode: OP_PONG, payload: bytes(200) }), header: 2, code: 1002, cls: CorruptedFrameError },
  { name: "close of 126 bytes", options: SERVER, frame: c({ opcode: OP_CLOSE, payload: closePayload(1000, "r".repeat(124)) }), header: 2, code: 1002, cls: CorruptedFrameError },
  { name: "ping with a 64-bit length", options: SERVER, frame: c({ opcode: OP_PING, payload: bytes(70_000) }), header: 2, code: 1002, cls: CorruptedFrameError },
  // Continuation faults.
  { name: "continuation without a start", options: SERVER, frame: c({ opcode: OP_CONTINUATION, payload: "x" }), header: 2, code: 1002, cls: InvalidContinuationFrameError },
  { name: "unfinished continuation without a start", options: CLIENT, frame: s({ opcode: OP_CONTINUATION, fin: false }), header: 2, code: 1002, cls: InvalidContinuationFrameError },
  {
    name: "continuation after a finished message",
    options: SERVER,
    before: [c({ opcode: OP_TEXT, payload: "done" })],
    beforeEvents: [{ ev: "text", text: "done" }],
    frame: c({ opcode: OP_CONTINUATION, payload: "more" }),
    header: 2,
    code: 1002,
    cls: InvalidContinuationFrameError,
  },
  {
    name: "continuation after a finished fragmented message",
    options: CLIENT,
    before: [s({ opcode: OP_BINARY, fin: false, payload: "a" }), s({ opcode: OP_CONTINUATION, payload: "b" })],
    beforeEvents: [{ ev: "binary", data: [97, 98] }],
    frame: s({ opcode: OP_CONTINUATION, payload: "c" }),
    header: 2,
    code: 1002,
    cls: InvalidContinuationFrameError,
  },
  {
    name: "text frame inside a fragmented text message",
    options: SERVER,
    before: [c({ opcode: OP_TEXT, fin: false, payload: "a" })],
    frame: c({ opcode: OP_TEXT, payload: "b" }),
    header: 2,
    code: 1002,
    cls: InvalidContinuationFrameError,
  },
  {
    name: "binary frame inside a fragmented text message, after a ping",
    options: CLIENT,
    before: [s({ opcode: OP_TEXT, fin: false, payload: "a" }), s({ opcode: OP_PING, payload: "p" })],
    beforeEvents: [{ ev: "ping", data: [112] }],
    frame: s({ opcode: OP_BINARY, fin: false, payload: "b" }),
    header: 2,
    code: 1002,
    cls: InvalidContinuationFrameError,
  },
  // Masking by role.
  { name: "unmasked text frame in the server role", options: SERVER, frame: s({ opcode: OP_TEXT, payload: "x" }), header: 2, code: 1002, cls: CorruptedFrameError },
  { name: "unmasked close frame in the server role", options: SERVER, frame: s({ opcode: OP_CLOSE, payload: closePayload(1000) }), header: 2, code: 1002, cls: CorruptedFrameError },
  { name: "masked binary frame in the client role", options: CLIENT, frame: c({ opcode: OP_BINARY, payload: "x" }), header: 2, code: 1002, cls: CorruptedFrameError },
  { name: "masked ping in the client role", options: CLIENT, frame: c({ opcode: OP_PING }), header: 2, code: 1002, cls: CorruptedFrameError },
  // 64-bit length with the most significant bit set.
  { name: "64-bit length with the top bit set (server role)", options: SERVER, frame: topBitLength(true), header: 14, code: 1002, cls: CorruptedFrameError },
  { name: "64-bit length with the top bit set (client role)", options: CLIENT, frame: topBitLength(false), header: 10, code: 1002, cls: CorruptedFrameError },
  { name: "64-bit length 0xffffffffffffffff", options: CLIENT, frame: Buffer.from([0x82, 127, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), header: 10, code: 1002, cls: CorruptedFrameError },
  // Close frame payloads.
  { name: "close payload of 1 byte", options: SERVER, frame: c({ opcode: OP_CLOSE, payload: Uint8Array.of(3) }), code: 1002, cls: CorruptedFrameError },
  { name: "invalid UTF-8 in a close reason", options: SERVER, frame: c({ opcode: OP_CLOSE, payload: closePayload(1000, Uint8Array.of(0x6f, 0x6b, 0xc3, 0x28)) }), code: 1007, cls: CorruptedFrameError },
  { name: "truncated code point at the end of a close reason", options: CLIENT, frame: s({ opcode: OP_CLOSE, payload: closePayload(1001, Uint8Array.of(0x61, 0xe2, 0x82)) }), code: 1007, cls: CorruptedFrameError },
  // Size limits, reported from the header alone.
  { name: "7-bit frame over maxFrameSize", options: LIMITED, frame: c({ opcode: OP_BINARY, payload: bytes(101) }), header: 6, code: 1009, cls: PayloadTooLargeError },
  { name: "16-bit frame over maxFrameSize", options: LIMITED, frame: c({ opcode: OP_TEXT, payload: "x".repeat(1000) }), header: 8, code: 1009, cls: PayloadTooLargeError },
  { name: "64-bit frame over maxFrameSize", options: LIMITED, frame: c({ opcode: OP_BINARY, payload: bytes(70_000) }), header: 14, code: 1009, cls: PayloadTooLargeError },
  {
    name: "64-bit frame of 2^40 bytes over maxFrameSize (client role)",
    options: { role: "client", maxFrameSize: 65536, maxMessageSize: 0 },
    frame: Buffer.from([0x82, 127, 0, 0, 1, 0, 0, 0, 0, 0]),
    header: 10,
    code: 1009,
    cls: PayloadTooLargeError,
  },
  { name: "ping over maxFrameSize", options: { role: "server", maxFrameSize: 10, maxMessageSize: 0 }, frame: c({ opcode: OP_PING, payload: bytes(11) }), header: 6, code: 1009, cls: PayloadTooLargeError },
  { name: "single frame over maxMessageSize", options: MSG_LIMITED, frame: c({ opcode: OP_TEXT, payload: "y".repeat(101) }), header: 6, code: 1009, cls: PayloadTooLargeError },
  {
    name: "fragment that takes the message over maxMessageSize",
    options: MSG_LIMITED,
    before: [c({ opcode: OP_BINARY, fin: false, payload: bytes(60) }), c({ opcode: OP_PING, payload: bytes(50) })],
    beforeEvents: [{ ev: "ping", data: [...bytes(50)] }],
    frame: c({ opcode: OP_CONTINUATION, payload: bytes(41) }),
    header: 6,
    code: 1009,
    cls: PayloadTooLargeError,
  },
  {
    name: "64-bit fragment over maxMessageSize (client role)",
    options: { role: "client", maxFrameSize: 0, maxMessageSize: 70_000 },
    before: [s({ opcode: OP_TEXT, fin: false, payload: "z".repeat(100) })],
    frame: s({ opcode: OP_CONTINUATION, payload: "z".repeat(69_901) }),
    header: 10,
    code: 1009,
    cls: PayloadTooLargeError,
  },
];

describe("FrameParser: RFC 6455 violations", () => {
  for (const v of violations) {
    it(`${v.name} → ${v.code}`, () => {
      const events = parseAll(v.options, ...(v.before ?? []), v.frame);
      const expectedBefore = v.beforeEvents ?? [];
      assert.deepEqual(events.slice(0, -1), expectedBefore);
      assert.equal(events.length, expectedBefore.length + 1);
      assertError(events.at(-1), v.code, v.cls);
    });

    if (v.header !== undefined) {
      const header = v.header;
      it(`${v.name}: reported from the first ${header} bytes, before the payload arrives`, () => {
        const parser = new FrameParser(v.options);
        for (const b of v.before ?? []) parser.push(Buffer.from(b));
        assert.deepEqual(drain(parser), v.beforeEvents ?? []);
        parser.push(Buffer.from(v.frame.subarray(0, header - 1)));
        assert.deepEqual(drain(parser), [], "reported before the header was complete");
        parser.push(Buffer.from(v.frame.subarray(header - 1, header)));
        const events = drain(parser);
        assert.equal(events.length, 1);
        assertError(events[0], v.code, v.cls);
        assert.equal(parser.done, true);
        // The rest of the frame (and anything after) is ignored.
        parser.push(Buffer.from(v.frame.subarray(header)));
        parser.push(c({ opcode: OP_TEXT, payload: "after" }));
        assert.deepEqual(drain(parser), []);
      });
    }
  }

  it("accepts frames and messages exactly at the limits", () => {
    assert.deepEqual(parseAll(LIMITED, c({ opcode: OP_BINARY, payload: bytes(100) })), [{ ev: "binary", data: [...bytes(100)] }]);
    assert.deepEqual(
      parseAll(
        MSG_LIMITED,
        c({ opcode: OP_TEXT, fin: false, payload: "a".repeat(60) }),
        c({ opcode: OP_PING, payload: bytes(100) }), // control frames do not count toward the message
        c({ opcode: OP_CONTINUATION, payload: "b".repeat(40) }),
        c({ opcode: OP_TEXT, payload: "c".repeat(100) }), // the count starts again for each message
      ),
      [
        { ev: "ping", data: [...bytes(100)] },
        { ev: "text", text: "a".repeat(60) + "b".repeat(40) },
        { ev: "text", text: "c".repeat(100) },
      ],
    );
  });

  it("treats limits of 0 or less as no limit", () => {
    const big = bytes(200_000);
    for (const limit of [0, -1]) {
      const parser = new FrameParser({ role: "client", maxFrameSize: limit, maxMessageSize: limit });
      parser.push(s({ opcode: OP_BINARY, fin: false, payload: big }));
      parser.push(s({ opcode: OP_CONTINUATION, payload: big }));
      assert.equal(parser.next(), EV_BINARY);
      assert.ok(parser.data.equals(Buffer.concat([big, big])));
    }
  });

  it("accepts RSV1 on the first data frame when an extension claims it, flagging the message compressed", () => {
    const parser = new FrameParser({ ...SERVER, rsv1Extension: true });
    // Not valid UTF-8 on purpose: a compressed text payload is not checked by the parser.
    parser.push(c({ opcode: OP_TEXT, rsv: 0x40, fin: false, payload: Uint8Array.of(0xff, 0x01) }));
    parser.push(c({ opcode: OP_CONTINUATION, payload: Uint8Array.of(0x02) }));
    assert.equal(parser.next(), EV_TEXT);
    assert.equal(parser.compressed, true);
    assert.deepEqual([...parser.data], [0xff, 0x01, 0x02]);
    parser.push(c({ opcode: OP_BINARY, payload: Uint8Array.of(5) }));
    assert.equal(parser.next(), EV_BINARY);
    assert.equal(parser.compressed, false);
    assert.deepEqual([...parser.data], [5]);
  });
});

describe("FrameParser: close codes", () => {
  const invalid = [0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535];
  const valid = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999];
  for (const code of invalid) {
    it(`rejects close code ${code} with 1002`, () => {
      for (const [options, f] of [
        [SERVER, c],
        [CLIENT, s],
      ] as const) {
        const events = parseAll(options, f({ opcode: OP_CLOSE, payload: closePayload(code, "why") }));
        assert.equal(events.length, 1);
        assertError(events[0], 1002, CorruptedFrameError);
      }
    });
  }
  for (const code of valid) {
    it(`accepts close code ${code}`, () => {
      assert.deepEqual(parseAll(SERVER, c({ opcode: OP_CLOSE, payload: closePayload(code, "why") })), [{ ev: "close", code, reason: "why" }]);
      assert.deepEqual(parseAll(CLIENT, s({ opcode: OP_CLOSE, payload: closePayload(code) })), [{ ev: "close", code, reason: "" }]);
    });
  }
});

describe("FrameParser: UTF-8 in text messages", () => {
  const invalidSequences: [string, number[]][] = [
    ["a lone continuation byte", [0x80]],
    ["0xff", [0xff]],
    ["an overlong encoding of '/'", [0xc0, 0xaf]],
    ["a UTF-16 surrogate (U+D800)", [0xed, 0xa0, 0x80]],
    ["a code point above U+10FFFF", [0xf4, 0x90, 0x80, 0x80]],
    ["the lead byte 0xf5", [0xf5, 0x80, 0x80, 0x80]],
    ["a lead byte followed by ASCII", [0xce, 0x41]],
  ];

  for (const [name, seq] of invalidSequences) {
    it(`rejects ${name} in a single text frame with 1007 (both roles)`, () => {
      const payload = Buffer.from([...Buffer.from("valid "), ...seq, ...Buffer.from(" tail")]);
      for (const [options, f] of [
        [SERVER, c],
        [CLIENT, s],
      ] as const) {
        const events = parseAll(options, f({ opcode: OP_TEXT, payload }));
        assert.equal(events.length, 1);
        assertError(events[0], 1007, CorruptedFrameError);
      }
    });
  }

  it("rejects a message that ends inside a code point with 1007", () => {
    const events = parseAll(SERVER, c({ opcode: OP_TEXT, payload: Uint8Array.of(0x61, 0xe2, 0x82) }));
    assertError(events[0], 1007, CorruptedFrameError);
    const fragmented = parseAll(
      CLIENT,
      s({ opcode: OP_TEXT, fin: false, payload: Uint8Array.of(0x61, 0xf0, 0x9f) }),
      s({ opcode: OP_CONTINUATION, payload: Uint8Array.of(0x9a) }),
    );
    assert.equal(fragmented.length, 1);
    assertError(fragmented[0], 1007, CorruptedFrameError);
  });

  it("fails a 3-fragment message on the second (invalid) fragment, before the third arrives", () => {
    for (const [options, f] of [
      [SERVER, c],
      [CLIENT, s],
    ] as const) {
      const parser = new FrameParser(options);
      parser.push(f({ opcode: OP_TEXT, fin: false, payload: "κόσμε" }));
      assert.deepEqual(drain(parser), []);
      parser.push(f({ opcode: OP_CONTINUATION, fin: false, payload: Uint8Array.of(0x61, 0xed, 0xa0, 0x80, 0x62) }));
      const events = drain(parser);
      assert.equal(events.length, 1, "the invalid fragment must fail at once");
      assertError(events[0], 1007, CorruptedFrameError);
      parser.push(f({ opcode: OP_CONTINUATION, payload: "edited" }));
      assert.deepEqual(drain(parser), []);
    }
  });

  it("fails a fragment that ends on a lead byte made invalid by the next fragment, on that next fragment", () => {
    const parser = new FrameParser(SERVER);
    parser.push(c({ opcode: OP_TEXT, fin: false, payload: Uint8Array.of(0x61, 0xf4) }));
    assert.deepEqual(drain(parser), []);
    parser.push(c({ opcode: OP_CONTINUATION, fin: false, payload: Uint8Array.of(0x90, 0x80, 0x80) }));
    assertError(drain(parser)[0], 1007, CorruptedFrameError);
  });

  // [payload, index of the byte that makes it invalid]
  const piecewise: [string, number[], number][] = [
    ["0xff after ASCII", [...Buffer.from("hello"), 0xff, ...Buffer.from("world")], 5],
    ["a surrogate, detected at its second byte", [...Buffer.from("héllo"), 0xed, 0xa0, 0x80, ...Buffer.from("abc")], 7],
    ["a code point above U+10FFFF, detected at its second byte", [0x61, 0xf4, 0x90, 0x80, 0x80, 0x62], 2],
    ["an overlong 3-byte form, detected at its second byte", [0xe0, 0x80, 0xaf, 0x41], 1],
    ["a missing continuation byte", [0x61, 0xe2, 0x82, 0x41, 0x42], 3],
  ];
  for (const [name, payload, bad] of piecewise) {
    it(`fails a single frame delivered byte by byte on the piece with the invalid byte: ${name}`, () => {
      for (const [options, f] of [
        [SERVER, c],
        [CLIENT, s],
      ] as const) {
        const frame = f({ opcode: OP_TEXT, payload: Uint8Array.from(payload) });
        const headerSize = frame.length - payload.length;
        const perChunk = feedChunks(options, [frame.subarray(0, headerSize), ...bytewise(frame.subarray(headerSize))]);
        const failedAt = perChunk.findIndex((events) => events.length > 0);
        assert.equal(failedAt - 1, bad, `failed on payload byte ${failedAt - 1}, expected ${bad}`);
        assert.equal(perChunk[failedAt]!.length, 1);
        assertError(perChunk[failedAt]![0], 1007, CorruptedFrameError);
        assert.ok(perChunk.slice(failedAt + 1).every((events) => events.length === 0));
      }
    });
  }

  it("fails a single frame delivered in three pieces on the piece with the invalid byte", () => {
    const payload = Buffer.concat([Buffer.from("x".repeat(50)), Buffer.of(0xc3, 0x28), Buffer.from("y".repeat(50))]);
    const frame = c({ opcode: OP_TEXT, payload });
    const headerSize = frame.length - payload.length;
    const cut = headerSize + 51; // the second piece starts at 0x28, the byte that breaks 0xc3
    const perChunk = feedChunks(SERVER, [frame.subarray(0, headerSize + 30), frame.subarray(headerSize + 30, cut), frame.subarray(cut)]);
    assert.deepEqual(perChunk[0], []);
    assert.deepEqual(perChunk[1], []);
    assert.equal(perChunk[2]!.length, 1);
    assertError(perChunk[2]![0], 1007, CorruptedFrameError);
  });

  it("does not check UTF-8 in binary messages or ping payloads", () => {
    assert.deepEqual(parseAll(SERVER, c({ opcode: OP_BINARY, payload: Uint8Array.of(0xff, 0xfe) }), c({ opcode: OP_PING, payload: Uint8Array.of(0xc0) })), [
      { ev: "binary", data: [0xff, 0xfe] },
      { ev: "ping", data: [0xc0] },
    ]);
  });
});

describe("FrameParser: chopping", () => {
  it("parses 16-bit and 64-bit frames pushed byte by byte and in chunks of several sizes", () => {
    for (const [options, f] of [
      [SERVER, c],
      [CLIENT, s],
    ] as const) {
      const check = (payloads: Buffer[], size: number) => {
        const stream = Buffer.concat(payloads.map((payload) => f({ opcode: OP_BINARY, payload })));
        const parser = new FrameParser(options);
        const got: Buffer[] = [];
        for (let at = 0; at < stream.length; at += size) {
          parser.push(Buffer.from(stream.subarray(at, at + size)));
          for (let ev = parser.next(); ev !== EV_NONE; ev = parser.next()) {
            assert.equal(ev, EV_BINARY);
            got.push(Buffer.from(parser.data));
          }
        }
        assert.equal(got.length, payloads.length, `chunks of ${size}`);
        got.forEach((data, i) => assert.ok(data.equals(payloads[i]!), `chunks of ${size}: payload ${i} differs`));
      };
      check([bytes(126, 3), bytes(65536, 5)], 1);
      for (const size of [3, 7, 4096]) check([bytes(126, 3), bytes(65535, 4), bytes(65536, 5), bytes(70_001, 6)], size);
    }
  });
});

// ---- Property tests ----

interface ControlItem {
  opcode: typeof OP_PING | typeof OP_PONG;
  payload: Uint8Array;
}
interface MessageItem {
  opcode: typeof OP_TEXT | typeof OP_BINARY;
  payload: Uint8Array;
  cuts: number[];
  controls: { gap: number; control: ControlItem }[];
}
type Item = { kind: "control"; control: ControlItem } | { kind: "message"; message: MessageItem };

const controlArb: fc.Arbitrary<ControlItem> = fc.record({
  opcode: fc.constantFrom(OP_PING, OP_PONG),
  payload: fc.uint8Array({ maxLength: 125, size: "small" }),
});

const messageArb: fc.Arbitrary<MessageItem> = fc
  .oneof(
    unicodeString(80).map((t) => ({ opcode: OP_TEXT as typeof OP_TEXT, payload: new Uint8Array(Buffer.from(t)) })),
    // Mostly small payloads, some around and over 125 bytes (the 16-bit length form).
    fc
      .oneof(fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ minLength: 100, maxLength: 300, size: "max" }))
      .map((b) => ({ opcode: OP_BINARY as typeof OP_BINARY, payload: b })),
  )
  .chain(({ opcode, payload }) =>
    fc.record({
      opcode: fc.constant(opcode),
      payload: fc.constant(payload),
      // Cut points may repeat or sit at the ends: empty fragments are valid.
      cuts: fc.array(fc.integer({ min: 0, max: payload.length }), { maxLength: 4 }),
      controls: fc.array(fc.record({ gap: fc.nat(), control: controlArb }), { maxLength: 3 }),
    }),
  );

const itemArb: fc.Arbitrary<Item> = fc.oneof(
  { weight: 1, arbitrary: controlArb.map((control): Item => ({ kind: "control", control })) },
  { weight: 3, arbitrary: messageArb.map((message): Item => ({ kind: "message", message })) },
);

const closeArb = fc.option(
  fc.record({
    code: fc.constantFrom(1000, 1001, 1003, 1008, 1011, 3000, 4999),
    reason: unicodeString(20),
  }),
);

/** Deterministic masking keys from a seed (xorshift32). */
function keySource(seed: number): () => Uint8Array {
  let x = seed | 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return Uint8Array.of(x & 0xff, (x >>> 8) & 0xff, (x >>> 16) & 0xff, (x >>> 24) & 0xff);
  };
}

/** The byte stream for the items and the events a parser must produce for it. */
function buildStream(
  items: Item[],
  close: { code: number; reason: string } | null,
  masked: boolean,
  seed: number,
): { stream: Buffer; expected: Recorded[] } {
  const nextKey = keySource(seed);
  const frames: Buffer[] = [];
  const expected: Recorded[] = [];
  const frame = (o: RawFrameOptions) => frames.push(rawFrame({ ...o, mask: masked ? nextKey() : false }));
  const emitControl = (ctl: ControlItem) => {
    frame({ opcode: ctl.opcode, payload: ctl.payload });
    expected.push({ ev: ctl.opcode === OP_PING ? "ping" : "pong", data: [...ctl.payload] });
  };
  for (const item of items) {
    if (item.kind === "control") {
      emitControl(item.control);
      continue;
    }
    const { opcode, payload, cuts, controls } = item.message;
    const points = [0, ...[...cuts].sort((a, b) => a - b), payload.length];
    const fragments = points.slice(1).map((end, i) => payload.subarray(points[i]!, end));
    // A single-frame message has no gap: its control frames go before it.
    if (fragments.length === 1) for (const { control } of controls) emitControl(control);
    fragments.forEach((fragment, i) => {
      const last = i === fragments.length - 1;
      frame({ opcode: i === 0 ? opcode : OP_CONTINUATION, fin: last, payload: fragment });
      if (!last) for (const { gap, control } of controls) if (gap % (fragments.length - 1) === i) emitControl(control);
    });
    expected.push(opcode === OP_TEXT ? { ev: "text", text: Buffer.from(payload).toString() } : { ev: "binary", data: [...payload] });
  }
  if (close !== null) {
    frame({ opcode: OP_CLOSE, payload: closePayload(close.code, close.reason) });
    expected.push({ ev: "close", code: close.code, reason: close.reason });
    // Whatever follows a close frame must never come out.
    frame({ opcode: OP_TEXT, payload: "after close" });
    frames.push(Buffer.from([0xff, 0xff, 0xff]));
  }
  return { stream: Buffer.concat(frames), expected };
}

const roleArb = fc.constantFrom<"server" | "client">("server", "client");

/** A valid byte stream in either role, without limits, and the events it must give. */
const validStreamArb = fc
  .tuple(roleArb, fc.array(itemArb, { maxLength: 6 }), closeArb, fc.integer())
  .map(([role, items, close, seed]) => ({
    options: { role, maxFrameSize: 0, maxMessageSize: 0 } satisfies FrameParserOptions,
    ...buildStream(items, close, role === "server", seed),
  }));

describe("FrameParser: properties", () => {
  it("any valid frame sequence survives any chopping of the byte stream with the same events", () => {
    fc.assert(
      fc.property(
        validStreamArb,
        fc.array(fc.nat(), { maxLength: 20 }),
        ({ options, stream, expected }, rawCuts) => {
          assert.deepEqual(feedChunks(options, [stream]).flat(), expected, "whole stream");
          const cuts = rawCuts.map((n) => n % (stream.length + 1));
          assert.deepEqual(feedChunks(options, chop(stream, cuts)).flat(), expected, "random chopping");
          assert.deepEqual(feedChunks(options, bytewise(stream)).flat(), expected, "one byte at a time");
        },
      ),
      { numRuns: 200 },
    );
  });

  const limitsArb = fc.record({
    maxFrameSize: fc.constantFrom(0, 10, 125, 1000),
    maxMessageSize: fc.constantFrom(0, 50, 500),
    rsv1Extension: fc.boolean(),
  });

  function assertWellBehaved(options: FrameParserOptions, chunks: Buffer[]): void {
    const parser = new FrameParser(options);
    let ended = false;
    for (const chunk of chunks) {
      parser.push(chunk);
      for (let i = 0; ; i++) {
        assert.ok(i < 10_000, "too many events from one chunk");
        const ev = parser.next();
        assert.ok([EV_NONE, EV_TEXT, EV_BINARY, EV_PING, EV_PONG, EV_CLOSE, EV_ERROR].includes(ev));
        if (ev === EV_NONE) break;
        assert.equal(ended, false, "an event came after a close or an error");
        if (ev === EV_ERROR) {
          assert.ok(parser.error instanceof WebSocketError);
          assert.ok([1002, 1007, 1009].includes(parser.closeCode), `close code ${parser.closeCode}`);
          assert.equal(parser.error.closeCode, parser.closeCode);
        }
        if (ev === EV_CLOSE || ev === EV_ERROR) {
          ended = true;
          assert.equal(parser.done, true);
        }
      }
    }
  }

  it("never throws on random bytes: only events, EV_ERROR or waiting, in both roles", () => {
    fc.assert(
      fc.property(roleArb, limitsArb, fc.uint8Array({ maxLength: 300 }), fc.array(fc.nat(), { maxLength: 10 }), (role, limits, data, rawCuts) => {
        const options: FrameParserOptions = { role, ...limits };
        assertWellBehaved(options, chop(data, rawCuts.map((n) => n % (data.length + 1))));
        assertWellBehaved(options, bytewise(data));
      }),
      { numRuns: 300 },
    );
  });

  it("never throws on valid streams with corrupted bytes, in both roles", () => {
    fc.assert(
      fc.property(
        roleArb,
        limitsArb,
        fc.array(itemArb, { minLength: 1, maxLength: 4 }),
        closeArb,
        fc.integer(),
        fc.array(fc.record({ at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }), { minLength: 1, maxLength: 4 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        (role, limits, items, close, seed, flips, rawCuts) => {
          const { stream } = buildStream(items, close, role === "server", seed);
          for (const { at, value } of flips) stream[at % stream.length] = value;
          const options: FrameParserOptions = { role, ...limits };
          assertWellBehaved(options, chop(stream, rawCuts.map((n) => n % (stream.length + 1))));
        },
      ),
      { numRuns: 200 },
    );
  });
});

it("configure() makes a parser that ended (close or error) usable again, as a pool needs", () => {
  const parser = new FrameParser({ role: "client", maxFrameSize: 0, maxMessageSize: 0 });
  parser.push(Buffer.from([0x88, 0x00, 0x81, 0x01, 0x61]));
  assert.equal(parser.next(), EV_CLOSE);
  assert.equal(parser.next(), EV_NONE, "nothing after the close frame");
  parser.clearOutputs();
  parser.configure({ role: "client", maxFrameSize: 0, maxMessageSize: 0 });
  assert.equal(parser.idle, true);
  parser.push(Buffer.from([0x81, 0x02, 0x68, 0x69]));
  assert.equal(parser.next(), EV_TEXT);
  assert.equal(parser.text, "hi");
  parser.push(Buffer.from([0x81]));
  assert.equal(parser.next(), EV_NONE);
  assert.equal(parser.idle, false, "half a header is state");
});

describe("payload copies", () => {
  const payload = Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 7) & 0xff));
  const frame = rawFrame({ opcode: OP_BINARY, payload, mask: true });
  const headerSize = frame.length - payload.length;

  it("returns a payload that arrives whole in one read as a view of that read, even after its header came in the read before", () => {
    const parser = new FrameParser(SERVER);
    parser.push(Buffer.from(frame.subarray(0, headerSize)));
    assert.equal(parser.next(), EV_NONE);
    const body = Buffer.from(frame.subarray(headerSize));
    parser.push(body);
    assert.equal(parser.next(), EV_BINARY);
    assert.deepEqual(parser.data, payload);
    body.fill(0);
    assert.ok(parser.data.every((byte) => byte === 0), "a view of the read, not a copy");
  });

  it("gathers a payload spread over reads into a buffer of its own", () => {
    const parser = new FrameParser(SERVER);
    const reads = chop(frame, [headerSize + 1, headerSize + 1000, headerSize + 2001]);
    for (const read of reads) parser.push(read);
    assert.equal(parser.next(), EV_BINARY);
    assert.deepEqual(parser.data, payload);
    for (const read of reads) read.fill(0);
    assert.deepEqual(parser.data, payload, "the message does not share memory with the reads");
  });
});

/**
 * Drives a parser the way a connection reading into its own memory does: each read goes
 * into the parser's read target when it offers one, else into one scratch buffer pushed as
 * transient and overwritten after every read. Data events keep their buffers until the end,
 * so that a message still sharing the scratch shows up as corrupted.
 */
function feedThroughScratch(options: FrameParserOptions, stream: Buffer, readSizes: readonly number[], minimum: number): { events: Recorded[]; targeted: number } {
  const parser = new FrameParser(options);
  const scratch = Buffer.alloc(64);
  const held: ({ ev: "binary" | "ping" | "pong"; buffer: Buffer } | Recorded)[] = [];
  let position = 0;
  let targeted = 0;
  for (let read = 0; position < stream.length && !parser.done; read++) {
    const size = Math.max(1, readSizes[read % Math.max(1, readSizes.length)] ?? 7);
    const target = parser.readTarget(minimum);
    if (target !== undefined) {
      const n = Math.min(size, target.length, stream.length - position);
      stream.copy(target, 0, position, position + n);
      parser.commitTarget(n);
      targeted += n;
      position += n;
    } else {
      const n = Math.min(size, scratch.length, stream.length - position);
      stream.copy(scratch, 0, position, position + n);
      parser.push(scratch.subarray(0, n), true);
      position += n;
    }
    for (let ev = parser.next(); ev !== EV_NONE; ev = parser.next()) {
      if (ev === EV_TEXT) held.push({ ev: "text", text: parser.text });
      else if (ev === EV_BINARY) held.push({ ev: "binary", buffer: parser.data });
      else if (ev === EV_PING) held.push({ ev: "ping", buffer: parser.data });
      else if (ev === EV_PONG) held.push({ ev: "pong", buffer: parser.data });
      else if (ev === EV_CLOSE) held.push({ ev: "close", code: parser.closeCode, reason: parser.closeReason });
      else held.push({ ev: "error", code: parser.closeCode, error: parser.error! });
    }
    parser.retain();
    scratch.fill(0xee);
  }
  const events = held.map((item): Recorded => ("buffer" in item ? { ev: item.ev, data: [...item.buffer] } : item));
  return { events, targeted };
}

describe("FrameParser: reads into a reused buffer and into read targets", () => {
  it("gives the same events for any frame sequence and any read sizes, and nothing handed out shares the reused buffer", () => {
    fc.assert(
      fc.property(
        validStreamArb,
        fc.array(fc.integer({ min: 1, max: 100 }), { minLength: 1, maxLength: 12 }),
        fc.constantFrom(1, 16, 1000),
        ({ options, stream, expected }, readSizes, minimum) => {
          assert.deepEqual(feedThroughScratch(options, stream, readSizes, minimum).events, expected);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("offers the rest of a binary payload as the read target, and the message is that buffer", () => {
    const payload = bytes(5000);
    const frame = c({ opcode: OP_BINARY, payload });
    const { events, targeted } = feedThroughScratch(SERVER, frame, [64, 1 << 20], 1024);
    assert.deepEqual(events, [{ ev: "binary", data: [...payload] }]);
    assert.equal(targeted, 5000 - (64 - 8), "everything after the first read went straight to the target");
  });

  it("offers no target for text, control frames, small remainders, or bytes already buffered", () => {
    const text = new FrameParser(SERVER);
    text.push(c({ opcode: OP_TEXT, payload: "x".repeat(3000) }).subarray(0, 10));
    assert.equal(text.next(), EV_NONE);
    assert.equal(text.readTarget(1), undefined, "text is decoded as it comes");

    const ping = new FrameParser(SERVER);
    ping.push(c({ opcode: OP_PING, payload: bytes(100) }).subarray(0, 8));
    assert.equal(ping.next(), EV_NONE);
    assert.equal(ping.readTarget(1), undefined);

    const binary = new FrameParser(SERVER);
    const frame = c({ opcode: OP_BINARY, payload: bytes(3000) });
    binary.push(frame.subarray(0, 8));
    assert.equal(binary.next(), EV_NONE);
    assert.equal(binary.readTarget(4000), undefined, "below the minimum");
    binary.push(frame.subarray(8, 9));
    assert.equal(binary.readTarget(1), undefined, "a byte is buffered and not parsed yet");
    assert.equal(binary.next(), EV_NONE);
    assert.equal(binary.readTarget(1)?.length, 2999);
  });

  it("keeps offering the rest of a payload once target reads began, however little is left", () => {
    const payload = bytes(70_000);
    const frame = c({ opcode: OP_BINARY, payload });
    const headerSize = frame.length - payload.length;
    const parser = new FrameParser(SERVER);
    parser.push(frame.subarray(0, headerSize));
    assert.equal(parser.next(), EV_NONE);
    const target = parser.readTarget(16_384)!;
    frame.copy(target, 0, headerSize, frame.length - 100);
    parser.commitTarget(payload.length - 100);
    assert.equal(parser.next(), EV_NONE);
    const rest = parser.readTarget(16_384);
    assert.equal(rest?.length, 100 + TARGET_LOOKAHEAD, "100 bytes left, under the minimum, still go to the message");
    frame.copy(rest, 0, frame.length - 100);
    parser.commitTarget(100);
    assert.equal(parser.next(), EV_BINARY);
    assert.ok(parser.data.equals(payload));
  });

  it("one read can bring the end of a payload and the next frame's header, so the next read goes to the next payload", () => {
    const first = bytes(20_000);
    const second = bytes(30_000).reverse();
    const stream = Buffer.concat([c({ opcode: OP_BINARY, payload: first }), c({ opcode: OP_PING, payload: bytes(3) }), c({ opcode: OP_BINARY, payload: second })]);
    const headerSize = 8; // 2 + 2 length bytes + 4 mask bytes
    const parser = new FrameParser(SERVER);
    parser.push(stream.subarray(0, headerSize));
    assert.equal(parser.next(), EV_NONE);
    const target = parser.readTarget(16_384)!;
    assert.equal(target.length, first.length + TARGET_LOOKAHEAD);
    let position = headerSize + stream.copy(target, 0, headerSize, headerSize + target.length);
    parser.commitTarget(target.length);
    assert.equal(parser.next(), EV_BINARY);
    const message = parser.data;
    assert.ok(message.equals(first), "the message is the payload alone");
    assert.equal(parser.next(), EV_PING, "the ping lay whole in the bytes past the payload");
    assert.deepEqual([...parser.data], [...bytes(3)]);
    const ping = parser.data;
    assert.equal(parser.next(), EV_NONE);
    parser.retain();
    target.fill(0xee, first.length);
    assert.deepEqual([...ping], [...bytes(3)], "the ping does not keep the message's memory");
    assert.ok(message.equals(first));
    // 14 bytes past the first payload: the ping's 9, and 5 of the next header's 8.
    parser.push(stream.subarray(position, position + 3));
    position += 3;
    assert.equal(parser.next(), EV_NONE);
    const next = parser.readTarget(16_384)!;
    assert.equal(next.length, second.length + TARGET_LOOKAHEAD, "the header is whole: the next read goes to the payload");
    position += stream.copy(next, 0, position);
    assert.equal(position, stream.length);
    parser.commitTarget(second.length);
    assert.equal(parser.next(), EV_BINARY);
    assert.ok(parser.data.equals(second));
  });

  it("gathers a frame over 256 KiB only once a sixteenth of it has arrived", () => {
    const payload = bytes(320 * 1024);
    const frame = c({ opcode: OP_BINARY, payload });
    const headerSize = frame.length - payload.length;
    const parser = new FrameParser(SERVER);
    parser.push(frame.subarray(0, headerSize));
    assert.equal(parser.next(), EV_NONE);
    assert.equal(parser.readTarget(1), undefined, "a header alone commits no 320 KiB");
    parser.push(frame.subarray(headerSize, headerSize + 20 * 1024));
    assert.equal(parser.next(), EV_NONE);
    const target = parser.readTarget(1)!;
    assert.equal(target.length, 300 * 1024);
    frame.copy(target, 0, headerSize + 20 * 1024);
    parser.commitTarget(target.length);
    assert.equal(parser.next(), EV_BINARY);
    assert.ok(parser.data.equals(payload));
  });

  it("retain() copies the unread rest of a transient chunk and nothing else", () => {
    const parser = new FrameParser(CLIENT);
    const read = Buffer.concat([s({ opcode: OP_TEXT, payload: "one" }), s({ opcode: OP_TEXT, payload: "two" }).subarray(0, 3)]);
    parser.push(read, true);
    assert.equal(parser.next(), EV_TEXT);
    assert.equal(parser.next(), EV_NONE);
    parser.retain();
    read.fill(0);
    parser.push(Buffer.from("wo"));
    assert.equal(parser.next(), EV_TEXT);
    assert.equal(parser.text, "two");
  });
});

describe("FrameParser: messages longer than Node can hold", () => {
  const { MAX_LENGTH, MAX_STRING_LENGTH } = bufferConstants;

  it("refuses a text frame over the longest string with 1009 from its header, with no limit set, instead of throwing when decoding", () => {
    const events = parseAll(SERVER, c({ opcode: OP_TEXT, declaredLength: MAX_STRING_LENGTH + 1, lengthForm: 64 }));
    assertError(events[0], 1009, PayloadTooLargeError);
  });

  it("refuses the continuation that takes a text message over the longest string, and above a limit that allows it", () => {
    const options: FrameParserOptions = { role: "server", maxFrameSize: 0, maxMessageSize: 1024 * 1024 * 1024 };
    const events = parseAll(options, c({ opcode: OP_TEXT, fin: false, payload: "abc" }), c({ opcode: OP_CONTINUATION, declaredLength: MAX_STRING_LENGTH - 2, lengthForm: 64 }));
    assertError(events[0], 1009, PayloadTooLargeError);
  });

  it("accepts text up to the longest string, and binary or compressed text beyond it (waiting for the payload)", () => {
    assert.deepEqual(parseAll(SERVER, c({ opcode: OP_TEXT, declaredLength: MAX_STRING_LENGTH, lengthForm: 64 })), []);
    assert.deepEqual(parseAll(SERVER, c({ opcode: OP_BINARY, declaredLength: MAX_STRING_LENGTH + 1, lengthForm: 64 })), []);
    assert.deepEqual(parseAll({ ...SERVER, rsv1Extension: true }, c({ opcode: OP_TEXT, rsv: 0x40, declaredLength: MAX_STRING_LENGTH + 1, lengthForm: 64 })), []);
  });

  it("refuses a binary frame over the largest Buffer with 1009, with no limit or a larger one", () => {
    for (const limit of [0, MAX_LENGTH * 2]) {
      const options: FrameParserOptions = { role: "server", maxFrameSize: limit, maxMessageSize: limit };
      assertError(parseAll(options, c({ opcode: OP_BINARY, declaredLength: MAX_LENGTH + 1, lengthForm: 64 }))[0], 1009, PayloadTooLargeError);
    }
  });
});
