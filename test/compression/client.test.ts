// permessage-deflate on the client: the offer, every way the server's answer can be wrong,
// and the frames the client sends and takes once compression is agreed.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { constants, deflateRawSync } from "node:zlib";
import { Client, type ClientConfiguration, CorruptedFrameError, InvalidHandshakeError, PayloadTooLargeError } from "../../src/index.ts";
import { rejection, within } from "../client/raw-server.ts";
import {
  type DeflatePeer,
  DeflateTestServer,
  describe as describeEvents,
  FIN,
  OP_BINARY,
  OP_CONTINUATION,
  OP_PING,
  OP_TEXT,
  PAYLOADS,
  RSV1,
  type TestRequest,
  TestDeflater,
  TestInflater,
  termsFromResponse,
} from "./deflate-peer.ts";

const MIB = 1024 * 1024;

let onRequest: (request: TestRequest) => void = () => undefined;
const server = await DeflateTestServer.start((request) => onRequest(request));

/** Connects with `config`; the raw server answers with `answer` (undefined: no extension header). */
async function connect(answer: string | undefined, config: ClientConfiguration = {}, frames: Buffer[] = []): Promise<{ client: Client; peer: DeflatePeer; offer: string | undefined }> {
  let resolvePeer!: (value: { peer: DeflatePeer; offer: string | undefined }) => void;
  const ready = new Promise<{ peer: DeflatePeer; offer: string | undefined }>((resolve) => (resolvePeer = resolve));
  onRequest = (request) => {
    const offer = request.headers["sec-websocket-extensions"];
    resolvePeer({ peer: request.accept(answer, termsFromResponse(answer, offer), { frames }), offer });
  };
  const client = await Client.connect(server.url, config);
  const { peer, offer } = await ready;
  return { client, peer, offer };
}

/** The handshake's failure when the server answers `answer`. */
async function refused(answer: string, config: ClientConfiguration = {}): Promise<InvalidHandshakeError> {
  let socketClosed: Promise<void> | undefined;
  onRequest = (request) => {
    socketClosed = new Promise((resolve) => request.socket.once("close", () => resolve()));
    request.accept(answer);
  };
  const error = await rejection(Client.connect(server.url, config), 3000, "connect");
  assert.ok(error instanceof InvalidHandshakeError, `${error.name}: ${error.message}`);
  // The client hangs up on a server it cannot talk to.
  await within(socketClosed!, 3000, "the client closing TCP");
  return error;
}

describe("client: the offer", () => {
  const cases: [string, ClientConfiguration, string | undefined][] = [
    ["by default", {}, "permessage-deflate; client_max_window_bits"],
    ["webSocketCompressionEnabled: false", { webSocketCompressionEnabled: false }, undefined],
    [
      "with every option",
      { compression: { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 10, clientMaxWindowBits: 11 } },
      "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=11",
    ],
  ];
  for (const [name, config, expected] of cases) {
    test(name, async () => {
      const { client, offer } = await connect(undefined, config);
      assert.equal(offer, expected);
      await client.close(1000);
    });
  }

  test("invalid options fail at connect, before any request", async () => {
    await assert.rejects(Client.connect(server.url, { compression: { clientMaxWindowBits: 7 } }), RangeError);
    await assert.rejects(Client.connect(server.url, { compression: { threshold: -5 } }), RangeError);
  });
});

