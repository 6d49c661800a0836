import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { EV_BINARY, EV_CLOSE, EV_NONE, EV_PING, EV_TEXT, FrameParser } from "../../src/protocol/frame-parser.ts";
import { encodeClosePayload, encodeFrame, FIN, frameHeaderSize, RSV1, writeFrameHeader } from "../../src/protocol/frame-writer.ts";
import { OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_TEXT } from "../../src/protocol/opcodes.ts";
import { CLIENT, drain, rawFrame, SERVER, unicodeString } from "./frames.ts";

const KEY = Uint8Array.of(0xa1, 0x5b, 0x00, 0xfe);

const payloadOf = (n: number): Buffer => {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 13 + 5) & 0xff;
  return b;
};

describe("frameHeaderSize", () => {
  const cases: [number, number][] = [
    [0, 2],
    [1, 2],
    [125, 2],
    [126, 4],
    [127, 4],
    [65535, 4],
    [65536, 10],
    [2 ** 32, 10],
    [2 ** 53 - 1, 10],
  ];
  for (const [length, size] of cases) {
    it(`${length} bytes → ${size} (unmasked), ${size + 4} (masked)`, () => {
      assert.equal(frameHeaderSize(length, false), size);
      assert.equal(frameHeaderSize(length, true), size + 4);
    });
  }
});

describe("writeFrameHeader", () => {
  const cases: [number, number[]][] = [
    [0, [0x00]],
    [125, [125]],
    [126, [126, 0x00, 0x7e]],
    [65535, [126, 0xff, 0xff]],
    [65536, [127, 0, 0, 0, 0, 0x00, 0x01, 0x00, 0x00]],
    [0x1_0000_0005, [127, 0, 0, 0, 0x01, 0, 0, 0, 0x05]],
    [2 ** 53 - 1, [127, 0x00, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]],
  ];
  for (const [length, lengthBytes] of cases) {
    it(`encodes a length of ${length} as ${lengthBytes.length === 1 ? "7" : lengthBytes.length === 3 ? "16" : "64"} bits`, () => {
      const target = new Uint8Array(20).fill(0xee);
      const end = writeFrameHeader(target, 3, FIN | OP_BINARY, length, undefined);
      assert.equal(end, 3 + 1 + lengthBytes.length);
      assert.equal(end - 3, frameHeaderSize(length, false));
      assert.deepEqual([...target.subarray(0, end + 1)], [0xee, 0xee, 0xee, 0x82, ...lengthBytes, 0xee]);

      const masked = new Uint8Array(20);
      const maskedEnd = writeFrameHeader(masked, 0, OP_TEXT, length, KEY);
      assert.equal(maskedEnd, frameHeaderSize(length, true));
      assert.deepEqual([...masked.subarray(0, maskedEnd)], [0x01, 0x80 | lengthBytes[0]!, ...lengthBytes.slice(1), ...KEY]);
    });
  }

  it("writes the first byte as given (FIN, RSV1 and opcode)", () => {
    const target = new Uint8Array(2);
    writeFrameHeader(target, 0, RSV1 | OP_TEXT, 5, undefined);
    assert.deepEqual([...target], [0x41, 5]);
    writeFrameHeader(target, 0, FIN | OP_CONTINUATION, 0, undefined);
    assert.deepEqual([...target], [0x80, 0]);
    assert.equal(FIN, 0x80);
    assert.equal(RSV1, 0x40);
  });
});

