// Autobahn 9.x, scaled down (messages up to 4 MiB instead of 16 MiB, fewer round trips): large
// messages in one frame, in fragments of many sizes and in chops of many sizes, and many small
// messages. Every echo is compared byte for byte.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { assertEvents, binary, closeNormally, forEachEcho, MIB, pong, text, useEchoServer } from "./harness.ts";
import { buildFragmented, buildFrame, OP_BINARY, OP_CONTINUATION, OP_PING, OP_TEXT, type ServerEvent } from "./raw-client.ts";

const server = useEchoServer();
const KIB = 1024;
const BIG_WAIT_MS = 15_000;

/** Deterministic, non-repeating-looking content, so that a reordered or dropped piece shows. */
function bytesOf(length: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** Printable ASCII text of this many bytes. */
function textOf(length: number, seed: number): string {
  const bytes = bytesOf(length, seed);
  for (let i = 0; i < length; i++) bytes[i] = 0x20 + (bytes[i]! % 95);
  return bytes.toString("latin1");
}

function size(bytes: number): string {
  return bytes >= MIB ? `${bytes / MIB} MiB` : `${bytes / KIB} KiB`;
}

forEachEcho(server, (echo) => {
  describe("9.1 / 9.2 large messages in one frame", () => {
    const SIZES = [64 * KIB, 256 * KIB, 1 * MIB, 4 * MIB];
    SIZES.forEach((length, i) => {
      test(`9.1.${i + 1} text message of ${size(length)} in one frame`, () =>
        echo.connect(async ({ client }) => {
          const payload = textOf(length, i + 1);
          await client.sendFrame(OP_TEXT, payload);
          await closeNormally(client, [text(payload)], BIG_WAIT_MS);
        }));
    });
    SIZES.forEach((length, i) => {
      test(`9.2.${i + 1} binary message of ${size(length)} in one frame`, () =>
        echo.connect(async ({ client }) => {
          const payload = bytesOf(length, i + 11);
          await client.sendFrame(OP_BINARY, payload);
          await closeNormally(client, [binary(payload)], BIG_WAIT_MS);
        }));
    });
  });

  // 9.3–9.6 against the sync echo only: with async handlers they would test nothing more.
  if (!echo.async) describe("9.3 / 9.4 large fragmented messages", () => {
    // Autobahn sends 4 MiB in fragments from 64 B to 4 MiB; here 4 MiB from 64 KiB fragments up.
    const FRAGMENTS: [number, number][] = [
      [64, 256 * KIB],
      [256, 1 * MIB],
      [1 * KIB, 1 * MIB],
      [4 * KIB, 1 * MIB],
      [16 * KIB, 1 * MIB],
      [64 * KIB, 4 * MIB],
      [256 * KIB, 4 * MIB],
      [1 * MIB, 4 * MIB],
      [4 * MIB, 4 * MIB],
    ];
    FRAGMENTS.forEach(([fragment, length], i) => {
      test(`9.3.${i + 1} text message of ${size(length)} in fragments of ${fragment < KIB ? `${fragment} B` : size(fragment)}`, () =>
        echo.connect(async ({ client }) => {
          const payload = textOf(length, 100 + i);
          await client.send(Buffer.concat(buildFragmented(OP_TEXT, payload, fragment)));
          await closeNormally(client, [text(payload)], BIG_WAIT_MS);
        }));
    });
    FRAGMENTS.forEach(([fragment, length], i) => {
      test(`9.4.${i + 1} binary message of ${size(length)} in fragments of ${fragment < KIB ? `${fragment} B` : size(fragment)}`, () =>
        echo.connect(async ({ client }) => {
          const payload = bytesOf(length, 200 + i);
          await client.send(Buffer.concat(buildFragmented(OP_BINARY, payload, fragment)));
          await closeNormally(client, [binary(payload)], BIG_WAIT_MS);
        }));
    });
  });

  if (!echo.async) describe("9.5 / 9.6 a large frame sent in chops", () => {
    // Autobahn: 1 MiB in chops of 64 B to 2 KiB; here less for the smaller chops.
    const CHOPS: [number, number][] = [
      [64, 128 * KIB],
      [128, 256 * KIB],
      [256, 512 * KIB],
      [512, 1 * MIB],
      [1024, 1 * MIB],
      [2048, 1 * MIB],
    ];
    CHOPS.forEach(([chop, length], i) => {
      test(`9.5.${i + 1} text message of ${size(length)} sent in chops of ${chop} bytes`, () =>
        echo.connect(async ({ client }) => {
          const payload = textOf(length, 300 + i);
          await client.send(buildFrame(OP_TEXT, payload), { chop });
          await closeNormally(client, [text(payload)], BIG_WAIT_MS);
        }));
    });
    CHOPS.forEach(([chop, length], i) => {
      test(`9.6.${i + 1} binary message of ${size(length)} sent in chops of ${chop} bytes`, () =>
        echo.connect(async ({ client }) => {
          const payload = bytesOf(length, 400 + i);
          await client.send(buildFrame(OP_BINARY, payload), { chop });
          await closeNormally(client, [binary(payload)], BIG_WAIT_MS);
        }));
    });
  });

  describe("9.7 / 9.8 many small messages, one round trip each", () => {
    const COUNT = 250;
    const SIZES = [0, 16, 64, 256, 1024, 4096];
    for (const isBinary of [false, true]) {
      SIZES.forEach((length, i) => {
        const id = `${isBinary ? "9.8" : "9.7"}.${i + 1}`;
        test(`${id} ${COUNT} ${isBinary ? "binary" : "text"} messages of ${length} bytes, each echoed before the next is sent`, () =>
          echo.connect(async ({ client }) => {
            for (let n = 0; n < COUNT; n++) {
              const payload = isBinary ? bytesOf(length, n + 1) : textOf(length, n + 1);
              await client.sendFrame(isBinary ? OP_BINARY : OP_TEXT, payload);
              assertEvents([await client.nextEvent()], [typeof payload === "string" ? text(payload) : binary(payload)]);
            }
            await closeNormally(client, []);
          }));
      });
    }

    test("9.7.x burst: 2000 small text and binary messages in one write, all echoed in order", () =>
      echo.connect(async ({ client }) => {
        const expected: ServerEvent[] = [];
        const frames: Buffer[] = [];
        for (let n = 0; n < 2000; n++) {
          const length = n % 200;
          if (n % 2 === 0) {
            const payload = textOf(length, n + 1);
            expected.push(text(payload));
            frames.push(buildFrame(OP_TEXT, payload));
          } else {
            const payload = bytesOf(length, n + 1);
            expected.push(binary(payload));
            frames.push(buildFrame(OP_BINARY, payload));
          }
        }
        await client.send(Buffer.concat(frames));
        await closeNormally(client, expected, BIG_WAIT_MS);
      }));
  });

  test("9.9.1 (scaled) text message streamed as 512 frames of 4 KiB, then closed", () =>
    echo.connect(async ({ client }) => {
      const piece = "*".repeat(4 * KIB);
      const frames = [buildFrame(OP_TEXT, piece, { fin: false })];
      for (let i = 1; i < 511; i++) frames.push(buildFrame(OP_CONTINUATION, piece, { fin: false }));
      frames.push(buildFrame(OP_CONTINUATION, piece));
      await client.sendEach(frames);
      const event = await client.nextEvent(BIG_WAIT_MS);
      assert.equal(event.type, "text");
      assert.equal(event.type === "text" && event.text === piece.repeat(512), true, "the message must be echoed whole");
      await closeNormally(client, []);
    }));

  // Not in Autobahn, which runs one connection at a time: connections whose frames interleave
  // on the server (each frame cut into chops, the connections taking turns), so that several
  // are mid-frame and mid-message at once.
  test("9.x 16 concurrent connections with fragmented messages in chops and pings between, each echoed exactly", async () => {
    const CONNECTIONS = 16;
    await Promise.all(
      Array.from({ length: CONNECTIONS }, (_, n) =>
        echo.connect(async ({ client }) => {
          for (let round = 0; round < 4; round++) {
            const seed = n * 100 + round + 1;
            const message = round % 2 === 0 ? textOf(3000 + n * 37, seed) : bytesOf(3000 + n * 37, seed);
            const frames = buildFragmented(typeof message === "string" ? OP_TEXT : OP_BINARY, message, 700 + n);
            frames.splice(1, 0, buildFrame(OP_PING, `ping ${n}/${round}`));
            await client.sendEach(frames, { chop: 97 + n });
            // The pong comes mid-message, the echo once the message is complete.
            const events = [await client.nextEvent(BIG_WAIT_MS), await client.nextEvent(BIG_WAIT_MS)];
            assertEvents(events, [pong(`ping ${n}/${round}`), typeof message === "string" ? text(message) : binary(message)]);
          }
          await closeNormally(client, []);
        }),
      ),
    );
  });
});
