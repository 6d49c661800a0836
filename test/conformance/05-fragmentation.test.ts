// Autobahn 5.x: fragmentation. Control frames may come between fragments, but may not be
// fragmented themselves; continuation frames need a message to continue; a new data frame may
// not start while a message is in progress.
import assert from "node:assert/strict";
import { test } from "node:test";
import { assertServerError, binary, closeNormally, expectFailure, forEachEcho, pong, text, useEchoServer } from "./harness.ts";
import { buildClose, buildFrame, OP_BINARY, OP_CONTINUATION, OP_PING, OP_PONG, OP_TEXT, type RawClient } from "./raw-client.ts";

const server = useEchoServer();

forEachEcho(server, (echo) => {
  /** How Autobahn puts the frames on the wire: in one write, one write per frame, or byte by byte. */
  type Chopping = "one chop" | "frame-wise chops" | "octet-wise chops";

  function sendAll(client: RawClient, frames: Buffer[], how: Chopping): Promise<void> {
    switch (how) {
      case "one chop":
        return client.send(Buffer.concat(frames));
      case "frame-wise chops":
        return client.sendEach(frames, { delay: 2 });
      case "octet-wise chops":
        return client.sendEach(frames, { chop: 1 });
    }
  }

  test("5.1 ping fragmented into 2 fragments fails with 1002", () =>
    echo.connect(async (c) => {
      await c.client.send(Buffer.concat([buildFrame(OP_PING, "fragment1", { fin: false }), buildFrame(OP_CONTINUATION, "fragment2")]));
      await expectFailure(c.client, 1002);
      await assertServerError(c, "CorruptedFrameError", 1002);
    }));

  test("5.2 pong fragmented into 2 fragments fails with 1002", () =>
    echo.connect(async ({ client }) => {
      await client.send(Buffer.concat([buildFrame(OP_PONG, "fragment1", { fin: false }), buildFrame(OP_CONTINUATION, "fragment2")]));
      await expectFailure(client, 1002);
    }));

  const TWO_FRAGMENTS: [string, Chopping][] = [
    ["5.3", "one chop"],
    ["5.4", "frame-wise chops"],
    ["5.5", "octet-wise chops"],
  ];
  for (const [n, how] of TWO_FRAGMENTS) {
    test(`${n} text message fragmented into 2 fragments, ${how}`, () =>
      echo.connect(async ({ client }) => {
        await sendAll(client, [buildFrame(OP_TEXT, "fragment1", { fin: false }), buildFrame(OP_CONTINUATION, "fragment2")], how);
        await closeNormally(client, [text("fragment1fragment2")]);
      }));
  }

  const PING_BETWEEN: [string, Chopping][] = [
    ["5.6", "one chop"],
    ["5.7", "frame-wise chops"],
    ["5.8", "octet-wise chops"],
  ];
  for (const [n, how] of PING_BETWEEN) {
    test(`${n} text message in 2 fragments with a ping in between, ${how}: pong first, then the message`, () =>
      echo.connect(async ({ client }) => {
        await sendAll(
          client,
          [buildFrame(OP_TEXT, "fragment1", { fin: false }), buildFrame(OP_PING, "ping payload"), buildFrame(OP_CONTINUATION, "fragment2")],
          how,
        );
        await closeNormally(client, [pong("ping payload"), text("fragment1fragment2")]);
      }));
  }

  const NOTHING_TO_CONTINUE: [string, boolean, Chopping][] = [
    ["5.9", true, "one chop"],
    ["5.10", true, "frame-wise chops"],
    ["5.11", true, "octet-wise chops"],
    ["5.12", false, "one chop"],
    ["5.13", false, "frame-wise chops"],
    ["5.14", false, "octet-wise chops"],
  ];
  for (const [n, fin, how] of NOTHING_TO_CONTINUE) {
    test(`${n} continuation without start (FIN = ${fin}), then a text message, ${how}: 1002`, () =>
      echo.connect(async (c) => {
        await sendAll(c.client, [buildFrame(OP_CONTINUATION, "non-continuation payload", { fin }), buildFrame(OP_TEXT, "Hello, world!")], how);
        await expectFailure(c.client, 1002);
        await assertServerError(c, "InvalidContinuationFrameError", 1002);
      }));
  }

  test("5.15 fragmented message, then a continuation with nothing to continue: echo, then 1002", () =>
    echo.connect(async ({ client }) => {
      await client.send(
        Buffer.concat([
          buildFrame(OP_TEXT, "fragment1", { fin: false }),
          buildFrame(OP_CONTINUATION, "fragment2"),
          buildFrame(OP_CONTINUATION, "fragment3", { fin: false }),
          buildFrame(OP_TEXT, "fragment4"),
        ]),
      );
      await expectFailure(client, 1002, [text("fragment1fragment2")], { nonStrict: echo.async ? [] : undefined });
    }));

  for (const [n, fin] of [
    ["5.16", false],
    ["5.17", true],
  ] as const) {
    test(`${n} repeated 2x: continuation (FIN = ${fin}) with nothing to continue, then a fragmented text message: 1002`, () =>
      echo.connect(async ({ client }) => {
        const round = (): Buffer[] => [
          buildFrame(OP_CONTINUATION, "fragment1", { fin }),
          buildFrame(OP_TEXT, "fragment2", { fin: false }),
          buildFrame(OP_CONTINUATION, "fragment3"),
        ];
        await client.send(Buffer.concat([...round(), ...round()]));
        await expectFailure(client, 1002);
      }));
  }

  test("5.18 text message in 2 fragments with both opcodes text: 1002", () =>
    echo.connect(async (c) => {
      await c.client.send(Buffer.concat([buildFrame(OP_TEXT, "fragment1", { fin: false }), buildFrame(OP_TEXT, "fragment2")]));
      await expectFailure(c.client, 1002);
      await assertServerError(c, "InvalidContinuationFrameError", 1002);
    }));

  for (const [n, how] of [
    ["5.19", "one chop"],
    ["5.20", "frame-wise chops"],
  ] as const) {
    test(`${n} fragmented text message with pings between fragments and a pause (${how}): each ping answered at once`, () =>
      echo.connect(async ({ client }) => {
        const fragments = ["fragment1", "fragment2", "fragment3", "fragment4", "fragment5"];
        await sendAll(
          client,
          [buildFrame(OP_TEXT, fragments[0]!, { fin: false }), buildFrame(OP_CONTINUATION, fragments[1]!, { fin: false }), buildFrame(OP_PING, "pongme 1!")],
          how,
        );
        // The first pong must come while the message is still incomplete.
        const first = await client.nextEvent(1000);
        assert.deepEqual(first, pong("pongme 1!"));
        assert.equal(await client.quietFor(100), true, "nothing else may arrive before the message is complete");
        await sendAll(
          client,
          [
            buildFrame(OP_CONTINUATION, fragments[2]!, { fin: false }),
            buildFrame(OP_CONTINUATION, fragments[3]!, { fin: false }),
            buildFrame(OP_PING, "pongme 2!"),
            buildFrame(OP_CONTINUATION, fragments[4]!),
          ],
          how,
        );
        await closeNormally(client, [pong("pongme 2!"), text(fragments.join(""))]);
      }));
  }

  // ---- not in Autobahn, same family ----

  test("5.x binary message in 3 fragments is echoed whole", () =>
    echo.connect(async ({ client }) => {
      const parts = [Buffer.from([0, 1, 2]), Buffer.alloc(0), Buffer.from([0xff, 0xfe])];
      await client.send(
        Buffer.concat([
          buildFrame(OP_BINARY, parts[0]!, { fin: false }),
          buildFrame(OP_CONTINUATION, parts[1]!, { fin: false }),
          buildFrame(OP_CONTINUATION, parts[2]!),
        ]),
      );
      await closeNormally(client, [binary(Buffer.concat(parts))]);
    }));

  test("5.x close frame with FIN = 0 (fragmented control frame): 1002", () =>
    echo.connect(async ({ client }) => {
      const close = buildClose(1000);
      close[0] = close[0]! & 0x7f;
      await client.send(close);
      await expectFailure(client, 1002);
    }));

  test("5.x binary frame while a text message is in progress: 1002", () =>
    echo.connect(async (c) => {
      await c.client.send(Buffer.concat([buildFrame(OP_TEXT, "fragment1", { fin: false }), buildFrame(OP_BINARY, "fragment2")]));
      await expectFailure(c.client, 1002);
      await assertServerError(c, "InvalidContinuationFrameError", 1002);
    }));

  test("5.x continuation after a finished fragmented message: 1002", () =>
    echo.connect(async ({ client }) => {
      await client.send(
        Buffer.concat([buildFrame(OP_TEXT, "fragment1", { fin: false }), buildFrame(OP_CONTINUATION, "fragment2"), buildFrame(OP_CONTINUATION, "fragment3")]),
      );
      await expectFailure(client, 1002, [text("fragment1fragment2")], { nonStrict: echo.async ? [] : undefined });
    }));
});
