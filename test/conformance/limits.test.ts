// Not in Autobahn: ferry's size limits (SPEC §3). A frame over maxFrameSize, or a message over
// maxMessageSize across its fragments, fails the connection with 1009 as soon as the frame
// header announces it, without waiting for the payload; outbound messages are fragmented at
// maxFrameSize on code-point boundaries.
import assert from "node:assert/strict";
import { isUtf8 } from "node:buffer";
import { describe, test } from "node:test";
import {
  assertServerError,
  binary,
  closeNormally,
  expectFailure,
  PATHS,
  pong,
  SMALL_FRAME_LIMIT,
  SMALL_MESSAGE_LIMIT,
  text,
  useEchoServer,
  withClient,
} from "./harness.ts";
import { buildFrame, maskedHeaderSize, OP_BINARY, OP_CONTINUATION, OP_PING, OP_TEXT } from "./raw-client.ts";

const server = useEchoServer();

describe("maxFrameSize", () => {
  test(`limits.1 a frame of exactly maxFrameSize (${SMALL_FRAME_LIMIT} bytes) is accepted`, () =>
    withClient(
      server,
      async ({ client }) => {
        const payload = Buffer.alloc(SMALL_FRAME_LIMIT, 0x5a);
        await client.sendFrame(OP_BINARY, payload);
        await closeNormally(client, [binary(payload)]);
      },
      PATHS.smallFrames,
    ));

  test(`limits.2 a frame header announcing ${SMALL_FRAME_LIMIT + 1} bytes: 1009 before any payload is sent`, () =>
    withClient(
      server,
      async (c) => {
        const frame = buildFrame(OP_BINARY, Buffer.alloc(SMALL_FRAME_LIMIT + 1));
        await c.client.send(frame.subarray(0, maskedHeaderSize(SMALL_FRAME_LIMIT + 1)));
        await expectFailure(c.client, 1009);
        await assertServerError(c, "PayloadTooLargeError", 1009);
      },
      PATHS.smallFrames,
    ));

  test("limits.3 a continuation frame over maxFrameSize: 1009", () =>
    withClient(
      server,
      async ({ client }) => {
        await client.send(buildFrame(OP_TEXT, "a".repeat(500), { fin: false }));
        const frame = buildFrame(OP_CONTINUATION, "b".repeat(SMALL_FRAME_LIMIT + 1));
        await client.send(frame.subarray(0, maskedHeaderSize(SMALL_FRAME_LIMIT + 1)));
        await expectFailure(client, 1009);
      },
      PATHS.smallFrames,
    ));

  test("limits.4 a 64-bit length of 2^40 bytes: 1009 from the header alone", () =>
    withClient(server, async ({ client }) => {
      const header = Buffer.from([0x82, 0x80 | 127, 0, 0, 0x01, 0, 0, 0, 0, 0, 1, 2, 3, 4]);
      await client.send(header);
      await expectFailure(client, 1009);
    }));

  test("limits.5 a 64-bit length with the most significant bit set: 1002", () =>
    withClient(server, async ({ client }) => {
      const header = Buffer.from([0x82, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4]);
      await client.send(header);
      await expectFailure(client, 1002);
    }));

  test("limits.6 an unmasked client frame: 1002", () =>
    withClient(server, async ({ client }) => {
      await client.sendFrame(OP_TEXT, "not masked", { mask: false });
      await expectFailure(client, 1002);
    }));

  test(`limits.7 a ${3 * SMALL_FRAME_LIMIT + 1}-byte text reply is fragmented at maxFrameSize on code-point boundaries`, () =>
    withClient(
      server,
      async ({ client }) => {
        // 2-, 3- and 4-byte characters, so that a cut at 1000 bytes would split one.
        const message = `x${"aé€😀".repeat(300)}`;
        const bytes = Buffer.from(message);
        assert.ok(bytes.length > 2 * SMALL_FRAME_LIMIT);
        const frames = [];
        for (let start = 0; start < bytes.length; start += 900) {
          const end = Math.min(start + 900, bytes.length);
          frames.push(buildFrame(start === 0 ? OP_TEXT : OP_CONTINUATION, bytes.subarray(start, end), { fin: end === bytes.length }));
        }
        await client.send(Buffer.concat(frames));
        await closeNormally(client, [text(message)]);
        const data = client.frames.filter((f) => f.opcode !== 0x8);
        assert.ok(data.length >= 3, `expected the reply in several frames, got ${data.length}`);
        let offset = 0;
        data.forEach((frame, i) => {
          assert.equal(frame.opcode, i === 0 ? OP_TEXT : OP_CONTINUATION);
          assert.equal(frame.fin, i === data.length - 1);
          assert.ok(frame.payloadLength <= SMALL_FRAME_LIMIT, `fragment ${i} has ${frame.payloadLength} bytes`);
          assert.ok(isUtf8(bytes.subarray(offset, offset + frame.payloadLength)), `fragment ${i} splits a character`);
          offset += frame.payloadLength;
        });
        assert.equal(offset, bytes.length);
      },
      PATHS.smallFrames,
    ));
});

