// FrameParser on fragmented messages: maxFragments, and messages assembled from fragments of
// every size and from frames that arrive in many tiny pieces, masked or not, in reads the
// caller keeps or reuses.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { PayloadTooLargeError } from "../../src/errors.ts";
import { DEFAULT_MAX_FRAGMENTS, EV_BINARY, EV_ERROR, EV_NONE, EV_TEXT, FrameParser, type FrameParserOptions } from "../../src/protocol/frame-parser.ts";
import { MessageBuffer } from "../../src/protocol/message-buffer.ts";
import { OP_BINARY, OP_CONTINUATION, OP_TEXT } from "../../src/protocol/opcodes.ts";
import { CLIENT, rawFrame, SERVER } from "./frames.ts";

const bytes = (n: number, seed = 1): Buffer => {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed * 7 + (i >>> 9)) & 0xff;
  return b;
};

/** The frames of one message cut into `sizes` (the last frame takes the rest), masked when `masked`. */
function fragmented(opcode: number, payload: Buffer, sizes: readonly number[], masked: boolean, rsv = 0): Buffer {
  const frames: Buffer[] = [];
  let at = 0;
  for (let i = 0; at < payload.length || i === 0; i++) {
    const size = i < sizes.length ? sizes[i]! : payload.length - at;
    const end = Math.min(payload.length, at + size);
    const last = end === payload.length && i >= sizes.length - 1;
    frames.push(rawFrame({ opcode: i === 0 ? opcode : OP_CONTINUATION, rsv: i === 0 ? rsv : 0, fin: last, payload: payload.subarray(at, end), mask: masked }));
    at = end;
    if (last) break;
  }
  return Buffer.concat(frames);
}

/** Pushes `stream` in reads of `size` bytes (reusing one buffer when `transient`) and returns the one message or error. */
function parseInReads(options: FrameParserOptions, stream: Buffer, size: number, transient: boolean): { ev: number; data: Buffer; text: string; parser: FrameParser } {
  const parser = new FrameParser(options);
  const scratch = Buffer.alloc(size);
  for (let at = 0; at < stream.length; at += size) {
    const n = Math.min(size, stream.length - at);
    const read = transient ? scratch.subarray(0, n) : Buffer.from(stream.subarray(at, at + n));
    stream.copy(read, 0, at, at + n);
    parser.push(read, transient);
    const ev = parser.next();
    if (ev !== EV_NONE) {
      const result = { ev, data: Buffer.from(parser.data), text: parser.text, parser };
      assert.equal(parser.next(), EV_NONE);
      return result;
    }
    parser.retain();
    scratch.fill(0xee);
  }
  assert.fail("no event");
}