describe("encodeFrame", () => {
  for (const size of [0, 1, 125, 126, 65535, 65536, 70_000]) {
    it(`a ${size}-byte frame: the same bytes as a hand-built frame, and parses back (unmasked and masked)`, () => {
      const payload = payloadOf(size);
      const original = Buffer.from(payload);

      const plain = encodeFrame(FIN | OP_BINARY, payload);
      assert.equal(plain.length, frameHeaderSize(size, false) + size);
      assert.ok(plain.equals(rawFrame({ opcode: OP_BINARY, payload })));
      const client = new FrameParser(CLIENT);
      client.push(Buffer.from(plain));
      assert.equal(client.next(), EV_BINARY);
      assert.ok(client.data.equals(payload));

      const masked = encodeFrame(FIN | OP_BINARY, payload, KEY);
      assert.equal(masked.length, frameHeaderSize(size, true) + size);
      assert.ok(masked.equals(rawFrame({ opcode: OP_BINARY, payload, mask: KEY })));
      const server = new FrameParser(SERVER);
      server.push(Buffer.from(masked));
      assert.equal(server.next(), EV_BINARY);
      assert.ok(server.data.equals(payload));

      assert.ok(payload.equals(original), "encodeFrame must not mask the caller's payload");
    });
  }

  it("masks the payload on the wire", () => {
    const payload = Buffer.from("hello");
    const masked = encodeFrame(FIN | OP_TEXT, payload, KEY);
    const header = frameHeaderSize(5, true);
    assert.deepEqual([...masked.subarray(header)], [...payload].map((b, i) => b ^ KEY[i % 4]!));
  });

  it("writes fragments and control frames that parse back in order", () => {
    const parser = new FrameParser(CLIENT);
    parser.push(
      Buffer.concat([
        encodeFrame(OP_TEXT, Buffer.from("frag-")),
        encodeFrame(FIN | OP_PING, Buffer.from("p")),
        encodeFrame(FIN | OP_CONTINUATION, Buffer.from("end")),
        encodeFrame(FIN | OP_CLOSE, encodeClosePayload(1000, "ok")),
      ]),
    );
    assert.deepEqual(drain(parser), [
      { ev: "ping", data: [0x70] },
      { ev: "text", text: "frag-end" },
      { ev: "close", code: 1000, reason: "ok" },
    ]);
  });

  it("round-trips random frames through the parser in both roles", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(OP_TEXT, OP_BINARY, OP_PING),
        fc.uint8Array({ maxLength: 400 }),
        unicodeString(60),
        fc.uint8Array({ minLength: 4, maxLength: 4 }),
        (opcode, bin, text, key) => {
          const payload = opcode === OP_TEXT ? Buffer.from(text) : opcode === OP_PING ? bin.subarray(0, 125) : bin;
          for (const [options, maskKey] of [
            [SERVER, key],
            [CLIENT, undefined],
          ] as const) {
            const parser = new FrameParser(options);
            parser.push(encodeFrame(FIN | opcode, payload, maskKey));
            const ev = parser.next();
            assert.equal(ev, opcode === OP_TEXT ? EV_TEXT : opcode === OP_PING ? EV_PING : EV_BINARY);
            if (ev === EV_TEXT) assert.equal(parser.text, text);
            else assert.ok(parser.data.equals(payload));
            assert.equal(parser.next(), EV_NONE);
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe("encodeClosePayload", () => {
  it("is empty without a code", () => {
    assert.equal(encodeClosePayload(undefined).length, 0);
    assert.equal(encodeClosePayload(undefined, "ignored").length, 0);
  });

  it("writes the code big-endian, then the UTF-8 reason", () => {
    assert.deepEqual([...encodeClosePayload(1000)], [0x03, 0xe8]);
    assert.deepEqual([...encodeClosePayload(4999, "")], [0x13, 0x87]);
    assert.deepEqual([...encodeClosePayload(1001, "bye")], [0x03, 0xe9, 0x62, 0x79, 0x65]);
    const reason = "größe 🚀";
    const payload = encodeClosePayload(3000, reason);
    assert.equal(payload.length, 2 + Buffer.byteLength(reason));
    assert.equal(payload.readUInt16BE(0), 3000);
    assert.equal(payload.subarray(2).toString("utf8"), reason);
  });

  it("parses back as the same close event (and no payload as 1005)", () => {
    for (const [code, reason] of [
      [1000, ""],
      [1011, "streaming failed: boom"],
      [4000, "é".repeat(61) + "x"],
    ] as const) {
      const parser = new FrameParser(SERVER);
      parser.push(encodeFrame(FIN | OP_CLOSE, encodeClosePayload(code, reason), KEY));
      assert.equal(parser.next(), EV_CLOSE);
      assert.equal(parser.closeCode, code);
      assert.equal(parser.closeReason, reason);
    }
    const parser = new FrameParser(CLIENT);
    parser.push(encodeFrame(FIN | OP_CLOSE, encodeClosePayload(undefined)));
    assert.equal(parser.next(), EV_CLOSE);
    assert.equal(parser.closeCode, 1005);
    assert.equal(parser.closeReason, "");
  });
});
