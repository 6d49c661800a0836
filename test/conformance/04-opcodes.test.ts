// Autobahn 4.x: reserved opcodes fail the connection with 1002; a message before is still echoed.
import { test } from "node:test";
import { assertServerError, expectFailure, forEachEcho, text, useEchoServer } from "./harness.ts";
import { buildFrame, OP_PING, OP_TEXT } from "./raw-client.ts";

const server = useEchoServer();

forEachEcho(server, (echo) => {
  const HELLO = "Hello, world!";

  test("4.1.1 reserved non-control opcode 3", () =>
    echo.connect(async (c) => {
      await c.client.sendFrame(3);
      await expectFailure(c.client, 1002);
      await assertServerError(c, "CorruptedFrameError", 1002);
    }));

  test("4.1.2 reserved non-control opcode 4 with payload", () =>
    echo.connect(async ({ client }) => {
      await client.sendFrame(4, "reserved opcode payload");
      await expectFailure(client, 1002);
    }));

  test("4.1.3 text message, then reserved opcode 5, then ping: echo, then 1002, no pong", () =>
    echo.connect(async ({ client }) => {
      await client.send(Buffer.concat([buildFrame(OP_TEXT, HELLO), buildFrame(5), buildFrame(OP_PING)]));
      await expectFailure(client, 1002, [text(HELLO)], { nonStrict: echo.async ? [] : undefined });
    }));

  test("4.1.4 text message, then reserved opcode 6 with payload, then ping: echo, then 1002, no pong", () =>
    echo.connect(async ({ client }) => {
      await client.send(Buffer.concat([buildFrame(OP_TEXT, HELLO), buildFrame(6, HELLO), buildFrame(OP_PING)]));
      await expectFailure(client, 1002, [text(HELLO)], { nonStrict: echo.async ? [] : undefined });
    }));

  test("4.1.5 text message, then reserved opcode 7 with payload, then ping, in 1-byte chops", () =>
    echo.connect(async ({ client }) => {
      await client.sendFrame(OP_TEXT, HELLO, { chop: 1 });
      await client.sendFrame(7, HELLO, { chop: 1 });
      await client.sendFrame(OP_PING, "", { chop: 1 });
      await expectFailure(client, 1002, [text(HELLO)], { nonStrict: echo.async ? [] : undefined });
    }));

  test("4.2.1 reserved control opcode 11", () =>
    echo.connect(async ({ client }) => {
      await client.sendFrame(11);
      await expectFailure(client, 1002);
    }));

  test("4.2.2 reserved control opcode 12 with payload", () =>
    echo.connect(async ({ client }) => {
      await client.sendFrame(12, "reserved opcode payload");
      await expectFailure(client, 1002);
    }));

  test("4.2.3 text message, then reserved control opcode 13, then ping: echo, then 1002, no pong", () =>
    echo.connect(async ({ client }) => {
      await client.send(Buffer.concat([buildFrame(OP_TEXT, HELLO), buildFrame(13), buildFrame(OP_PING)]));
      await expectFailure(client, 1002, [text(HELLO)], { nonStrict: echo.async ? [] : undefined });
    }));

  test("4.2.4 text message, then reserved control opcode 14 with payload, then ping", () =>
    echo.connect(async ({ client }) => {
      await client.send(Buffer.concat([buildFrame(OP_TEXT, HELLO), buildFrame(14, HELLO), buildFrame(OP_PING)]));
      await expectFailure(client, 1002, [text(HELLO)], { nonStrict: echo.async ? [] : undefined });
    }));

  test("4.2.5 text message, then reserved control opcode 15 with payload, then ping, in 1-byte chops", () =>
    echo.connect(async ({ client }) => {
      await client.sendFrame(OP_TEXT, HELLO, { chop: 1 });
      await client.sendFrame(15, HELLO, { chop: 1 });
      await client.sendFrame(OP_PING, "", { chop: 1 });
      await expectFailure(client, 1002, [text(HELLO)], { nonStrict: echo.async ? [] : undefined });
    }));
});
