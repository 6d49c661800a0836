import { randomFillSync } from "node:crypto";

const scratch = new Uint8Array(4);
const scratch32 = new Uint32Array(scratch.buffer);

/** Below this many bytes a plain byte loop beats setting up a 32-bit view. */
const WORD_LOOP_THRESHOLD = 32;

/**
 * XORs `buf[start..end)` in place with the 4-byte `key`, as if the masking started `phase`
 * bytes into the key: a frame's payload can be unmasked chunk by chunk as it arrives.
 * The aligned middle is done a 32-bit word at a time.
 */
export function applyMask(buf: Uint8Array, start: number, end: number, key: Uint8Array, phase = 0): void {
  let i = start;
  let p = phase & 3;
  if (end - start >= WORD_LOOP_THRESHOLD) {
    for (; ((buf.byteOffset + i) & 3) !== 0; i++, p = (p + 1) & 3) buf[i]! ^= key[p]!;
    scratch[0] = key[p]!;
    scratch[1] = key[(p + 1) & 3]!;
    scratch[2] = key[(p + 2) & 3]!;
    scratch[3] = key[(p + 3) & 3]!;
    const word = scratch32[0]!;
    const words = (end - i) >>> 2;
    const view = new Uint32Array(buf.buffer, buf.byteOffset + i, words);
    for (let w = 0; w < words; w++) view[w]! ^= word;
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