describe("FrameParser: maxFragments", () => {
  it(`defaults to ${DEFAULT_MAX_FRAGMENTS}: that many fragments make a message, one more fails with 1008 at its header`, () => {
    for (const [role, masked] of [[SERVER, true], [CLIENT, false]] as const) {
      const ok = parseInReads(role, fragmented(OP_BINARY, bytes(DEFAULT_MAX_FRAGMENTS), Array(DEFAULT_MAX_FRAGMENTS - 1).fill(1), masked), 4096, false);
      assert.equal(ok.ev, EV_BINARY);
      assert.ok(ok.data.equals(bytes(DEFAULT_MAX_FRAGMENTS)));

      const stream = fragmented(OP_BINARY, bytes(DEFAULT_MAX_FRAGMENTS + 1), Array(DEFAULT_MAX_FRAGMENTS).fill(1), masked);
      const frameSize = masked ? 7 : 3;
      const parser = new FrameParser(role);
      // All frames up to the limit, then only the first two bytes of the next header.
      parser.push(stream.subarray(0, DEFAULT_MAX_FRAGMENTS * frameSize + 2));
      assert.equal(parser.next(), EV_ERROR);
      assert.ok(parser.error instanceof PayloadTooLargeError);
      assert.equal(parser.error.closeCode, 1008);
      assert.equal(parser.closeCode, 1008);
      assert.match(parser.error.message, /16384 fragments exceeds maxFragments/);
    }
  });

  it("counts frames per message, the first one included; 0 or less lifts the limit", () => {
    const options = { ...SERVER, maxFragments: 3 };
    const three = fragmented(OP_TEXT, Buffer.from("abc"), [1, 1], true);
    const twice = new FrameParser(options);
    twice.push(Buffer.concat([three, three]));
    assert.equal(twice.next(), EV_TEXT);
    assert.equal(twice.text, "abc");
    assert.equal(twice.next(), EV_TEXT, "the count starts again with the next message");
    assert.equal(twice.text, "abc");
    assert.equal(parseInReads(options, fragmented(OP_TEXT, Buffer.from("abcd"), [1, 1, 1], true), 1000, false).ev, EV_ERROR);
    for (const maxFragments of [0, -1]) {
      const many = parseInReads({ ...SERVER, maxFragments }, fragmented(OP_BINARY, bytes(40_000), Array(39_999).fill(1), true), 8192, true);
      assert.equal(many.ev, EV_BINARY);
      assert.ok(many.data.equals(bytes(40_000)));
    }
  });

  it("counts the fragments of a compressed message too", () => {
    const options = { ...SERVER, maxFragments: 100, rsv1Extension: true };
    const deflated = bytes(101);
    const failed = parseInReads(options, fragmented(OP_BINARY, deflated, Array(100).fill(1), true, 0x40), 64, true);
    assert.equal(failed.ev, EV_ERROR);
    assert.equal(failed.parser.closeCode, 1008);
    const ok = parseInReads(options, fragmented(OP_TEXT, deflated, Array(99).fill(1), true, 0x40), 64, true);
    assert.equal(ok.ev, EV_TEXT);
    assert.equal(ok.parser.compressed, true);
    assert.ok(ok.data.equals(deflated), "handed over whole and still compressed");
  });
});

describe("FrameParser: assembling fragmented messages", () => {
  it("any mix of small and big fragments, masked or not, in reads kept or reused, gives the message", () => {
    const sizeArb = fc.oneof(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 16_000, max: 20_000 }));
    fc.assert(
      fc.property(fc.array(sizeArb, { minLength: 1, maxLength: 8 }), fc.boolean(), fc.boolean(), fc.integer({ min: 1, max: 70_000 }), (sizes, masked, transient, readSize) => {
        const total = sizes.reduce((a, b) => a + b, 0) + 1;
        const payload = bytes(total, sizes.length);
        const result = parseInReads(masked ? SERVER : CLIENT, fragmented(OP_BINARY, payload, sizes, masked), readSize, transient);
        assert.equal(result.ev, EV_BINARY);
        assert.ok(result.data.equals(payload));
      }),
      { numRuns: 150 },
    );
  });

  it("text cut anywhere, inside code points too, is checked as it comes and decoded whole", () => {
    const text = "ascii κόσμε 日本語 🎉".repeat(50);
    const payload = Buffer.from(text);
    for (const readSize of [1, 3, 64, 5000]) {
      for (const transient of [false, true]) {
        const result = parseInReads(SERVER, fragmented(OP_TEXT, payload, [1, 2, 3, 5, 7, 200], true), readSize, transient);
        assert.equal(result.ev, EV_TEXT);
        assert.equal(result.text, text);
      }
    }
  });

  it("fails invalid UTF-8 in the fragment that brings it, before the message ends", () => {
    const parser = new FrameParser(SERVER);
    parser.push(rawFrame({ opcode: OP_TEXT, fin: false, payload: "valid ", mask: true }));
    assert.equal(parser.next(), EV_NONE);
    parser.push(rawFrame({ opcode: OP_CONTINUATION, fin: false, payload: Uint8Array.of(0xce), mask: true }));
    assert.equal(parser.next(), EV_NONE, "a code point cut by the fragment's end may still be valid");
    parser.push(rawFrame({ opcode: OP_CONTINUATION, fin: false, payload: Uint8Array.of(0x41), mask: true }));
    assert.equal(parser.next(), EV_ERROR);
    assert.equal(parser.closeCode, 1007);
  });

  it("a big frame that arrives in many tiny reads is gathered whole", () => {
    // Over the size gathered at once (256 KiB): its first 1/16 comes in pieces before it is.
    const payload = bytes(300_000);
    for (const [options, masked] of [[SERVER, true], [CLIENT, false]] as const) {
      for (const transient of [false, true]) {
        const result = parseInReads(options, rawFrame({ opcode: OP_BINARY, payload, mask: masked }), 37, transient);
        assert.equal(result.ev, EV_BINARY);
        assert.ok(result.data.equals(payload));
      }
    }
  });
});

