// Autobahn 12.x and 13.x for the client role: a raw server answers ferry's offer with each
// set of terms, sends compressed messages of each size, and checks every message the client
// echoes back bit by bit (masked, RSV1 only on the first frame of a compressed message,
// compressed at and above the threshold, within the agreed window and context rules).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Client } from "../../src/index.ts";
import { DeflateTestServer, type DeflatePeer, describe as describeEvents, PAYLOADS, SIZES, type Terms, termsFromResponse } from "./deflate-peer.ts";

const MESSAGES = 8;
const THRESHOLD = 1024;
const OFFER = "permessage-deflate; client_max_window_bits";

let pending: ((peer: DeflatePeer) => void) | undefined;
let answer = "permessage-deflate";
const server = await DeflateTestServer.start((request) => {
  assert.equal(request.headers["sec-websocket-extensions"], OFFER);
  const peer = request.accept(answer, termsFromResponse(answer, OFFER));
  pending?.(peer);
});

/** Connects a client that echoes everything, then has the raw server send `messages`. */
async function echoCase(response: string, messages: Buffer[], binary: boolean, expect?: (terms: Terms) => void): Promise<void> {
  answer = response;
  const peerReady = new Promise<DeflatePeer>((resolve) => (pending = resolve));
  const client = await Client.connect(server.url, { maxFrameSize: 1024 * 1024 });
  const peer = await peerReady;
  assert.ok(peer.terms !== undefined, "the raw server agreed to compression");
  expect?.(peer.terms);
  const echoing = (async () => {
    for await (const message of client) await client.writeMessage(message);
  })();
  for (const message of messages) {
    if (binary) peer.sendBinary(message);
    else peer.sendText(message.toString("utf8"));
  }
  const events = await peer.take(messages.length, 10_000);
  messages.forEach((message, i) => {
    const event = events[i]!;
    const what = `message ${i} (${message.length} bytes): ${describeEvents([event])}`;
    if (binary) assert.ok(event.type === "binary" && event.data.equals(message), `${what} differs`);
    else assert.ok(event.type === "text" && event.text === message.toString("utf8"), `${what} differs`);
    assert.equal(event.compressed, message.length >= THRESHOLD, `${what}: compressed iff at or over the threshold`);
  });
  await client.close(1000);
  await echoing;
  assert.deepEqual(peer.events.filter((e) => e.type === "violation"), []);
  assert.ok(peer.frames.every((f) => f.masked), "every client frame is masked");
}

/** Server answers modelled on Autobahn 13.x's parameter sets, seen from the client's side. */
const ANSWERS_13: [string, string, Terms][] = [
  ["13.1", "permessage-deflate", { serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 15, clientMaxWindowBits: 15 }],
  ["13.2", "permessage-deflate; server_no_context_takeover; client_no_context_takeover", { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 15, clientMaxWindowBits: 15 }],
  ["13.3", "permessage-deflate; server_max_window_bits=8; client_max_window_bits=8", { serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 8, clientMaxWindowBits: 8 }],
  ["13.4", "permessage-deflate; server_max_window_bits=15; client_max_window_bits=15", { serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 15, clientMaxWindowBits: 15 }],
  ["13.5", "permessage-deflate; client_no_context_takeover; client_max_window_bits=8", { serverNoContextTakeover: false, clientNoContextTakeover: true, serverMaxWindowBits: 15, clientMaxWindowBits: 8 }],
  ["13.6", "permessage-deflate; server_no_context_takeover; server_max_window_bits=10; client_max_window_bits=12", { serverNoContextTakeover: true, clientNoContextTakeover: false, serverMaxWindowBits: 10, clientMaxWindowBits: 12 }],
  ["13.7", "permessage-deflate;server_max_window_bits=\"9\" ;  client_max_window_bits=9", { serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 9, clientMaxWindowBits: 9 }],
];

describe("client 13.x: compression with each answer", () => {
  for (const [id, response, terms] of ANSWERS_13) {
    SIZES.forEach((size, index) => {
      test(`${id}.${index + 1}: ${MESSAGES} text messages of ${size} bytes, answered "${response}"`, async () => {
        const messages = Array.from({ length: MESSAGES }, (_, i) => PAYLOADS.json(size + (i % 3)).subarray(0, size));
        await echoCase(response, messages, false, (agreed) => assert.deepEqual(agreed, terms));
      });
    });
  }
});

describe("client 12.x: compression of different payloads", () => {
  const kinds = Object.keys(PAYLOADS) as (keyof typeof PAYLOADS)[];
  kinds.forEach((kind, k) => {
    SIZES.forEach((size, index) => {
      const binary = kind === "bitmap" || kind === "random";
      test(`12.${k + 1}.${index + 1}: ${MESSAGES} ${binary ? "binary" : "text"} ${kind} messages of ${size} bytes`, async () => {
        const messages = Array.from({ length: MESSAGES }, (_, i) => {
          const data = Buffer.from(PAYLOADS[kind](size + i * 7));
          return binary ? data.subarray(i * 7, i * 7 + size) : data.subarray(0, size);
        });
        await echoCase("permessage-deflate", messages, binary);
      });
    });
  });
});
