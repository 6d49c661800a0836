import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { isUtf8, truncateUtf8, utf8CutPoint, Utf8StreamValidator } from "../../src/protocol/utf8.ts";
import { unicodeString } from "./frames.ts";

/** Byte offsets where the code points of `text` end, in its UTF-8 form. */
function boundaries(text: string): number[] {
  const out: number[] = [];
  let at = 0;
  for (const ch of text) {
    at += Buffer.byteLength(ch);
    out.push(at);
  }
  return out;
}

/** Strings mixing ASCII, 2- and 3-byte characters and astral (4-byte) ones. */
const textArb = fc.oneof(
  unicodeString(40),
  fc.array(fc.constantFrom("a", "é", "€", "😀", "𝄞", "中", "\u0000", "\u{10ffff}"), { maxLength: 40 }).map((a) => a.join("")),
);

describe("utf8CutPoint", () => {
  it("cuts at the last code-point boundary within max bytes", () => {
    const bytes = Buffer.from("a€😀b"); // 1 + 3 + 4 + 1 bytes: boundaries 1, 4, 8, 9
    assert.equal(utf8CutPoint(bytes, 0, 1), 1);
    assert.equal(utf8CutPoint(bytes, 0, 3), 1);
    assert.equal(utf8CutPoint(bytes, 0, 4), 4);
    assert.equal(utf8CutPoint(bytes, 0, 7), 4);
    assert.equal(utf8CutPoint(bytes, 0, 8), 8);
    assert.equal(utf8CutPoint(bytes, 0, 9), 9);
    assert.equal(utf8CutPoint(bytes, 0, 100), 9);
    assert.equal(utf8CutPoint(bytes, 4, 4), 8);
    assert.equal(utf8CutPoint(bytes, 4, 5), 9);
    assert.equal(utf8CutPoint(bytes, 9, 5), 9);
  });

  it("returns one whole code point when max is smaller than it", () => {
    const bytes = Buffer.from("😀€x");
    assert.equal(utf8CutPoint(bytes, 0, 1), 4);
    assert.equal(utf8CutPoint(bytes, 0, 3), 4);
    assert.equal(utf8CutPoint(bytes, 4, 2), 7);
    assert.equal(utf8CutPoint(bytes, 0, 0), 4);
  });

  it("never splits a code point and takes as much as fits (property)", () => {
    fc.assert(
      fc.property(textArb, fc.nat(), fc.integer({ min: 0, max: 24 }), (text, rawStart, max) => {
        const bytes = Buffer.from(text);
        const ends = boundaries(text);
        const starts = [0, ...ends];
        const start = starts[rawStart % starts.length]!;
        const cut = utf8CutPoint(bytes, start, max);

        const fitting = ends.filter((b) => b > start && b <= start + max);
        const expected = start === bytes.length ? bytes.length : fitting.length > 0 ? fitting.at(-1)! : ends.find((b) => b > start)!;
        assert.equal(cut, expected);
        // The piece is whole code points: valid UTF-8 on its own, and the pieces rejoin.
        assert.ok(cut === bytes.length || (bytes[cut]! & 0xc0) !== 0x80);
        assert.ok(isUtf8(bytes.subarray(start, cut)));
        assert.equal(bytes.toString("utf8", 0, start) + bytes.toString("utf8", start, cut) + bytes.toString("utf8", cut), text);
      }),
      { numRuns: 500 },
    );
  });

  it("splits a text into fragments that rejoin to it (as the connection fragments messages)", () => {
    fc.assert(
      fc.property(textArb, fc.integer({ min: 1, max: 9 }), (text, max) => {
        const bytes = Buffer.from(text);
        const pieces: string[] = [];
        for (let start = 0; start < bytes.length; ) {
          const end = utf8CutPoint(bytes, start, max);
          assert.ok(end > start);
          assert.ok(end - start <= Math.max(max, 4));
          const piece = bytes.subarray(start, end);
          assert.ok(isUtf8(piece), "a fragment is not valid UTF-8 by itself");
          pieces.push(piece.toString("utf8"));
          start = end;
        }
        assert.equal(pieces.join(""), text);
      }),
      { numRuns: 300 },
    );
  });
});