describe("client: answers that fail the handshake", () => {
  const cases: [string, string, ClientConfiguration, RegExp][] = [
    ["an extension that was not offered", "x-webkit-deflate-frame", {}, /extension "x-webkit-deflate-frame" was not offered/],
    ["permessage-deflate when compression is off", "permessage-deflate", { webSocketCompressionEnabled: false }, /extension "permessage-deflate" was not offered/],
    ["permessage-deflate and another extension", "permessage-deflate, x-foo", {}, /extension "x-foo" was not offered/],
    ["permessage-deflate twice", "permessage-deflate, permessage-deflate", {}, /accepted twice/],
    ["an unknown parameter", "permessage-deflate; max_window_bits=10", {}, /unknown parameter max_window_bits/],
    ["a repeated parameter", "permessage-deflate; client_no_context_takeover; client_no_context_takeover", {}, /repeated parameter client_no_context_takeover/],
    ["a repeated window", "permessage-deflate; server_max_window_bits=10; server_max_window_bits=11", {}, /repeated parameter server_max_window_bits/],
    ["server_max_window_bits=7", "permessage-deflate; server_max_window_bits=7", {}, /invalid server_max_window_bits "7"/],
    ["server_max_window_bits=16", "permessage-deflate; server_max_window_bits=16", {}, /invalid server_max_window_bits "16"/],
    ["server_max_window_bits=08", "permessage-deflate; server_max_window_bits=08", {}, /invalid server_max_window_bits "08"/],
    ["server_max_window_bits without a value", "permessage-deflate; server_max_window_bits", {}, /server_max_window_bits without a value/],
    ["client_max_window_bits without a value", "permessage-deflate; client_max_window_bits", {}, /client_max_window_bits without a value/],
    ["client_max_window_bits=abc", "permessage-deflate; client_max_window_bits=abc", {}, /invalid client_max_window_bits "abc"/],
    ["server_no_context_takeover with a value", "permessage-deflate; server_no_context_takeover=yes", {}, /server_no_context_takeover takes no value/],
    ["server_no_context_takeover offered, not granted", "permessage-deflate", { compression: { serverNoContextTakeover: true } }, /lacks the server_no_context_takeover/],
    ["server_max_window_bits offered, not answered", "permessage-deflate", { compression: { serverMaxWindowBits: 10 } }, /lacks the server_max_window_bits/],
    ["a larger server window than offered", "permessage-deflate; server_max_window_bits=12", { compression: { serverMaxWindowBits: 10 } }, /server_max_window_bits=12, over the 10 offered/],
    ["a larger client window than offered", "permessage-deflate; client_max_window_bits=12", { compression: { clientMaxWindowBits: 10 } }, /client_max_window_bits=12, over the 10 offered/],
    ["a malformed header", "permessage-deflate; ", {}, /malformed Sec-WebSocket-Extensions/],
    ["a malformed header when compression is off", "permessage-deflate;;", { webSocketCompressionEnabled: false }, /malformed Sec-WebSocket-Extensions/],
  ];
  for (const [name, answer, config, message] of cases) {
    test(name, async () => {
      const error = await refused(answer, config);
      assert.match(error.message, /^Invalid handshake response: /);
      assert.match(error.message, message);
      assert.equal(error.status, 101);
    });
  }

  test("a retrying client does not retry a refused answer", async () => {
    let requests = 0;
    onRequest = (request) => {
      requests++;
      request.accept("permessage-deflate; bogus");
    };
    await assert.rejects(Client.connect(server.url, { retryConfig: { maxCount: 3, interval: 0.01 } }), InvalidHandshakeError);
    assert.equal(requests, 1);
  });
});

