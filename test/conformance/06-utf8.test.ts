// Autobahn 6.x: UTF-8 handling of text messages. Invalid UTF-8 fails the connection with
// 1007, and fails it fast: as soon as the invalid byte arrives, not at the end of the message.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { assertServerError, binary, closeNormally, expectFailure, forEachEcho, text, useEchoServer } from "./harness.ts";
import { buildFragmented, buildFrame, maskedHeaderSize, OP_BINARY, OP_CONTINUATION, OP_TEXT } from "./raw-client.ts";
import { KOSME, UTF8_CASES } from "./utf8-cases.ts";

const server = useEchoServer();

forEachEcho(server, (echo) => {
  /** How long a valid prefix must go unanswered, and how long fail-fast may take. */
  const QUIET_MS = 150;
  const FAIL_FAST_MS = 500;

  describe("6.1 empty text messages", () => {
    test("6.1.1 text message of length 0", () =>
      echo.connect(async ({ client }) => {
        await client.sendFrame(OP_TEXT, "");
        await closeNormally(client, [text("")]);
      }));

    test("6.1.2 fragmented text message, 3 fragments each of length 0", () =>
      echo.connect(async ({ client }) => {
        await client.send(
          Buffer.concat([buildFrame(OP_TEXT, "", { fin: false }), buildFrame(OP_CONTINUATION, "", { fin: false }), buildFrame(OP_CONTINUATION, "")]),
        );
        await closeNormally(client, [text("")]);
      }));

    test("6.1.3 fragmented text message, 3 fragments, first and last of length 0", () =>
      echo.connect(async ({ client }) => {
        await client.send(
          Buffer.concat([
            buildFrame(OP_TEXT, "", { fin: false }),
            buildFrame(OP_CONTINUATION, "middle frame payload", { fin: false }),
            buildFrame(OP_CONTINUATION, ""),
          ]),
        );
        await closeNormally(client, [text("middle frame payload")]);
      }));
  });

  describe("6.2 valid UTF-8", () => {
    const PAYLOAD = "Hello-µ@ßöäüàá-UTF-8!!";

    test("6.2.1 valid UTF-8 text message in one fragment", () =>
      echo.connect(async ({ client }) => {
        await client.sendFrame(OP_TEXT, PAYLOAD);
        await closeNormally(client, [text(PAYLOAD)]);
      }));

    test("6.2.2 valid UTF-8 in two fragments, split on a code point boundary", () =>
      echo.connect(async ({ client }) => {
        await client.send(Buffer.concat([buildFrame(OP_TEXT, "Hello-µ@ßöä", { fin: false }), buildFrame(OP_CONTINUATION, "üàá-UTF-8!!")]));
        await closeNormally(client, [text(PAYLOAD)]);
      }));

    test("6.2.3 valid UTF-8 in fragments of 1 byte (fragments end inside code points)", () =>
      echo.connect(async ({ client }) => {
        await client.send(Buffer.concat(buildFragmented(OP_TEXT, PAYLOAD, 1)));
        await closeNormally(client, [text(PAYLOAD)]);
      }));

    test("6.2.4 valid UTF-8 (κόσμε) in fragments of 1 byte", () =>
      echo.connect(async ({ client }) => {
        await client.send(Buffer.concat(buildFragmented(OP_TEXT, KOSME, 1)));
        await closeNormally(client, [text(KOSME.toString("utf8"))]);
      }));
  });

  describe("6.3 invalid UTF-8", () => {
    // Invalid exactly at byte 12 (0xa0: ED A0 80 would be the surrogate U+D800).
    const INVALID = Buffer.concat([KOSME, Buffer.from([0xed, 0xa0, 0x80]), Buffer.from("edited")]);

    test("6.3.1 invalid UTF-8 text message, unfragmented: 1007", () =>
      echo.connect(async (c) => {
        await c.client.sendFrame(OP_TEXT, INVALID);
        await expectFailure(c.client, 1007);
        await assertServerError(c, "CorruptedFrameError", 1007);
      }));

    test("6.3.2 invalid UTF-8 text message in fragments of 1 byte: 1007", () =>
      echo.connect(async ({ client }) => {
        await client.send(Buffer.concat(buildFragmented(OP_TEXT, INVALID, 1)));
        await expectFailure(client, 1007);
      }));
  });

  describe("6.4 fail fast on invalid UTF-8", () => {
    // PART2 is 0x110000 in UTF-8's bit pattern: beyond U+10FFFF, invalid at its second byte (0x90).
    const PART1 = KOSME;
    const PART2 = Buffer.from([0xf4, 0x90, 0x80, 0x80]);
    const PART3 = Buffer.from("edited");
    const PAYLOAD = Buffer.concat([PART1, PART2, PART3]);

    test("6.4.1 three fragments, the second invalid: 1007 before the third is sent", () =>
      echo.connect(async ({ client }) => {
        await client.send(buildFrame(OP_TEXT, PART1, { fin: false }));
        assert.equal(await client.quietFor(QUIET_MS), true, "the valid first fragment must be accepted silently");
        await client.send(buildFrame(OP_CONTINUATION, PART2, { fin: false }));
        await expectFailure(client, 1007, [], { timeoutMs: FAIL_FAST_MS });
      }));

    test("6.4.2 three fragments, the second only the byte that makes it invalid: 1007 before the third", () =>
      echo.connect(async ({ client }) => {
        await client.send(buildFrame(OP_TEXT, PAYLOAD.subarray(0, 12), { fin: false }));
        assert.equal(await client.quietFor(QUIET_MS), true, "the valid first fragment must be accepted silently");
        await client.send(buildFrame(OP_CONTINUATION, PAYLOAD.subarray(12, 13), { fin: false }));
        await expectFailure(client, 1007, [], { timeoutMs: FAIL_FAST_MS });
      }));

    test("6.4.3 one frame in three chops, the second invalid: 1007 before the third chop", () =>
      echo.connect(async ({ client }) => {
        const frame = buildFrame(OP_TEXT, PAYLOAD);
        const header = maskedHeaderSize(PAYLOAD.length);
        await client.send(frame.subarray(0, header + PART1.length));
        assert.equal(await client.quietFor(QUIET_MS), true, "the valid first chop must be accepted silently");
        await client.send(frame.subarray(header + PART1.length, header + PART1.length + PART2.length));
        await expectFailure(client, 1007, [], { timeoutMs: FAIL_FAST_MS });
      }));

    test("6.4.4 one frame in three chops, the second only the byte that makes it invalid: 1007 before the third", () =>
      echo.connect(async ({ client }) => {
        const frame = buildFrame(OP_TEXT, PAYLOAD);
        const header = maskedHeaderSize(PAYLOAD.length);
        await client.send(frame.subarray(0, header + 12));
        assert.equal(await client.quietFor(QUIET_MS), true, "the valid first chop must be accepted silently");
        await client.send(frame.subarray(header + 12, header + 13));
        await expectFailure(client, 1007, [], { timeoutMs: FAIL_FAST_MS });
      }));
  });

  // 6.5–6.23: each sequence of the stress test as one text message in one frame.
  const groups = new Map<string, typeof UTF8_CASES>();
  for (const c of UTF8_CASES) {
    const key = c.id.split(".").slice(0, 2).join(".");
    groups.set(key, [...(groups.get(key) ?? []), c]);
  }
  for (const [key, cases] of groups) {
    describe(`${key} ${cases[0]!.group}`, () => {
      for (const c of cases) {
        const hex = c.bytes.length > 24 ? `${c.bytes.subarray(0, 24).toString("hex")}…` : c.bytes.toString("hex");
        test(`${c.id} ${c.valid ? "valid" : "invalid"} UTF-8 0x${hex}${c.valid ? " is echoed" : ": 1007"}`, () =>
          echo.connect(async ({ client }) => {
            await client.sendFrame(OP_TEXT, c.bytes);
            if (c.valid) await closeNormally(client, [text(c.bytes.toString("utf8"))]);
            else await expectFailure(client, 1007);
          }));
      }
    });
  }

  // ---- not in Autobahn, same family ----

  describe("6.x UTF-8 across fragment and chop boundaries", () => {
    const ASTRAL = "astral 😀🎉𝄞𠜎 chars 🚀";

    test("6.x 4-byte (astral) characters split across fragments of 3 bytes are echoed", () =>
      echo.connect(async ({ client }) => {
        await client.send(Buffer.concat(buildFragmented(OP_TEXT, ASTRAL, 3)));
        await closeNormally(client, [text(ASTRAL)]);
      }));

    test("6.x 4-byte (astral) characters in one frame sent in 1-byte chops are echoed", () =>
      echo.connect(async ({ client }) => {
        await client.sendFrame(OP_TEXT, ASTRAL, { chop: 1 });
        await closeNormally(client, [text(ASTRAL)]);
      }));

    test("6.x fragmented message that ends inside a code point: 1007", () =>
      echo.connect(async ({ client }) => {
        const bytes = Buffer.from("ok 😀");
        await client.send(Buffer.concat(buildFragmented(OP_TEXT, bytes.subarray(0, bytes.length - 1), 2)));
        await expectFailure(client, 1007);
      }));

    test("6.x surrogate split across two fragments (ED | A0 80): 1007", () =>
      echo.connect(async ({ client }) => {
        await client.send(Buffer.concat([buildFrame(OP_TEXT, Buffer.from([0x61, 0xed]), { fin: false }), buildFrame(OP_CONTINUATION, Buffer.from([0xa0, 0x80]))]));
        await expectFailure(client, 1007);
      }));

    test("6.x invalid UTF-8 in a binary message is echoed untouched", () =>
      echo.connect(async ({ client }) => {
        const bytes = Buffer.from([0xed, 0xa0, 0x80, 0xff, 0xc0, 0xaf]);
        await client.sendFrame(OP_BINARY, bytes);
        await closeNormally(client, [binary(bytes)]);
      }));
  });
});
