// Autobahn 10.1.1: a message auto-fragmented by the sender is echoed whole. The server may
// fragment its answer differently (at its own maxFrameSize), so whole messages are compared.
import { test } from "node:test";
import { closeNormally, forEachEcho, text, useEchoServer } from "./harness.ts";
import { buildFragmented, OP_TEXT } from "./raw-client.ts";

const server = useEchoServer();

forEachEcho(server, (echo) => {
  test("10.1.1 text message of 64 KiB in fragments of 1300 bytes, echoed whole", () =>
    echo.connect(async ({ client }) => {
      const payload = "*".repeat(65536);
      const frames = buildFragmented(OP_TEXT, payload, 1300);
      await client.sendEach(frames);
      await closeNormally(client, [text(payload)]);
    }));
});
