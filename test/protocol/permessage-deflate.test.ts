import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, test } from "node:test";
import { constants, deflateRawSync } from "node:zlib";
import { ZlibLimiter } from "../../src/connection/compression.ts";
import { CorruptedFrameError, PayloadTooLargeError, type WebSocketError } from "../../src/errors.ts";
import { PerMessageDeflate } from "../../src/protocol/permessage-deflate.ts";
import type { DeflateParameters } from "../../src/protocol/permessage-deflate-negotiation.ts";
import { PAYLOADS, TestDeflater, TestInflater } from "../compression/deflate-peer.ts";

const MIB = 1024 * 1024;
const SETTINGS = { memLevel: 8 };

function terms(noContext: boolean, bits = 15): DeflateParameters {
  return { serverNoContextTakeover: noContext, clientNoContextTakeover: noContext, serverMaxWindowBits: bits, clientMaxWindowBits: bits };
}

function compress(codec: PerMessageDeflate, data: Uint8Array): Promise<Buffer> {
  return new Promise((resolve, reject) => codec.compress(data, (error, output) => (error === undefined ? resolve(output) : reject(error))));
}

function decompress(codec: PerMessageDeflate, data: Buffer, maxSize: number): Promise<Buffer> {
  return new Promise((resolve, reject) => codec.decompress(data, maxSize, (error, output) => (error === undefined ? resolve(output) : reject(error))));
}

/** Inflates the way a connection does: at once when the codec can, else through the pool. */
async function inflate(codec: PerMessageDeflate, data: Buffer, maxSize: number): Promise<Buffer> {
  const now = codec.decompressNow(data, maxSize);
  if (now === undefined) return decompress(codec, data, maxSize);
  if (now instanceof Error) throw now;
  return now;
}

async function deflate(codec: PerMessageDeflate, data: Buffer): Promise<Buffer> {
  return codec.compressNow(data, data.length) ?? compress(codec, data);
}

/** A payload of ~1 MiB that inflates to `size` bytes of zeros: an LZ77 block repeated after a primer. */
function zeroBomb(size: number): Buffer {
  const unit = MIB;
  const primer = deflateRawSync(Buffer.alloc(32 * 1024), { finishFlush: constants.Z_SYNC_FLUSH });
  const block = deflateRawSync(Buffer.alloc(unit), { finishFlush: constants.Z_SYNC_FLUSH, dictionary: Buffer.alloc(32 * 1024) });
  const parts = [primer];
  for (let n = 32 * 1024; n < size; n += unit) parts.push(block);
  const all = Buffer.concat(parts);
  return all.subarray(0, all.length - 4);
}