describe("truncateUtf8", () => {
  it("keeps text that fits", () => {
    assert.equal(truncateUtf8("", 0), "");
    assert.equal(truncateUtf8("short", 123), "short");
    assert.equal(truncateUtf8("ü".repeat(61) + "x", 123), "ü".repeat(61) + "x");
  });

  it("cuts to at most maxBytes on a character boundary", () => {
    assert.equal(truncateUtf8("abcdef", 3), "abc");
    assert.equal(truncateUtf8("a€b", 2), "a");
    assert.equal(truncateUtf8("a€b", 3), "a");
    assert.equal(truncateUtf8("a€b", 4), "a€");
    assert.equal(truncateUtf8("😀😀", 7), "😀");
    assert.equal(truncateUtf8("😀", 3), "");
    assert.equal(truncateUtf8("ü".repeat(100), 123), "ü".repeat(61));
  });

  it("returns the longest whole-character prefix within maxBytes (property)", () => {
    fc.assert(
      fc.property(textArb, fc.integer({ min: 0, max: 30 }), (text, max) => {
        const out = truncateUtf8(text, max);
        const chars = [...text];
        let expected = "";
        for (const ch of chars) {
          if (Buffer.byteLength(expected + ch) > max) break;
          expected += ch;
        }
        assert.equal(out, expected);
        assert.ok(Buffer.byteLength(out) <= max);
        assert.ok(!out.includes("\ufffd") || text.includes("\ufffd"), "a split character became U+FFFD");
      }),
      { numRuns: 500 },
    );
  });
});

describe("Utf8StreamValidator", () => {
  it("accepts valid text split anywhere, including inside code points", () => {
    fc.assert(
      fc.property(textArb, fc.array(fc.nat(), { maxLength: 6 }), (text, rawCuts) => {
        const bytes = Buffer.from(text);
        const cuts = [...new Set(rawCuts.map((n) => n % (bytes.length + 1)))].sort((a, b) => a - b);
        const validator = new Utf8StreamValidator();
        let at = 0;
        for (const cut of [...cuts, bytes.length]) {
          assert.equal(validator.push(bytes.subarray(at, cut)), true);
          at = cut;
        }
        assert.equal(validator.end(), true);
      }),
      { numRuns: 300 },
    );
  });

  it("agrees with isUtf8 on any bytes cut anywhere, one byte at a time too", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 24 }), fc.array(fc.nat(), { maxLength: 6 }), (bytes, rawCuts) => {
        const cuts = [...new Set(rawCuts.map((n) => n % (bytes.length + 1)))].sort((a, b) => a - b);
        for (const pieces of [cuts, [...bytes.keys()]]) {
          const validator = new Utf8StreamValidator();
          let at = 0;
          let valid = true;
          for (const cut of [...pieces, bytes.length]) {
            valid &&= validator.push(bytes.subarray(at, cut));
            at = cut;
          }
          valid &&= validator.end();
          assert.equal(valid, isUtf8(bytes), Buffer.from(bytes).toString("hex"));
        }
      }),
      { numRuns: 2000 },
    );
  });

  it("fails on the piece where the text becomes invalid", () => {
    const validator = new Utf8StreamValidator();
    assert.equal(validator.push(Buffer.from("ok ")), true);
    assert.equal(validator.push(Uint8Array.of(0xed)), true); // could still be valid
    assert.equal(validator.push(Uint8Array.of(0xa0)), false); // U+D800: a surrogate
  });

  it("fails on a cut code point that can no longer be valid (Autobahn 6.4.2: U+110000 begun)", () => {
    const validator = new Utf8StreamValidator();
    assert.equal(validator.push(Buffer.concat([Buffer.from("κόσμε"), Uint8Array.of(0xf4)])), true);
    assert.equal(validator.push(Uint8Array.of(0x90)), false);
  });

  it("fails at the end when the text stops inside a code point", () => {
    const validator = new Utf8StreamValidator();
    assert.equal(validator.push(Uint8Array.of(0x61, 0xf0, 0x9f, 0x98)), true);
    assert.equal(validator.end(), false);
  });

  it("starts afresh after reset()", () => {
    const validator = new Utf8StreamValidator();
    assert.equal(validator.push(Uint8Array.of(0xe2, 0x82)), true);
    validator.reset();
    assert.equal(validator.push(Buffer.from("abc")), true);
    assert.equal(validator.end(), true);
  });
});