describe("MessageBuffer", () => {
  it("holds copied and kept pieces in order, and take() gives them back as one buffer", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), fc.uint8Array({ maxLength: 3000 })), { maxLength: 20 }), (pieces) => {
        const buffer = new MessageBuffer();
        for (const [keep, piece] of pieces) {
          if (keep) buffer.keep(Buffer.from(piece));
          else buffer.copy(piece, 0, piece.length, undefined, 0, piece.length, Infinity);
        }
        const all = Buffer.concat(pieces.map(([, piece]) => piece));
        assert.equal(buffer.length, all.length);
        assert.ok(buffer.take().equals(all));
        assert.equal(buffer.length, 0);
      }),
      { numRuns: 200 },
    );
  });

  it("copies a million one-byte pieces into memory of the order of their bytes, never past the limit", () => {
    const buffer = new MessageBuffer();
    const one = Uint8Array.of(0x5a);
    for (let i = 0; i < 1_000_000; i++) buffer.copy(one, 0, 1, undefined, 0, 1, 1_000_000);
    assert.equal(buffer.pieces, 1);
    const message = buffer.take();
    assert.equal(message.length, 1_000_000);
    assert.ok(message.buffer.byteLength <= 1_000_000, `${message.buffer.byteLength} bytes held`);
  });

  it("unmasks what it copies, from any phase of the key", () => {
    const key = Uint8Array.of(1, 2, 3, 4);
    const plain = bytes(200);
    const masked = Buffer.from(plain.map((byte, i) => byte ^ key[i & 3]!));
    const buffer = new MessageBuffer();
    for (const [start, end] of [[0, 3], [3, 150], [150, 151], [151, 200]] as const) buffer.copy(masked, start, end, key, start, end - start, Infinity);
    assert.ok(buffer.take().equals(plain));
  });
});

describe("FrameParser: the memory of an assembled message", () => {
  it("a message of small fragments is handed out in memory of its size, not in the doubled buffer it was assembled in", () => {
    // 33 fragments of 10,000 bytes: assembled in a buffer grown to 655,360 bytes, half used.
    const payload = bytes(330_000);
    const parser = new FrameParser(SERVER);
    parser.push(fragmented(OP_BINARY, payload, Array.from({ length: 33 }, () => 10_000), true));
    assert.equal(parser.next(), EV_BINARY);
    assert.ok(parser.data.equals(payload));
    assert.equal(parser.data.buffer.byteLength, payload.length, "the message's memory");
  });

  it("a message that fills most of its buffer is handed out in it, which is under 4/3 of its size", () => {
    // 31 fragments of 10,000 bytes fill 95% of a 327,680-byte buffer.
    const payload = bytes(310_000);
    const parser = new FrameParser(SERVER);
    parser.push(fragmented(OP_BINARY, payload, Array.from({ length: 31 }, () => 10_000), true));
    assert.equal(parser.next(), EV_BINARY);
    assert.ok(parser.data.equals(payload));
    assert.ok(parser.data.buffer.byteLength <= payload.length / 0.75);
  });
});