describe("PerMessageDeflate: round trips", () => {
  for (const noContext of [true, false]) {
    for (const size of [100, 4096, 16 * 1024, 16 * 1024 + 1, 200_000, 3 * MIB]) {
      test(`${noContext ? "no context takeover" : "context takeover"}, ${size} bytes, three messages`, async () => {
        const server = new PerMessageDeflate(terms(noContext), "server", SETTINGS);
        const client = new PerMessageDeflate(terms(noContext), "client", SETTINGS);
        const peerInflater = new TestInflater(noContext, 15);
        const peerDeflater = new TestDeflater(noContext, 15);
        for (let i = 0; i < 3; i++) {
          const message = PAYLOADS.json(size + i);
          // ferry → ferry
          assert.deepEqual(await inflate(client, await deflate(server, message), 0), message);
          // ferry → an independent zlib peer, and back
          assert.deepEqual(peerInflater.inflate(await deflate(client, message)), message);
          assert.deepEqual(await inflate(server, peerDeflater.compress(message), 16 * MIB), message);
        }
        server.close();
        client.close();
      });
    }
  }

  test("with context takeover a repeated message refers back to the first", async () => {
    const codec = new PerMessageDeflate(terms(false), "server", SETTINGS);
    const message = PAYLOADS.html(20_000);
    const first = await deflate(codec, message);
    const second = await deflate(codec, message);
    assert.ok(second.length * 4 < first.length, `${second.length} vs ${first.length}`);
    const peer = new TestInflater(false, 15);
    assert.deepEqual(peer.inflate(first), message);
    assert.deepEqual(peer.inflate(second), message);
    codec.close();
  });

  test("without context takeover every message stands alone", async () => {
    const codec = new PerMessageDeflate(terms(true), "server", SETTINGS);
    const message = PAYLOADS.html(20_000);
    const first = await deflate(codec, message);
    const second = await deflate(codec, message);
    assert.deepEqual(second, first);
    // Each one inflates with a fresh inflater.
    assert.deepEqual(new TestInflater(true, 15).inflate(second), message);
  });

  for (const bits of [9, 10, 12]) {
    test(`a ${bits}-bit window is kept: a repeat ${1 << bits} bytes back is out of reach`, async () => {
      const codec = new PerMessageDeflate(terms(true, bits), "server", SETTINGS);
      const chunk = PAYLOADS.random(1 << bits);
      const output = await deflate(codec, Buffer.concat([chunk, chunk]));
      // The second copy is exactly one window back: beyond the reach of a window of that size.
      assert.ok(output.length > 2 * chunk.length * 0.95, `${output.length} bytes for ${2 * chunk.length}`);
      assert.deepEqual(new TestInflater(true, bits).inflate(output), Buffer.concat([chunk, chunk]));
    });
  }

  test("an 8-bit window compresses Huffman-only: no back-references at all", async () => {
    for (const noContext of [true, false]) {
      const codec = new PerMessageDeflate(terms(noContext, 8), "server", SETTINGS);
      const message = Buffer.alloc(100_000, "a");
      const output = await deflate(codec, message);
      // LZ77 would need a few hundred bytes; literals alone need at least one bit each.
      assert.ok(output.length >= message.length / 8, `${output.length} bytes`);
      assert.deepEqual(new TestInflater(noContext, 9).inflate(output), message);
      codec.close();
    }
  });

  test("a peer told to keep to 8 bits is inflated even when zlib made that 9", async () => {
    const codec = new PerMessageDeflate(terms(true, 8), "server", SETTINGS);
    const chunk = PAYLOADS.random(400);
    const message = Buffer.concat([chunk, chunk]);
    assert.deepEqual(await inflate(codec, new TestDeflater(true, 8).compress(message), 0), message);
  });

  test("a message that ends the deflate stream (BFINAL) inflates, and so does the next one", async () => {
    for (const noContext of [true, false]) {
      const codec = new PerMessageDeflate(terms(noContext), "server", SETTINGS);
      for (const size of [1000, 40_000]) {
        const message = PAYLOADS.prose(size);
        const final = deflateRawSync(message);
        assert.deepEqual(await inflate(codec, final, 0), message);
        assert.deepEqual(await inflate(codec, new TestDeflater(true, 15).compress(message), 0), message);
      }
      codec.close();
    }
  });
});

