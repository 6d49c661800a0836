// Parsers go back to a process-wide pool: one dropped in the middle of a message (its peer
// reset the connection) must not keep that message's bytes alive there.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Caller } from "../../src/index.ts";
import { buildFragmented, OP_BINARY, OP_PING, RawClient } from "../conformance/raw-client.ts";
import { startListener } from "../helpers/listener.ts";
import { memoryInUse } from "../helpers/memory.ts";

const WAIT_MS = 20_000;
const CONNECTIONS = 8;
const SENT_BYTES = 2 * 1024 * 1024;

describe("parser pool", () => {
  test(`${CONNECTIONS} connections reset halfway through a ${SENT_BYTES}-byte fragmented message leave none of it behind`, async () => {
    let closed = 0;
    const listener = await startListener({
      "/": {
        upgrade: () => ({
          onBinaryMessage(): void {},
          onClose(_caller: Caller): void {
            closed++;
          },
        }),
      },
    });
    const clients = await Promise.all(Array.from({ length: CONNECTIONS }, () => RawClient.connect(listener.port)));
    const before = memoryInUse();
    for (const client of clients) {
      // 4 KiB fragments are copied into the message's buffer; the last (FIN) frame never comes.
      const frames = buildFragmented(OP_BINARY, Buffer.alloc(SENT_BYTES + 4096, 7), 4096).slice(0, -1);
      await client.send(Buffer.concat(frames));
      // The pong says the server has parsed everything sent before the ping.
      await client.sendFrame(OP_PING, "x");
      await client.waitFor(() => client.takeAll().some((event) => event.type === "pong"), "the pong", WAIT_MS);
    }
    for (const client of clients) client.socket.resetAndDestroy();
    const deadline = Date.now() + WAIT_MS;
    while (closed < CONNECTIONS && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(closed, CONNECTIONS);
    const growth = memoryInUse() - before;
    // Kept in the pool, the messages' buffers held about 2 MiB each (their capacity doubled as they filled).
    assert.ok(growth < (CONNECTIONS * SENT_BYTES) / 4, `memory grew by ${growth} bytes after the connections closed`);
  });
});
