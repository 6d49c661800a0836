// Autobahn 3.x: RSV bits set without a negotiated extension fail the connection with 1002,
// and a message before the bad frame is still echoed. RSV values as in Autobahn: a 3-bit
// number with RSV1 as its high bit (4 = RSV1, 2 = RSV2, 1 = RSV3).
import { test } from "node:test";
import { assertServerError, expectFailure, forEachEcho, text, useEchoServer } from "./harness.ts";
import { buildFrame, OP_BINARY, OP_CLOSE, OP_PING, OP_TEXT } from "./raw-client.ts";

const server = useEchoServer();

forEachEcho(server, (echo) => {
  const HELLO = "Hello, world!";

  test("3.1 small text message with RSV = 1", () =>
    echo.connect(async (c) => {
      await c.client.sendFrame(OP_TEXT, HELLO, { rsv: 1 });
      await expectFailure(c.client, 1002);
      await assertServerError(c, "CorruptedFrameError", 1002);
    }));

  test("3.2 text message, then the same with RSV = 2, then ping: echo, then 1002, no pong", () =>
    echo.connect(async ({ client }) => {
      await client.send(Buffer.concat([buildFrame(OP_TEXT, HELLO), buildFrame(OP_TEXT, HELLO, { rsv: 2 }), buildFrame(OP_PING)]));
      await expectFailure(client, 1002, [text(HELLO)], { nonStrict: echo.async ? [] : undefined });
    }));

  test("3.3 text message, then RSV = 3, then ping, in frame-wise chops: echo, then 1002, no pong", () =>
    echo.connect(async ({ client }) => {
      await client.sendEach([buildFrame(OP_TEXT, HELLO), buildFrame(OP_TEXT, HELLO, { rsv: 3 }), buildFrame(OP_PING)], { delay: 5 });
      await expectFailure(client, 1002, [text(HELLO)], { nonStrict: echo.async ? [] : undefined });
    }));

  test("3.4 text message, then RSV = 4, then ping, in 1-byte chops: echo, then 1002, no pong", () =>
    echo.connect(async ({ client }) => {
      await client.sendFrame(OP_TEXT, HELLO, { chop: 1 });
      await client.sendFrame(OP_TEXT, HELLO, { rsv: 4, chop: 1 });
      await client.sendFrame(OP_PING, "", { chop: 1 });
      await expectFailure(client, 1002, [text(HELLO)], { nonStrict: echo.async ? [] : undefined });
    }));

  test("3.5 small binary message with RSV = 5", () =>
    echo.connect(async ({ client }) => {
      await client.sendFrame(OP_BINARY, Buffer.from([0x00, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0x00, 0xff]), { rsv: 5 });
      await expectFailure(client, 1002);
    }));

  test("3.6 ping with RSV = 6", () =>
    echo.connect(async ({ client }) => {
      await client.sendFrame(OP_PING, HELLO, { rsv: 6 });
      await expectFailure(client, 1002);
    }));

  test("3.7 close with RSV = 7", () =>
    echo.connect(async ({ client }) => {
      await client.sendFrame(OP_CLOSE, "", { rsv: 7 });
      await expectFailure(client, 1002);
    }));
});