describe("PerMessageDeflate: limits and errors", () => {
  test("a 1 GiB bomb in a 1 MiB message stops at maxMessageSize and never holds the gigabyte", async () => {
    const bomb = zeroBomb(1024 * MIB);
    assert.ok(bomb.length < 1.1 * MIB, `${bomb.length} bytes`);
    for (const noContext of [true, false]) {
      const codec = new PerMessageDeflate(terms(noContext), "server", SETTINGS);
      const peak = process.resourceUsage().maxRSS;
      const started = Date.now();
      const error = await inflate(codec, bomb, 4 * MIB).then(
        () => assert.fail("inflated"),
        (e: unknown) => e as WebSocketError,
      );
      assert.ok(error instanceof PayloadTooLargeError, String(error));
      assert.equal(error.closeCode, 1009);
      const grew = (process.resourceUsage().maxRSS - peak) / 1024;
      assert.ok(grew < 128, `peak RSS grew by ${grew.toFixed(0)} MiB`);
      assert.ok(Date.now() - started < 2000, `took ${Date.now() - started} ms`);
      // The codec stays usable.
      const message = PAYLOADS.json(30_000);
      assert.deepEqual(await inflate(codec, new TestDeflater(true, 15).compress(message), 0), message);
      codec.close();
    }
  });

  test("a small bomb inflated at once stops at the limit too", async () => {
    const bomb = deflateRawSync(Buffer.alloc(4 * MIB), { finishFlush: constants.Z_SYNC_FLUSH }).subarray(0, -4);
    assert.ok(bomb.length < 16 * 1024, `${bomb.length} bytes`);
    const codec = new PerMessageDeflate(terms(true), "server", SETTINGS);
    for (const limit of [10_000, 64 * 1024, 100_000, 2 * MIB]) {
      const error = await inflate(codec, bomb, limit).catch((e: unknown) => e);
      assert.ok(error instanceof PayloadTooLargeError, `limit ${limit}: ${String(error)}`);
      assert.match(error.message, new RegExp(`maxMessageSize of ${limit} bytes`));
    }
    // Exactly at the limit is fine.
    assert.equal((await inflate(codec, bomb, 4 * MIB)).length, 4 * MIB);
    assert.equal((await inflate(codec, deflateRawSync(Buffer.alloc(1000), { finishFlush: constants.Z_SYNC_FLUSH }).subarray(0, -4), 1000)).length, 1000);
  });

  const corrupt: [string, Buffer][] = [
    ["a reserved block type", Buffer.from([0xff, 0xff, 0xff])],
    [
      "a distance before the start",
      deflateRawSync(Buffer.from("hello world, hello world"), { dictionary: Buffer.from("hello world, "), finishFlush: constants.Z_SYNC_FLUSH }).subarray(0, -4),
    ],
    ["random bytes", Buffer.from(PAYLOADS.random(40_000))],
  ];
  for (const [name, data] of corrupt) {
    test(`corrupt data (${name}): CorruptedFrameError with 1007`, async () => {
      for (const noContext of [true, false]) {
        const codec = new PerMessageDeflate(terms(noContext), "server", SETTINGS);
        const error = await inflate(codec, data, 0).catch((e: unknown) => e);
        assert.ok(error instanceof CorruptedFrameError, String(error));
        assert.equal(error.closeCode, 1007);
        assert.match(error.message, /^Invalid compressed data/);
        codec.close();
      }
    });
  }

  test("nothing of one connection's messages reaches another's through the pool", async () => {
    // Both messages are too large to inflate at once, so both go through the pooled inflater.
    const secret = Buffer.from(PAYLOADS.random(20_000));
    const first = new PerMessageDeflate(terms(true), "server", SETTINGS);
    assert.deepEqual(await inflate(first, deflateRawSync(secret, { finishFlush: constants.Z_SYNC_FLUSH }).subarray(0, -4), 0), secret);
    // Another connection's message that refers back into the first one's bytes.
    const probe = Buffer.concat([secret.subarray(0, 1000), randomBytes(20_000)]);
    const reference = deflateRawSync(probe, { finishFlush: constants.Z_SYNC_FLUSH, dictionary: secret }).subarray(0, -4);
    assert.ok(reference.length > 16 * 1024, `${reference.length} bytes`);
    const second = new PerMessageDeflate(terms(true), "server", SETTINGS);
    const leaked = await inflate(second, reference, 0).catch((e: unknown) => e);
    assert.ok(leaked instanceof CorruptedFrameError, `a reference into another connection's bytes fails, got ${String(leaked).slice(0, 80)}`);
  });
});

describe("ZlibLimiter", () => {
  test("runs at most `concurrency` jobs at once, the rest in order", () => {
    const limiter = new ZlibLimiter(2);
    const started: number[] = [];
    for (let i = 0; i < 5; i++) limiter.run(() => started.push(i));
    assert.deepEqual(started, [0, 1]);
    limiter.done();
    assert.deepEqual(started, [0, 1, 2]);
    limiter.done();
    limiter.done();
    assert.deepEqual(started, [0, 1, 2, 3, 4]);
    limiter.done();
    limiter.done();
    limiter.run(() => started.push(5));
    limiter.run(() => started.push(6));
    limiter.run(() => started.push(7));
    assert.deepEqual(started, [0, 1, 2, 3, 4, 5, 6]);
  });
});
