import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { applyMask, applyMaskJs, copyMasked, nativeMasking, nextMaskKey } from "../../src/protocol/mask.ts";

/** The definition: byte i of the range is XORed with key[(phase + i) % 4]. */
function naiveMask(buf: Uint8Array, start: number, end: number, key: Uint8Array, phase: number): void {
  for (let i = start; i < end; i++) buf[i] = buf[i]! ^ key[(phase + i - start) % 4]!;
}

/**
 * A buffer of `length` bytes at byte offset `shift` inside a larger ArrayBuffer, so that the
 * word loop meets every alignment.
 */
function placed(content: Uint8Array, shift: number): Uint8Array {
  const backing = new ArrayBuffer(content.length + shift + 8);
  new Uint8Array(backing).fill(0x5a);
  const view = new Uint8Array(backing, shift, content.length);
  view.set(content);
  return view;
}

const caseArb = fc
  .record({
    // Past 256 bytes applyMask hands the work to native code when bufferutil is installed.
    content: fc.uint8Array({ maxLength: 700 }),
    key: fc.uint8Array({ minLength: 4, maxLength: 4 }),
    shift: fc.integer({ min: 0, max: 7 }),
    phase: fc.integer({ min: 0, max: 11 }),
    a: fc.nat(),
    b: fc.nat(),
  })
  .map(({ content, key, shift, phase, a, b }) => {
    const x = a % (content.length + 1);
    const y = b % (content.length + 1);
    return { content, key, shift, phase, start: Math.min(x, y), end: Math.max(x, y) };
  });

describe("applyMask", () => {
  it('matches the masked "Hello" of RFC 6455 §5.7', () => {
    const buf = Buffer.from("Hello");
    applyMask(buf, 0, buf.length, Uint8Array.of(0x37, 0xfa, 0x21, 0x3d));
    assert.deepEqual([...buf], [0x7f, 0x9f, 0x4d, 0x51, 0x58]);
  });

  it("matches a naive byte loop for random ranges, phases and alignments", () => {
    fc.assert(
      fc.property(caseArb, ({ content, key, shift, phase, start, end }) => {
        const fast = placed(content, shift);
        const slow = Uint8Array.from(content);
        applyMask(fast, start, end, key, phase);
        naiveMask(slow, start, end, key, phase);
        assert.deepEqual([...fast], [...slow]);
        // Nothing outside the view is touched.
        const backing = new Uint8Array(fast.buffer);
        for (let i = 0; i < backing.length; i++) {
          if (i < shift || i >= shift + content.length) assert.equal(backing[i], 0x5a, `byte ${i} outside the view changed`);
        }
      }),
      { numRuns: 500 },
    );
  });

  it("is its own inverse: masking twice with the same key and phase is the identity", () => {
    fc.assert(
      fc.property(caseArb, ({ content, key, shift, phase, start, end }) => {
        const buf = placed(content, shift);
        applyMask(buf, start, end, key, phase);
        if (end - start >= 4 && key.some((k) => k !== 0)) {
          // With a non-zero key, at least one of any 4 consecutive bytes changes.
          assert.notDeepEqual([...buf.subarray(start, end)], [...content.subarray(start, end)]);
        }
        applyMask(buf, start, end, key, phase);
        assert.deepEqual([...buf], [...content]);
      }),
      { numRuns: 300 },
    );
  });

  it("masks in pieces with a running phase the same as in one go", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 300 }),
        fc.uint8Array({ minLength: 4, maxLength: 4 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        (content, key, rawCuts) => {
          const whole = Uint8Array.from(content);
          applyMask(whole, 0, whole.length, key);
          const pieces = Uint8Array.from(content);
          const cuts = [...new Set(rawCuts.map((n) => n % (content.length + 1)))].sort((a, b) => a - b);
          let at = 0;
          for (const cut of [...cuts, content.length]) {
            applyMask(pieces, at, cut, key, at);
            at = cut;
          }
          assert.deepEqual([...pieces], [...whole]);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("handles long buffers (the word loop) at every alignment and phase", () => {
    const key = Uint8Array.of(1, 2, 4, 8);
    for (let shift = 0; shift < 4; shift++) {
      for (let phase = 0; phase < 4; phase++) {
        const content = new Uint8Array(1027).map((_, i) => i & 0xff);
        const fast = placed(content, shift);
        const slow = Uint8Array.from(content);
        applyMask(fast, 1, 1026, key, phase);
        naiveMask(slow, 1, 1026, key, phase);
        assert.deepEqual([...fast], [...slow], `shift ${shift}, phase ${phase}`);
      }
    }
  });

  it("leaves an empty range alone", () => {
    const buf = Uint8Array.of(1, 2, 3);
    applyMask(buf, 1, 1, Uint8Array.of(9, 9, 9, 9));
    assert.deepEqual([...buf], [1, 2, 3]);
  });
});

describe("copyMasked", () => {
  it("writes the masked range to the output, as masking a copy in place would, and leaves the source alone", () => {
    fc.assert(
      fc.property(caseArb, fc.nat({ max: 9 }), ({ content, key, shift, phase, start, end }, at) => {
        const source = placed(content, shift);
        const output = new Uint8Array(at + content.length + 3).fill(0xa5);
        copyMasked(source, start, end, key, phase, output, at);
        const expected = Uint8Array.from(content.subarray(start, end));
        naiveMask(expected, 0, expected.length, key, phase);
        assert.deepEqual([...output.subarray(at, at + end - start)], [...expected]);
        assert.ok(output.subarray(0, at).every((b) => b === 0xa5), "bytes before the target changed");
        assert.ok(output.subarray(at + end - start).every((b) => b === 0xa5), "bytes after the target changed");
        assert.deepEqual([...source], [...content]);
      }),
      { numRuns: 500 },
    );
  });
});

describe("nextMaskKey", () => {
  it("returns 4-byte keys that vary, across refills of the pool", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 5000; i++) {
      const key = nextMaskKey();
      assert.equal(key.length, 4);
      seen.add(Buffer.from(key).toString("hex"));
    }
    // 5000 draws of 32 random bits: collisions are possible but rare.
    assert.ok(seen.size > 4990, `only ${seen.size} distinct keys in 5000`);
  });
});

describe("applyMaskJs, the fallback without bufferutil", () => {
  it("native masking is loaded when bufferutil is installed (it is, in this repository)", () => {
    assert.equal(nativeMasking, true);
  });

  it("matches a naive byte loop for random ranges, phases and alignments", () => {
    fc.assert(
      fc.property(caseArb, ({ content, key, shift, phase, start, end }) => {
        const fast = placed(content, shift);
        const slow = Uint8Array.from(content);
        applyMaskJs(fast, start, end, key, phase);
        naiveMask(slow, start, end, key, phase);
        assert.deepEqual([...fast], [...slow]);
      }),
      { numRuns: 300 },
    );
  });
});
