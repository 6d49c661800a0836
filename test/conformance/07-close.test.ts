// Autobahn 7.x: the closing handshake. The server echoes the peer's close code (an empty close
// frame when it had none) without a reason, processes nothing after the close frame, and
// closes TCP; an invalid close frame fails the connection with 1002 (1007 for a bad reason).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  assertEvents,
  assertServerClosedTcp,
  assertServerError,
  closeNormally,
  type Connected,
  expectFailure,
  forEachEcho,
  serverClose,
  text,
  useEchoServer,
} from "./harness.ts";
import { buildClose, buildFrame, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_TEXT, type RawClient, type ServerEvent } from "./raw-client.ts";

const server = useEchoServer();

forEachEcho(server, (echo) => {
  /** The server answers our close with `code` (1005: an empty close frame), no reason, then closes TCP. */
  async function expectCloseEcho(client: RawClient, code: number, before: ServerEvent[] = []): Promise<void> {
    const result = await client.untilClose();
    assertEvents(result.before, before);
    assert.equal(result.close.code, code, `expected the close code ${code} echoed, got ${result.close.code}`);
    assert.equal(result.close.reason, "", "the echo carries no reason");
    if (code === 1005) assert.equal(result.close.payloadLength, 0, "an empty close frame is answered with an empty one");
    await assertServerClosedTcp(client);
  }

  async function expectOnClose(c: Connected, code: number, reason: string): Promise<void> {
    assert.deepEqual(await serverClose(c), { code, reason });
  }

  describe("7.1 basic close behaviour", () => {
    test("7.1.1 message followed by a close frame: echo, then clean close 1000", () =>
      echo.connect(async ({ client }) => {
        await client.sendFrame(OP_TEXT, "Hello World!");
        await closeNormally(client, [text("Hello World!")]);
      }));

    if (!echo.async) {
      // Stricter than Autobahn (which closes only after the echo came): with handlers that
      // return at once, the reply is queued before the close frame behind it is read.
      test("7.1.x message and close frame in one write: the echo still precedes the close", () =>
        echo.connect(async ({ client }) => {
          await client.send(Buffer.concat([buildFrame(OP_TEXT, "Hello World!"), buildClose(1000)]));
          await expectCloseEcho(client, 1000, [text("Hello World!")]);
        }));
    }

    test("7.1.2 two close frames: the second is ignored", () =>
      echo.connect(async (c) => {
        await c.client.send(Buffer.concat([buildClose(1000), buildFrame(OP_CLOSE)]));
        await expectCloseEcho(c.client, 1000);
        await expectOnClose(c, 1000, "");
      }));

    test("7.1.3 ping after the close frame: no pong", () =>
      echo.connect(async ({ client }) => {
        await client.send(Buffer.concat([buildClose(1000), buildFrame(OP_PING, "late ping")]));
        await expectCloseEcho(client, 1000);
      }));

    test("7.1.4 text message after the close frame: not echoed", () =>
      echo.connect(async ({ client }) => {
        await client.send(Buffer.concat([buildClose(1000), buildFrame(OP_TEXT, "Hello World!")]));
        await expectCloseEcho(client, 1000);
      }));

    test("7.1.5 first fragment, close frame, last fragment: clean close, no message", () =>
      echo.connect(async ({ client }) => {
        await client.send(
          Buffer.concat([buildFrame(OP_TEXT, "fragment1", { fin: false }), buildClose(1000), buildFrame(OP_CONTINUATION, "fragment2")]),
        );
        await expectCloseEcho(client, 1000);
      }));

    // Informational in Autobahn. With handlers that return at once ferry answers both messages
    // before the close; with async handlers the close may overtake the replies (RFC 6455 §5.5.1
    // allows either), but what does arrive must be in order.
    test(`7.1.6 256 KiB message, small message, close, ping: ${echo.async ? "the echoes that come are in order" : "both echoed in order"} before the close, no pong`, () =>
      echo.connect(async ({ client }) => {
        const big = "BAsd7&jh23".repeat(256 * 1024 / 10 + 1).slice(0, 256 * 1024);
        await client.send(Buffer.concat([buildFrame(OP_TEXT, big), buildFrame(OP_TEXT, "Hello World!"), buildClose(1000), buildFrame(OP_PING)]));
        const expected = [text(big), text("Hello World!")];
        if (!echo.async) {
          await expectCloseEcho(client, 1000, expected);
          return;
        }
        const result = await client.untilClose();
        assertEvents(result.before, expected.slice(0, result.before.length));
        assert.equal(result.close.code, 1000);
        await assertServerClosedTcp(client);
      }));
  });

  describe("7.3 close frame structure", () => {
    test("7.3.1 close with payload length 0: an empty close frame is echoed", () =>
      echo.connect(async (c) => {
        await c.client.sendClose();
        await expectCloseEcho(c.client, 1005);
        await expectOnClose(c, 1005, "");
      }));

    test("7.3.2 close with payload length 1: 1002", () =>
      echo.connect(async (c) => {
        await c.client.sendFrame(OP_CLOSE, "a");
        await expectFailure(c.client, 1002);
        await assertServerError(c, "CorruptedFrameError", 1002);
      }));

    test("7.3.3 close with payload length 2 (code 1000): 1000 echoed", () =>
      echo.connect(async (c) => {
        await c.client.sendClose(1000);
        await expectCloseEcho(c.client, 1000);
        await expectOnClose(c, 1000, "");
      }));

    test("7.3.4 close with code and reason: the code is echoed without the reason", () =>
      echo.connect(async (c) => {
        await c.client.sendClose(1000, "Hello World!");
        await expectCloseEcho(c.client, 1000);
        await expectOnClose(c, 1000, "Hello World!");
      }));

    test("7.3.5 close with a reason of the maximum length (123 bytes): 1000 echoed", () =>
      echo.connect(async (c) => {
        await c.client.sendClose(1000, "*".repeat(123));
        await expectCloseEcho(c.client, 1000);
        await expectOnClose(c, 1000, "*".repeat(123));
      }));

    test("7.3.6 close with a reason of 124 bytes (payload 126 bytes): 1002", () =>
      echo.connect(async ({ client }) => {
        await client.sendClose(1000, "*".repeat(124));
        await expectFailure(client, 1002);
      }));
  });

  describe("7.5 close reason", () => {
    test("7.5.1 close with invalid UTF-8 reason: 1007", () =>
      echo.connect(async (c) => {
        const reason = Buffer.from("cebae1bdb9cf83cebcceb5eda080656469746564", "hex");
        await c.client.sendClose(1000, reason);
        await expectFailure(c.client, 1007);
        await assertServerError(c, "CorruptedFrameError", 1007);
      }));

    // Not in Autobahn: a valid multi-byte reason reaches onClose intact.
    test("7.5.x close with a valid multi-byte UTF-8 reason: 1000 echoed, onClose gets the reason", () =>
      echo.connect(async (c) => {
        await c.client.sendClose(1000, "κόσμε 😀");
        await expectCloseEcho(c.client, 1000);
        await expectOnClose(c, 1000, "κόσμε 😀");
      }));
  });

  describe("7.7 valid close codes are echoed", () => {
    const VALID = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999];
    VALID.forEach((code, i) => {
      test(`7.7.${i + 1} close with valid code ${code}: ${code} echoed`, () =>
        echo.connect(async (c) => {
          await c.client.sendClose(code);
          await expectCloseEcho(c.client, code);
          await expectOnClose(c, code, "");
        }));
    });
    // Not in Autobahn's list: 1012–1014 are IANA-registered since RFC 6455, and ferry accepts them.
    for (const code of [1012, 1013, 1014]) {
      test(`7.7.x close with registered code ${code}: ${code} echoed`, () =>
        echo.connect(async ({ client }) => {
          await client.sendClose(code);
          await expectCloseEcho(client, code);
        }));
    }
  });

  describe("7.9 invalid close codes fail with 1002", () => {
    const INVALID = [0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999];
    INVALID.forEach((code, i) => {
      test(`7.9.${i + 1} close with invalid code ${code}: 1002`, () =>
        echo.connect(async (c) => {
          await c.client.sendClose(code);
          await expectFailure(c.client, 1002);
          await assertServerError(c, "CorruptedFrameError", 1002);
        }));
    });
    test("7.9.x close with reserved code 1015 (TLS handshake failure, never on the wire): 1002", () =>
      echo.connect(async ({ client }) => {
        await client.sendClose(1015);
        await expectFailure(client, 1002);
      }));
    test("7.13.1 close with code 5000: 1002", () =>
      echo.connect(async ({ client }) => {
        await client.sendClose(5000);
        await expectFailure(client, 1002);
      }));
    test("7.13.2 close with code 65535: 1002", () =>
      echo.connect(async ({ client }) => {
        await client.sendClose(65535);
        await expectFailure(client, 1002);
      }));
  });
});
