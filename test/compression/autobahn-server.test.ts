// Autobahn 12.x and 13.x for the server role: a raw client negotiates permessage-deflate,
// sends compressed messages of each size, and checks every echo bit by bit: RSV1 only on
// the first frame of a compressed message, compressed at and above the threshold, the
// agreed context rules and window, and the content itself.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { startListener } from "../helpers/listener.ts";
import { connectDeflate, describe as describeEvents, PAYLOADS, type PeerEvent, SIZES } from "./deflate-peer.ts";

const MESSAGES = 8;
const THRESHOLD = 1024;

const echo = {
  onTextMessage: (_caller: unknown, text: string) => text,
  onBinaryMessage: (_caller: unknown, data: Uint8Array) => data,
};

const listener = await startListener({
  // ferry's defaults: no context takeover either way.
  "/": { config: { maxFrameSize: 1024 * 1024 }, upgrade: () => echo },
  // Nothing imposed: whatever the client offers, context takeover included.
  "/plain": {
    config: { maxFrameSize: 1024 * 1024, compression: { serverNoContextTakeover: false, clientNoContextTakeover: false } },
    upgrade: () => echo,
  },
  // Replies fragmented at 1000 bytes.
  "/fragments": { config: { maxFrameSize: 1000 }, upgrade: () => echo },
});

async function echoCase(
  path: string,
  offer: string,
  messages: Buffer[],
  options: { binary?: boolean; fragment?: number; expect?: (terms: NonNullable<Awaited<ReturnType<typeof connectDeflate>>["terms"]>) => void } = {},
): Promise<void> {
  const { status, peer, terms } = await connectDeflate(listener.port, path, offer);
  assert.equal(status, 101);
  assert.ok(terms !== undefined, "permessage-deflate was agreed");
  options.expect?.(terms);
  for (const message of messages) {
    if (options.binary) peer.sendBinary(message, { fragment: options.fragment });
    else peer.sendText(message.toString("utf8"), { fragment: options.fragment });
  }
  const events = await peer.take(messages.length, 10_000);
  messages.forEach((message, i) => {
    const event = events[i] as PeerEvent;
    const what = `message ${i} (${message.length} bytes): ${describeEvents([event])}`;
    if (options.binary) {
      assert.equal(event.type, "binary", what);
      assert.ok(event.type === "binary" && event.data.equals(message), `${what} differs`);
    } else {
      assert.equal(event.type, "text", what);
      assert.ok(event.type === "text" && event.text === message.toString("utf8"), `${what} differs`);
    }
    assert.equal((event as { compressed: boolean }).compressed, message.length >= THRESHOLD, `${what}: compressed iff at or over the threshold`);
  });
  peer.sendClose(1000);
  assert.deepEqual(await peer.closeEvent(), { type: "close", code: 1000, reason: "" });
  await peer.waitForTcpClose();
  assert.deepEqual(peer.events.filter((e) => e.type === "violation"), []);
}

/** Autobahn 13.x offers: (no context takeover asked of the server, server window asked). */
const OFFERS_13: [string, string, { s: boolean; bits: number }][] = [
  ["13.1", "permessage-deflate; client_no_context_takeover; client_max_window_bits", { s: false, bits: 15 }],
  ["13.2", "permessage-deflate; client_no_context_takeover; client_max_window_bits; server_no_context_takeover", { s: true, bits: 15 }],
  ["13.3", "permessage-deflate; client_no_context_takeover; client_max_window_bits; server_max_window_bits=8", { s: false, bits: 8 }],
  ["13.4", "permessage-deflate; client_no_context_takeover; client_max_window_bits; server_max_window_bits=15", { s: false, bits: 15 }],
  ["13.5", "permessage-deflate; client_no_context_takeover; client_max_window_bits; server_no_context_takeover; server_max_window_bits=8", { s: true, bits: 8 }],
  ["13.6", "permessage-deflate; client_no_context_takeover; client_max_window_bits; server_no_context_takeover; server_max_window_bits=15", { s: true, bits: 15 }],
  [
    "13.7",
    "permessage-deflate; client_no_context_takeover; client_max_window_bits; server_no_context_takeover; server_max_window_bits=8, " +
      "permessage-deflate; client_no_context_takeover; client_max_window_bits; server_no_context_takeover, " +
      "permessage-deflate; client_no_context_takeover; client_max_window_bits",
    { s: true, bits: 8 },
  ],
];

