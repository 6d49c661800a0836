// Messages held behind a busy handler are bounded by maxQueuedBytes counting what each held
// message costs, not only its payload: a flood of empty messages must also stop the reading.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Caller } from "../../src/index.ts";
import { eventually } from "../client/raw-server.ts";
import { RawClient } from "../conformance/raw-client.ts";
import { delay, startListener } from "../helpers/listener.ts";
import { memoryInUse } from "../helpers/memory.ts";

test("200,000 empty messages behind a busy handler: reading pauses at maxQueuedBytes, and every message is handled once it frees", async () => {
  const count = 200_000;
  let handled = 0;
  let release!: () => void;
  const busy = new Promise<void>((resolve) => (release = resolve));
  const listener = await startListener({
    "/": {
      config: { maxQueuedBytes: 64 * 1024 },
      upgrade: () => ({
        onBinaryMessage(_caller: Caller): Promise<void> | undefined {
          handled++;
          return handled === 1 ? busy : undefined;
        },
      }),
    },
  });
  // Empty masked binary frames with a zero mask key: 6 bytes each.
  const wire = Buffer.alloc(count * 6);
  for (let at = 0; at < wire.length; at += 6) {
    wire[at] = 0x82;
    wire[at + 1] = 0x80;
  }
  const client = await RawClient.connect(listener.port);
  const before = memoryInUse();
  void client.send(wire).catch(() => undefined);
  await eventually(() => handled === 1, 5000, "the first message");
  await delay(500);
  const growth = memoryInUse() - before;
  // Each held message costs about 100 bytes: all of them held would be some 20 MB.
  assert.ok(growth < 4 * 1024 * 1024, `memory grew by ${growth} bytes while the handler was busy`);
  release();
  await eventually(() => handled === count, 20_000, `all ${count} messages (${handled} so far)`);
  client.destroy();
});
