// Autobahn 2.x: pings and pongs.
import { test } from "node:test";
import { assertServerError, closeNormally, expectFailure, forEachEcho, pong, useEchoServer } from "./harness.ts";
import { buildFrame, OP_PING, OP_PONG } from "./raw-client.ts";

const server = useEchoServer();

forEachEcho(server, (echo) => {
  test("2.1 ping without payload", () =>
    echo.connect(async ({ client }) => {
      await client.sendFrame(OP_PING);
      await closeNormally(client, [pong("")]);
    }));

  test("2.2 ping with small text payload", () =>
    echo.connect(async ({ client }) => {
      await client.sendFrame(OP_PING, "Hello, world!");
      await closeNormally(client, [pong("Hello, world!")]);
    }));

  test("2.3 ping with small binary (non UTF-8) payload", () =>
    echo.connect(async ({ client }) => {
      const payload = Buffer.from([0x00, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0x00, 0xff]);
      await client.sendFrame(OP_PING, payload);
      await closeNormally(client, [pong(payload)]);
    }));

  test("2.4 ping with binary payload of 125 bytes", () =>
    echo.connect(async ({ client }) => {
      const payload = Buffer.alloc(125, 0xfe);
      await client.sendFrame(OP_PING, payload);
      await closeNormally(client, [pong(payload)]);
    }));

  test("2.5 ping with binary payload of 126 bytes fails with 1002", () =>
    echo.connect(async (c) => {
      await c.client.sendFrame(OP_PING, Buffer.alloc(126, 0xfe));
      await expectFailure(c.client, 1002);
      await assertServerError(c, "CorruptedFrameError", 1002);
    }));

  test("2.6 ping with binary payload of 125 bytes, sent in 1-byte chops", () =>
    echo.connect(async ({ client }) => {
      const payload = Buffer.alloc(125, 0xfe);
      await client.sendFrame(OP_PING, payload, { chop: 1 });
      await closeNormally(client, [pong(payload)]);
    }));

  test("2.7 unsolicited pong without payload is ignored", () =>
    echo.connect(async ({ client }) => {
      await client.sendFrame(OP_PONG);
      await closeNormally(client, []);
    }));

  test("2.8 unsolicited pong with payload is ignored", () =>
    echo.connect(async ({ client }) => {
      await client.sendFrame(OP_PONG, "unsolicited pong payload");
      await closeNormally(client, []);
    }));

  test("2.9 unsolicited pong, then ping: only the ping is answered", () =>
    echo.connect(async ({ client }) => {
      await client.sendFrame(OP_PONG, "unsolicited pong payload");
      await client.sendFrame(OP_PING, "ping payload");
      await closeNormally(client, [pong("ping payload")]);
    }));

  test("2.10 ten pings with payload, each answered in order", () =>
    echo.connect(async ({ client }) => {
      const payloads = Array.from({ length: 10 }, (_, i) => `payload-${i}`);
      for (const payload of payloads) await client.sendFrame(OP_PING, payload);
      await closeNormally(client, payloads.map((p) => pong(p)));
    }));

  test("2.11 ten pings with payload, sent in 1-byte chops, each answered in order", () =>
    echo.connect(async ({ client }) => {
      const payloads = Array.from({ length: 10 }, (_, i) => `payload-${i}`);
      for (const payload of payloads) await client.sendFrame(OP_PING, payload, { chop: 1 });
      await closeNormally(client, payloads.map((p) => pong(p)));
    }));

  // Not in Autobahn: many pings in one write, with every payload length 0..125.
  test("2.x pings with every payload length 0..125 in one burst, each answered with its payload", () =>
    echo.connect(async ({ client }) => {
      const payloads = Array.from({ length: 126 }, (_, n) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + n) & 0xff)));
      await client.send(Buffer.concat(payloads.map((p) => buildFrame(OP_PING, p))));
      await closeNormally(client, payloads.map((p) => pong(p)));
    }));
});
