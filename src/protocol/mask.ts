import { randomFillSync } from "node:crypto";
import { createRequire } from "node:module";

const scratch = new Uint8Array(4);
const scratch32 = new Uint32Array(scratch.buffer);

/** Below this many bytes a plain byte loop beats setting up a 32-bit view. */
const WORD_LOOP_THRESHOLD = 32;

interface NativeMasking {
  unmask(buffer: Buffer, mask: Uint8Array): void;
  mask(source: Uint8Array, mask: Uint8Array, output: Uint8Array, offset: number, length: number): void;
}

/**
 * `bufferutil` (the native XOR that `ws` uses), when the application has it installed: about
 * ten times faster than the best JavaScript loop on large payloads, where masking is most of
 * the work of a read. Without it, the JavaScript below does the job.
 */
const native: NativeMasking | undefined = (() => {
  if (process.env["FERRY_NO_NATIVE_MASK"] !== undefined) return undefined;
  try {
    const loaded = createRequire(import.meta.url)("bufferutil") as Partial<NativeMasking>;
    return typeof loaded.unmask === "function" && typeof loaded.mask === "function" ? (loaded as NativeMasking) : undefined;
  } catch {
    return undefined;
  }
})();

/** Below this size the call into native code costs more than it saves. */
const NATIVE_THRESHOLD = 256;

/** Whether large payloads are masked natively (for tests and the benchmark's report). */
export const nativeMasking = native !== undefined;

/**
 * XORs `buf[start..end)` in place with the 4-byte `key`, as if the masking started `phase`
 * bytes into the key: a frame's payload can be unmasked chunk by chunk as it arrives.
 */
export function applyMask(buf: Uint8Array, start: number, end: number, key: Uint8Array, phase = 0): void {
  if (native !== undefined && end - start >= NATIVE_THRESHOLD) {
    native.unmask(Buffer.from(buf.buffer, buf.byteOffset + start, end - start), rotatedKey(key, phase));
    return;
  }
  applyMaskJs(buf, start, end, key, phase);
}

/**
 * Writes `source[start..end)` XOR-ed with `key` (from `phase` bytes into it) to `output` at
 * `at`. Natively that is one pass over the bytes where a copy and then an in-place XOR are
 * two: it is how a payload that spans reads is gathered, and how a client masks a frame.
 */
export function copyMasked(
  source: Uint8Array,
  start: number,
  end: number,
  key: Uint8Array,
  phase: number,
  output: Uint8Array,
  at: number,
): void {
  if (native !== undefined && end - start >= NATIVE_THRESHOLD) {
    native.mask(source.subarray(start, end), rotatedKey(key, phase), output, at, end - start);
    return;
  }
  output.set(source.subarray(start, end), at);
  applyMaskJs(output, at, at + end - start, key, phase);
}

/** The key as seen from `phase` bytes into it, in a shared scratch array. */
function rotatedKey(key: Uint8Array, phase: number): Uint8Array {
  const p = phase & 3;
  scratch[0] = key[p]!;
  scratch[1] = key[(p + 1) & 3]!;
  scratch[2] = key[(p + 2) & 3]!;
  scratch[3] = key[(p + 3) & 3]!;
  return scratch;
}

/** The aligned middle a 32-bit word at a time, eight words per turn of the loop. */
export function applyMaskJs(buf: Uint8Array, start: number, end: number, key: Uint8Array, phase = 0): void {
  let i = start;
  let p = phase & 3;
  if (end - start >= WORD_LOOP_THRESHOLD) {
    for (; ((buf.byteOffset + i) & 3) !== 0; i++, p = (p + 1) & 3) buf[i]! ^= key[p]!;
    rotatedKey(key, p);
    const word = scratch32[0]!;
    const words = (end - i) >>> 2;
    const view = new Uint32Array(buf.buffer, buf.byteOffset + i, words);
    let w = 0;
    for (; w + 8 <= words; w += 8) {
      view[w]! ^= word;
      view[w + 1]! ^= word;
      view[w + 2]! ^= word;
      view[w + 3]! ^= word;
      view[w + 4]! ^= word;
      view[w + 5]! ^= word;
      view[w + 6]! ^= word;
      view[w + 7]! ^= word;
    }
    for (; w < words; w++) view[w]! ^= word;
    i += words << 2;
  }
  for (; i < end; i++, p = (p + 1) & 3) buf[i]! ^= key[p]!;
}

/**
 * Masking keys come from a pooled CSPRNG buffer (RFC 6455 §5.3 wants them unpredictable);
 * one randomFill call serves 2,048 frames.
 */
const KEY_POOL_SIZE = 8192;
const keyPool = Buffer.allocUnsafe(KEY_POOL_SIZE);
let keyPoolOffset = KEY_POOL_SIZE;

/** A fresh masking key: a 4-byte view into the pool, valid until the next 2,047 calls. */
export function nextMaskKey(): Uint8Array {
  if (keyPoolOffset === KEY_POOL_SIZE) {
    randomFillSync(keyPool);
    keyPoolOffset = 0;
  }
  const key = keyPool.subarray(keyPoolOffset, keyPoolOffset + 4);
  keyPoolOffset += 4;
  return key;
}