describe("maxMessageSize", () => {
  const half = SMALL_MESSAGE_LIMIT / 2;

  test(`limits.8 a message of exactly maxMessageSize (${SMALL_MESSAGE_LIMIT} bytes) in 2 fragments, with a ping between, is accepted`, () =>
    withClient(
      server,
      async ({ client }) => {
        await client.send(
          Buffer.concat([
            buildFrame(OP_TEXT, "x".repeat(half), { fin: false }),
            buildFrame(OP_PING, "p".repeat(125)),
            buildFrame(OP_CONTINUATION, "y".repeat(half)),
          ]),
        );
        await closeNormally(client, [pong("p".repeat(125)), text("x".repeat(half) + "y".repeat(half))]);
      },
      PATHS.smallMessages,
    ));

  test("limits.9 a third fragment that takes the message over maxMessageSize: 1009 from its header", () =>
    withClient(
      server,
      async (c) => {
        await c.client.send(Buffer.concat([buildFrame(OP_TEXT, "x".repeat(half), { fin: false }), buildFrame(OP_CONTINUATION, "y".repeat(half), { fin: false })]));
        assert.equal(await c.client.quietFor(50), true, "fragments within the limit are accepted silently");
        await c.client.send(buildFrame(OP_CONTINUATION, "z").subarray(0, maskedHeaderSize(1)));
        await expectFailure(c.client, 1009);
        await assertServerError(c, "PayloadTooLargeError", 1009);
      },
      PATHS.smallMessages,
    ));

  test("limits.10 a single frame over maxMessageSize: 1009 from its header", () =>
    withClient(
      server,
      async ({ client }) => {
        await client.send(buildFrame(OP_BINARY, Buffer.alloc(SMALL_MESSAGE_LIMIT + 1)).subarray(0, maskedHeaderSize(SMALL_MESSAGE_LIMIT + 1)));
        await expectFailure(client, 1009);
      },
      PATHS.smallMessages,
    ));

  test("limits.11 the limit is per message: two messages of maxMessageSize each are both echoed", () =>
    withClient(
      server,
      async ({ client }) => {
        const a = Buffer.alloc(SMALL_MESSAGE_LIMIT, 1);
        const b = Buffer.alloc(SMALL_MESSAGE_LIMIT, 2);
        await client.send(
          Buffer.concat([
            buildFrame(OP_BINARY, a.subarray(0, half), { fin: false }),
            buildFrame(OP_CONTINUATION, a.subarray(half)),
            buildFrame(OP_BINARY, b),
          ]),
        );
        await closeNormally(client, [binary(a), binary(b)]);
      },
      PATHS.smallMessages,
    ));
});
