// Not in Autobahn: SPEC §4 "automatic pongs and the close handshake never wait behind a busy
// handler". A service whose text handler takes its time must not hold back the pong for a
// ping, nor the answer to a close frame, that arrive meanwhile.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Listener } from "../../src/index.ts";
import { buildClose, buildFrame, OP_PING, OP_TEXT, RawClient } from "./raw-client.ts";
import { assertEvents, assertServerClosedTcp, pong, stopWithin, text } from "./harness.ts";

const HANDLER_MS = 400;
let listener: Listener;
let port = 0;

before(async () => {
  listener = new Listener(0, { host: "127.0.0.1" });
  listener.attach("/slow", {
    config: { allowedOrigins: ["*"] },
    upgrade: () => ({
      onTextMessage: async (_caller, message: string) => {
        await new Promise((resolve) => setTimeout(resolve, HANDLER_MS));
        return message;
      },
    }),
  });
  await listener.start();
  port = listener.port;
});

after(() => stopWithin(listener));

test("busy.1 a ping behind a message whose handler is busy is answered at once, the echo follows", async () => {
  const client = await RawClient.connect(port, { path: "/slow" });
  try {
    const started = Date.now();
    await client.send(Buffer.concat([buildFrame(OP_TEXT, "slow"), buildFrame(OP_PING, "now")]));
    assertEvents([await client.nextEvent()], [pong("now")]);
    assert.ok(Date.now() - started < HANDLER_MS / 2, `the pong took ${Date.now() - started} ms`);
    assertEvents([await client.nextEvent()], [text("slow")]);
  } finally {
    client.destroy();
  }
});

test("busy.2 a close frame behind a message whose handler is busy is answered at once", async () => {
  const client = await RawClient.connect(port, { path: "/slow" });
  try {
    const started = Date.now();
    await client.send(Buffer.concat([buildFrame(OP_TEXT, "slow"), buildClose(1000)]));
    const { close } = await client.untilClose();
    assert.equal(close.code, 1000);
    assert.ok(Date.now() - started < HANDLER_MS / 2, `the close echo took ${Date.now() - started} ms`);
    await assertServerClosedTcp(client);
  } finally {
    client.destroy();
  }
});