for (const [path, label] of [["/", "ferry's defaults"], ["/plain", "nothing imposed"]] as const) {
  describe(`server 13.x: compression with each offer (${label})`, () => {
    for (const [id, offer, asked] of OFFERS_13) {
      SIZES.forEach((size, index) => {
        test(`${id}.${index + 1}: ${MESSAGES} text messages of ${size} bytes`, async () => {
          const messages = Array.from({ length: MESSAGES }, (_, i) => PAYLOADS.json(size + (i % 3)).subarray(0, size));
          await echoCase(path, offer, messages, {
            expect: (terms) => {
              assert.equal(terms.serverMaxWindowBits, asked.bits, "server window as asked");
              assert.equal(terms.serverNoContextTakeover, path === "/" || asked.s, "server_no_context_takeover");
              assert.equal(terms.clientNoContextTakeover, true, "client_no_context_takeover (offered)");
            },
          });
        });
      });
    }
  });
}

describe("server 12.x: compression of different payloads (browser offer, context takeover allowed)", () => {
  const kinds = Object.keys(PAYLOADS) as (keyof typeof PAYLOADS)[];
  kinds.forEach((kind, k) => {
    SIZES.forEach((size, index) => {
      const binary = kind === "bitmap" || kind === "random";
      test(`12.${k + 1}.${index + 1}: ${MESSAGES} ${binary ? "binary" : "text"} ${kind} messages of ${size} bytes`, async () => {
        const messages = Array.from({ length: MESSAGES }, (_, i) => {
          const data = Buffer.from(PAYLOADS[kind](size + i * 7));
          // Vary the messages, and keep text valid UTF-8 after cutting it to size.
          return binary ? data.subarray(i * 7, i * 7 + size) : data.subarray(0, size);
        });
        await echoCase("/plain", "permessage-deflate; client_max_window_bits", messages, {
          binary,
          expect: (terms) => assert.deepEqual(terms, { serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 15, clientMaxWindowBits: 15 }),
        });
      });
    });
  });
});

describe("server: fragmented compressed messages", () => {
  for (const fragment of [1, 7, 100, 4096]) {
    test(`inbound, frames of ${fragment} bytes (RSV1 on the first only)`, async () => {
      const messages = [PAYLOADS.prose(5000), PAYLOADS.json(20_000), PAYLOADS.html(1500)];
      await echoCase("/plain", "permessage-deflate", messages, { fragment });
    });
  }

  test("outbound: a compressed reply over maxFrameSize goes in frames of 1000, RSV1 on the first", async () => {
    const { peer } = await connectDeflate(listener.port, "/fragments", "permessage-deflate");
    const message = PAYLOADS.random(30_000);
    peer.sendBinary(message, { fragment: 900 });
    const [event] = await peer.take(1);
    assert.ok(event?.type === "binary" && event.data.equals(message) && event.compressed, describeEvents(peer.events));
    assert.ok(event.frames > 1, `${event.frames} frames`);
    const data = peer.frames.filter((f) => f.opcode < 8);
    assert.equal(data[0]!.rsv, 4);
    assert.ok(data.slice(1).every((f) => f.rsv === 0 && f.opcode === 0 && f.payload.length <= 1000), "continuations: no RSV, at most 1000 bytes");
    assert.deepEqual(peer.events.filter((e) => e.type === "violation"), []);
  });
});