describe("client: compressed frames out", () => {
  test("no extension in the answer: nothing is compressed", async () => {
    const { client, peer } = await connect(undefined);
    await client.writeTextMessage(PAYLOADS.json(5000).toString());
    const [event] = await peer.take(1);
    assert.ok(event?.type === "text" && !event.compressed && peer.frames[0]!.rsv === 0, describeEvents(peer.events));
    await client.close(1000);
  });

  test("context takeover: each message may refer to the ones before", async () => {
    const { client, peer } = await connect("permessage-deflate");
    const text = PAYLOADS.html(20_000).toString();
    for (let i = 0; i < 3; i++) await client.writeTextMessage(text);
    const events = await peer.take(3);
    assert.ok(events.every((e) => e.type === "text" && e.text === text && e.compressed), describeEvents(events));
    const sizes = events.map((e) => (e.type === "text" ? e.wireBytes : 0));
    assert.ok(sizes[1]! * 4 < sizes[0]!, `wire sizes ${sizes.join(", ")}`);
    await client.close(1000);
  });

  test("client_no_context_takeover: each message inflates on its own", async () => {
    const { client, peer } = await connect("permessage-deflate; client_no_context_takeover");
    const text = PAYLOADS.html(20_000).toString();
    for (let i = 0; i < 3; i++) await client.writeTextMessage(text);
    await peer.take(3);
    const messages = peer.frames.filter((f) => f.opcode === OP_TEXT);
    for (const frame of messages) assert.equal(new TestInflater(true, 15).inflate(frame.payload).toString(), text);
    await client.close(1000);
  });

  test("the client's own clientNoContextTakeover holds even when the server does not repeat it", async () => {
    const { client, peer } = await connect("permessage-deflate", { compression: { clientNoContextTakeover: true } });
    const text = PAYLOADS.html(20_000).toString();
    for (let i = 0; i < 2; i++) await client.writeTextMessage(text);
    await peer.take(2);
    for (const frame of peer.frames.filter((f) => f.opcode === OP_TEXT)) assert.equal(new TestInflater(true, 15).inflate(frame.payload).toString(), text);
    await client.close(1000);
  });

  test("client_max_window_bits=8: Huffman-only, no back-references", async () => {
    const { client, peer } = await connect("permessage-deflate; client_max_window_bits=8");
    await client.writeTextMessage("a".repeat(50_000));
    const [event] = await peer.take(1);
    assert.ok(event?.type === "text" && event.text === "a".repeat(50_000) && event.wireBytes >= 50_000 / 8, describeEvents(peer.events));
    await client.close(1000);
  });

  test("client_max_window_bits=10: a repeat 2000 bytes back is out of reach", async () => {
    const { client, peer } = await connect("permessage-deflate; client_max_window_bits=10");
    const chunk = PAYLOADS.random(2000);
    await client.writeBinaryMessage(Buffer.concat([chunk, chunk]));
    const [event] = await peer.take(1);
    assert.ok(event?.type === "binary" && event.compressed && event.wireBytes > 3900, describeEvents(peer.events));
    await client.close(1000);
  });

  test("the threshold and a compressed message fragmented at maxFrameSize", async () => {
    const { client, peer } = await connect("permessage-deflate", { maxFrameSize: 1000, compression: { threshold: 50 } });
    await client.writeTextMessage("x".repeat(49));
    await client.writeTextMessage("x".repeat(50));
    await client.writeBinaryMessage(PAYLOADS.random(10_000));
    const events = await peer.take(3);
    assert.deepEqual(events.map((e) => (e.type === "text" || e.type === "binary") && e.compressed), [false, true, true]);
    const last = peer.frames.slice(2);
    assert.ok(last.length > 10 && last[0]!.rsv === 4 && last.slice(1).every((f) => f.rsv === 0 && f.opcode === OP_CONTINUATION && f.payload.length <= 1000), "fragments");
    await client.close(1000);
  });

  test("writes then close: the close frame leaves after every compressed message", async () => {
    const { client, peer } = await connect("permessage-deflate");
    const writes = [client.writeTextMessage(PAYLOADS.json(100_000).toString()), client.writeTextMessage("tiny"), client.writeBinaryMessage(PAYLOADS.bitmap(50_000))];
    const closing = client.close(1000, "bye");
    await Promise.all(writes);
    await closing;
    assert.deepEqual(
      peer.events.map((e) => e.type),
      ["text", "text", "binary", "close"],
    );
  });
});

