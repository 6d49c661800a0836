// Autobahn 1.x: text and binary messages of the lengths around the 7/16/64-bit length encodings.
import { describe, test } from "node:test";
import { binary, closeNormally, forEachEcho, text, useEchoServer } from "./harness.ts";
import { buildFrame, OP_BINARY, OP_TEXT } from "./raw-client.ts";

const server = useEchoServer();

forEachEcho(server, (echo) => {
  const LENGTHS: [number, number, number | undefined][] = [
    // [case number, payload length, chop size]
    [1, 0, undefined],
    [2, 125, undefined],
    [3, 126, undefined],
    [4, 127, undefined],
    [5, 128, undefined],
    [6, 65535, undefined],
    [7, 65536, undefined],
    [8, 65536, 997],
  ];

  describe("1.1 text messages", () => {
    for (const [n, length, chop] of LENGTHS) {
      const name = `1.1.${n} text message with payload length ${length}${chop === undefined ? "" : `, sent in chops of ${chop} bytes`}`;
      test(name, () =>
        echo.connect(async ({ client }) => {
          const payload = "*".repeat(length);
          await client.sendFrame(OP_TEXT, payload, { chop });
          await closeNormally(client, [text(payload)]);
        }),
      );
    }
  });

  describe("1.2 binary messages", () => {
    for (const [n, length, chop] of LENGTHS) {
      const name = `1.2.${n} binary message with payload length ${length}${chop === undefined ? "" : `, sent in chops of ${chop} bytes`}`;
      test(name, () =>
        echo.connect(async ({ client }) => {
          const payload = Buffer.alloc(length, 0xfe);
          await client.sendFrame(OP_BINARY, payload, { chop });
          await closeNormally(client, [binary(payload)]);
        }),
      );
    }
  });

  // Not in Autobahn: a client may send frames right behind its upgrade request, before the 101.
  test("1.x frames sent in the same write as the upgrade request are processed", () =>
    echo.connect(
      async ({ client }) => {
        await closeNormally(client, [text("early"), binary(Buffer.from([1, 2, 3]))]);
      },
      { early: Buffer.concat([buildFrame(OP_TEXT, "early"), buildFrame(OP_BINARY, Buffer.from([1, 2, 3]))]) },
    ));
});
