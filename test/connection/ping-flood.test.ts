// A peer that pings without reading our pongs: automatic pongs must not grow the write
// buffer without end; reading waits until the socket has taken them.
import assert from "node:assert/strict";
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import type { Socket } from "node:net";
import { describe, test } from "node:test";
import { buildFrame, OP_BINARY, OP_PING, RawClient } from "../conformance/raw-client.ts";
import { startListener } from "../helpers/listener.ts";

const MAX_QUEUED = 64 * 1024;
const FLOOD_BYTES = 32 * 1024 * 1024;

async function polled(condition: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
}

describe("automatic pongs", () => {
  test(`a peer that sends ${FLOOD_BYTES / 1024 / 1024} MiB of pings and reads nothing: the server's unsent bytes stay near maxQueuedBytes`, async () => {
    let messages = 0;
    const listener = await startListener({
      "/": { config: { maxQueuedBytes: MAX_QUEUED }, upgrade: () => ({ onBinaryMessage: () => void messages++ }) },
    });
    const accepted: Socket[] = [];
    const onAccepted = (message: unknown): void => void accepted.push((message as { socket: Socket }).socket);
    subscribe("net.server.socket", onAccepted);
    const client = await RawClient.connect(listener.port);
    unsubscribe("net.server.socket", onAccepted);
    const server = accepted[0]!;
    client.socket.pause();
    const ping = buildFrame(OP_PING, Buffer.alloc(125, 1));
    const flood = Buffer.concat(Array.from({ length: Math.ceil(FLOOD_BYTES / ping.length) }, () => ping));
    client.socket.write(flood);
    let most = 0;
    await polled(() => {
      most = Math.max(most, server.writableLength);
      return client.socket.writableLength === 0;
    }, 3000);
    assert.ok(most < 1024 * 1024, `the server held ${most} unsent bytes of pongs`);
    // Once the peer reads, the pongs leave and the server reads on: a message after the flood arrives.
    client.socket.write(buildFrame(OP_BINARY, "after"));
    client.socket.resume();
    await polled(() => messages === 1, 30_000);
    assert.equal(messages, 1);
    client.destroy();
  });
});