describe("client: compressed frames in", () => {
  const answers: [string, string][] = [
    ["context takeover", "permessage-deflate"],
    ["no context takeover", "permessage-deflate; server_no_context_takeover"],
    ["a 9-bit server window", "permessage-deflate; server_max_window_bits=9"],
  ];
  for (const [name, answer] of answers) {
    test(`${name}: compressed, fragmented and plain messages, read in order`, async () => {
      const { client, peer } = await connect(answer);
      const messages = [PAYLOADS.prose(3000), PAYLOADS.json(100_000), Buffer.from("plain"), PAYLOADS.html(40_000), PAYLOADS.prose(3000)];
      peer.sendText(messages[0]!.toString());
      peer.sendText(messages[1]!.toString(), { fragment: 777 });
      peer.sendText(messages[2]!.toString(), { compress: false });
      peer.sendText(messages[3]!.toString(), { fragment: 1 });
      peer.sendText(messages[4]!.toString());
      for (const message of messages) assert.equal(await within(client.readTextMessage(), 5000, "read"), message.toString());
      await client.close(1000);
    });
  }

  test("a compressed message that comes with the 101", async () => {
    const frames = new TestDeflater(true, 15).compress(Buffer.from("hello hello hello"));
    const { client } = await connect("permessage-deflate", {}, [Buffer.from([FIN | RSV1 | OP_TEXT, frames.length]), frames]);
    assert.equal(await client.readTextMessage(), "hello hello hello");
    await client.close(1000);
  });

  test("a ping behind a large compressed message is answered without anybody reading", async () => {
    const { client, peer } = await connect("permessage-deflate");
    const frames = [...peer.encode(OP_BINARY, PAYLOADS.json(4 * MIB), { fragment: 60_000 }), Buffer.from([FIN | OP_PING, 2, 0x68, 0x69])];
    peer.socket.write(Buffer.concat(frames));
    await peer.until(() => peer.events.some((e) => e.type === "pong"));
    assert.equal((await client.readBinaryMessage()).length, 4 * MIB);
    await client.close(1000);
  });

  const failures: [string, (peer: DeflatePeer) => void, number, new (...args: never[]) => Error][] = [
    ["corrupt data", (peer) => peer.sendFrame(FIN | RSV1 | OP_BINARY, Buffer.from([0xff, 0xff, 0xff])), 1007, CorruptedFrameError],
    [
      "corrupt data, large",
      (peer) => peer.sendFrame(FIN | RSV1 | OP_BINARY, Buffer.concat([deflateRawSync(PAYLOADS.random(30_000), { finishFlush: constants.Z_SYNC_FLUSH }), Buffer.from([0xfe])])),
      1007,
      CorruptedFrameError,
    ],
    ["invalid UTF-8 inflated", (peer) => peer.send(OP_TEXT, Buffer.from([0x61, 0xff, 0x61]), { compress: true }), 1007, CorruptedFrameError],
    ["a bomb over maxMessageSize", (peer) => peer.send(OP_BINARY, Buffer.alloc(3 * MIB), { compress: true }), 1009, PayloadTooLargeError],
    ["RSV1 on a continuation frame", (peer) => {
      peer.sendFrame(OP_TEXT, Buffer.from("a"));
      peer.sendFrame(FIN | RSV1 | OP_CONTINUATION, Buffer.from("b"));
    }, 1002, CorruptedFrameError],
    ["RSV1 on a ping", (peer) => peer.sendFrame(FIN | RSV1 | OP_PING), 1002, CorruptedFrameError],
  ];
  for (const [name, send, code, ErrorClass] of failures) {
    test(`${name}: close ${code}, reads reject with ${ErrorClass.name}`, async () => {
      const { client, peer } = await connect("permessage-deflate", { maxMessageSize: 2 * MIB });
      const read = client.readMessage("binary");
      send(peer);
      const error = await rejection(read, 5000, "read");
      assert.ok(error instanceof ErrorClass, `${error.name}: ${error.message}`);
      assert.equal((await peer.closeEvent()).code, code);
    });
  }

  test("RSV1 without compression agreed: 1002", async () => {
    const { client, peer } = await connect(undefined);
    const read = client.readTextMessage();
    peer.sendFrame(FIN | RSV1 | OP_TEXT, deflateRawSync("x"));
    const error = await rejection(read, 5000, "read");
    assert.ok(error instanceof CorruptedFrameError, error.message);
    assert.equal((await peer.closeEvent()).code, 1002);
  });
});
