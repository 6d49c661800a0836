/**
 * The client's conformance suite, modelled on Autobahn's fuzzingserver cases (the ones a
 * client is put through): a raw node:net server (raw-server.ts) answers the handshake, plays
 * each case by writing crafted frames, and reads the client's frames with FrameParser in role
 * "server" (which rejects unmasked frames). The ferry client echoes every message, as
 * Autobahn's test clients do. Each test is named after the Autobahn case it mirrors; the few
 * with no Autobahn counterpart are named after the RFC 6455 section they check.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  Client,
  type ClientConfiguration,
  ConnectionClosureError,
  CorruptedFrameError,
  InvalidContinuationFrameError,
  PayloadTooLargeError,
  WebSocketError,
} from "../../src/index.ts";
import { encodeClosePayload } from "../../src/protocol/frame-writer.ts";
import { KOSME, UTF8_CASES } from "../conformance/utf8-cases.ts";
import {
  type ClientEvent,
  describeEvent,
  FIN,
  frame,
  OP_BINARY,
  OP_CLOSE,
  OP_CONTINUATION,
  OP_PING,
  OP_PONG,
  OP_TEXT,
  type RawConnection,
  RawServer,
  sleep,
  within,
  WAIT_MS,
  assertInstance,
} from "./raw-server.ts";

const RSV = (bits: number): number => bits << 4;

interface Case {
  conn: RawConnection;
  client: Client;
  /** Settles when the echo loop ends: undefined when iteration ended quietly, else the error. */
  loop: Promise<Error | undefined>;
}

/** The echo client: every message goes back as it came, until the connection ends. */
async function echo(client: Client): Promise<Error | undefined> {
  try {
    for await (const message of client) {
      try {
        await client.writeMessage(message);
      } catch (error) {
        // The server's close was answered at once, before this echo could go out.
        if (!(error instanceof ConnectionClosureError) || client.isOpen()) throw error;
      }
    }
    return undefined;
  } catch (error) {
    return error as Error;
  }
}

async function startCase(config: ClientConfiguration = {}, echoing = true): Promise<Case> {
  const server = await RawServer.start();
  const client = await within(Client.connect(`${server.url}/`, config), WAIT_MS, "connect");
  const conn = await server.connection(0);
  return { conn, client, loop: echoing ? echo(client) : Promise.resolve(undefined) };
}

const text = (value: string): ClientEvent => ({ type: "text", text: value });
const binary = (value: Uint8Array | string): ClientEvent => ({ type: "binary", data: Buffer.from(value as Uint8Array) });
const pong = (value: Uint8Array | string = ""): ClientEvent => ({ type: "pong", data: Buffer.from(value as Uint8Array) });

function bytesOf(event: ClientEvent): Buffer {
  switch (event.type) {
    case "text":
      return Buffer.from(event.text, "utf8");
    case "close":
      return Buffer.from(`${event.code}:${event.reason}`);
    case "error":
      return Buffer.from(event.message);
    default:
      return event.data;
  }
}

function assertEvents(actual: readonly ClientEvent[], expected: readonly ClientEvent[]): void {
  const summary = (events: readonly ClientEvent[]): string => `[${events.map(describeEvent).join(", ")}]`;
  assert.equal(actual.length, expected.length, `expected ${summary(expected)}, got ${summary(actual)}`);
  for (let i = 0; i < expected.length; i++) {
    assert.equal(actual[i]!.type, expected[i]!.type, `event ${i}: expected ${summary(expected)}, got ${summary(actual)}`);
    assert.ok(bytesOf(actual[i]!).equals(bytesOf(expected[i]!)), `event ${i}: expected ${summary(expected)}, got ${summary(actual)}`);
  }
}

/** Every frame the client sent was masked, with RSV clear, and no two frames shared a key. */
function assertMaskedFrames(conn: RawConnection): void {
  assert.ok(conn.frames.length > 0, "the client sent no frame");
  const keys = new Set<string>();
  for (const f of conn.frames) {
    assert.equal(f.masked, true, "a client frame is not masked");
    assert.equal(f.rsv, 0, "a client frame has RSV bits set");
    keys.add(f.maskKey!.toString("hex"));
  }
  assert.equal(keys.size, conn.frames.length, "two client frames share a masking key");
}

/**
 * Autobahn's clean close after an echo case: once the client sent `expected` (and nothing
 * more within a short grace period), the server closes with 1000, which the client echoes;
 * TCP closes; iteration ended quietly.
 */
async function closeNormally(c: Case, expected: readonly ClientEvent[]): Promise<void> {
  await c.conn.until(() => c.conn.events.length >= expected.length, WAIT_MS, `${expected.length} events`);
  await sleep(20);
  const close = await c.conn.closeHandshake(1000);
  assertEvents(c.conn.events.slice(0, -1), expected);
  assert.equal(close.code, 1000);
  assert.equal(close.reason, "");
  await c.conn.waitForTcpClose();
  assert.equal(await within(c.loop, WAIT_MS, "the echo loop"), undefined, "iteration should end quietly at the close frame");
  assertMaskedFrames(c.conn);
  assert.equal(c.conn.frames.at(-1)!.opcode, OP_CLOSE, "the client sent frames after its close frame");
}

/**
 * Autobahn's "the client fails the connection": it sends exactly `expected`, then a close
 * frame with `code`, nothing after it, and TCP closes. The echo loop ends with the typed error.
 */
async function expectFailure(c: Case, code: number, expected: readonly ClientEvent[] = [], errorClass: typeof WebSocketError = CorruptedFrameError): Promise<void> {
  const { before, close } = await c.conn.closeFromClient();
  assertEvents(before, expected);
  assert.equal(close.code, code, `expected the client to fail with ${code}, got ${close.code} ${JSON.stringify(close.reason)}`);
  await c.conn.waitForTcpClose();
  const error = await within(c.loop, WAIT_MS, "the echo loop");
  assert.ok(error instanceof errorClass, `expected ${errorClass.name}, got ${String(error)}`);
  assert.equal((error as WebSocketError).closeCode, code);
  assert.equal(c.conn.frames.at(-1)!.opcode, OP_CLOSE, "the client sent frames after its close frame");
  assertMaskedFrames(c.conn);
}

/** Bytes of a text message split into frames of `size` bytes (the split may cut code points). */
function fragments(opcode: number, payload: Buffer, size: number): Buffer[] {
  const frames: Buffer[] = [];
  for (let at = 0; at < payload.length || frames.length === 0; at += size) {
    const last = at + size >= payload.length;
    frames.push(frame((last ? FIN : 0) | (at === 0 ? opcode : OP_CONTINUATION), payload.subarray(at, at + size)));
  }
  return frames;
}

describe("client 1 framing", () => {
  const lengths = [0, 125, 126, 127, 128, 65535, 65536];
  lengths.forEach((length, i) => {
    test(`client 1.1.${i + 1} text message with payload of length ${length}`, async () => {
      const c = await startCase();
      const payload = "*".repeat(length);
      c.conn.sendText(payload);
      await closeNormally(c, [text(payload)]);
    });
  });
  test("client 1.1.8 text message of length 65535 written in chops of 997 bytes", async () => {
    const c = await startCase();
    const payload = "*".repeat(65535);
    await c.conn.writeChopped(frame(FIN | OP_TEXT, payload), 997);
    await closeNormally(c, [text(payload)]);
  });
  lengths.forEach((length, i) => {
    test(`client 1.2.${i + 1} binary message with payload of length ${length}`, async () => {
      const c = await startCase();
      const payload = Buffer.alloc(length, 0xfe);
      c.conn.sendBinary(payload);
      await closeNormally(c, [binary(payload)]);
    });
  });
  test("client 1.2.8 binary message of length 65535 written in chops of 997 bytes", async () => {
    const c = await startCase();
    const payload = Buffer.alloc(65535, 0xfe);
    await c.conn.writeChopped(frame(FIN | OP_BINARY, payload), 997);
    await closeNormally(c, [binary(payload)]);
  });

  test("client RFC 6455 §5.3: every frame is masked, each with a fresh key", async () => {
    const c = await startCase();
    const expected: ClientEvent[] = [];
    for (let i = 0; i < 50; i++) {
      const payload = `message ${i} ${"x".repeat(i * 3)}`;
      c.conn.sendText(payload);
      expected.push(text(payload));
      c.conn.sendPing(`p${i}`);
      expected.push(pong(`p${i}`));
    }
    // Pongs go out as the pings are read, echoes when the loop gets to them: compare per kind.
    await c.conn.until(() => c.conn.events.length >= expected.length, WAIT_MS, "every echo and pong");
    assertEvents(c.conn.events.filter((e) => e.type === "text"), expected.filter((e) => e.type === "text"));
    assertEvents(c.conn.events.filter((e) => e.type === "pong"), expected.filter((e) => e.type === "pong"));
    await c.conn.closeHandshake(1000);
    assert.equal(c.conn.frames.length, 101);
    assertMaskedFrames(c.conn);
    // The key really is applied: the bytes on the wire are not the plain text.
    const first = c.conn.frames[0]!;
    assert.notDeepEqual(first.maskKey, Buffer.alloc(4), "an all-zero mask leaves the payload in clear");
  });

  test("client RFC 6455 §5.1: a masked frame from the server fails the connection with 1002", async () => {
    const c = await startCase();
    c.conn.sendFrame(FIN | OP_TEXT, "masked", { maskKey: Buffer.from([1, 2, 3, 4]) });
    await expectFailure(c, 1002);
  });
});

describe("client 2 pings and pongs", () => {
  test("client 2.1 ping without payload", async () => {
    const c = await startCase();
    c.conn.sendPing();
    await closeNormally(c, [pong()]);
  });
  test("client 2.2 ping with a small text payload", async () => {
    const c = await startCase();
    c.conn.sendPing("Hello, world!");
    await closeNormally(c, [pong("Hello, world!")]);
  });
  test("client 2.3 ping with a small binary payload", async () => {
    const c = await startCase();
    const payload = Buffer.from([0x00, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0x00, 0xff]);
    c.conn.sendPing(payload);
    await closeNormally(c, [pong(payload)]);
  });
  test("client 2.4 ping with a binary payload of 125 bytes", async () => {
    const c = await startCase();
    const payload = Buffer.alloc(125, 0xfe);
    c.conn.sendPing(payload);
    await closeNormally(c, [pong(payload)]);
  });
  test("client 2.5 ping with a binary payload of 126 bytes fails with 1002", async () => {
    const c = await startCase();
    c.conn.sendPing(Buffer.alloc(126, 0xfe));
    await expectFailure(c, 1002);
  });
  test("client 2.6 ping with a 125-byte payload written one byte at a time", async () => {
    const c = await startCase();
    const payload = Buffer.alloc(125, 0xfe);
    await c.conn.writeChopped(frame(FIN | OP_PING, payload), 1);
    await closeNormally(c, [pong(payload)]);
  });
  test("client 2.7 unsolicited pong without payload: nothing in return", async () => {
    const c = await startCase();
    c.conn.sendPong();
    await closeNormally(c, []);
  });
  test("client 2.8 unsolicited pong with payload: nothing in return", async () => {
    const c = await startCase();
    c.conn.sendPong("unsolicited pong payload");
    await closeNormally(c, []);
  });
  test("client 2.9 unsolicited pong, then a ping: only the ping is answered", async () => {
    const c = await startCase();
    c.conn.sendPong("unsolicited pong payload");
    c.conn.sendPing("ping payload");
    await closeNormally(c, [pong("ping payload")]);
  });
  test("client 2.10 ten pings are answered with ten pongs, in order", async () => {
    const c = await startCase();
    const expected: ClientEvent[] = [];
    for (let i = 0; i < 10; i++) {
      c.conn.sendPing(`payload-${i}`);
      expected.push(pong(`payload-${i}`));
    }
    await closeNormally(c, expected);
  });
  test("client 2.11 ten pings written one byte at a time", async () => {
    const c = await startCase();
    const expected: ClientEvent[] = [];
    const bytes: Buffer[] = [];
    for (let i = 0; i < 10; i++) {
      bytes.push(frame(FIN | OP_PING, `payload-${i}`));
      expected.push(pong(`payload-${i}`));
    }
    await c.conn.writeChopped(Buffer.concat(bytes), 1);
    await closeNormally(c, expected);
  });
  test("client 2.x pings are answered while nobody reads", async () => {
    const c = await startCase({}, false);
    c.conn.sendPing("no reader");
    assertEvents([await c.conn.event(0)], [pong("no reader")]);
    c.conn.sendText("still here");
    assert.equal(await within(c.client.readTextMessage()), "still here");
    await c.client.close(1000, "", 2);
  });
});

describe("client 3 reserved bits", () => {
  test("client 3.1 text message with RSV = 1 fails with 1002", async () => {
    const c = await startCase();
    c.conn.sendFrame(FIN | RSV(1) | OP_TEXT, "Hello, world!");
    await expectFailure(c, 1002);
  });
  for (const [id, rsv] of [
    ["3.2", 2],
    ["3.3", 3],
  ] as const) {
    test(`client ${id} text echoed, then a text message with RSV = ${rsv} and a ping: fails with 1002, no pong`, async () => {
      const c = await startCase();
      c.conn.sendText("Hello, world!");
      await c.conn.event(0);
      c.conn.write(Buffer.concat([frame(FIN | RSV(rsv) | OP_TEXT, "Hello, world!"), frame(FIN | OP_PING, "")]));
      await expectFailure(c, 1002, [text("Hello, world!")]);
    });
  }
  test("client 3.4 text echoed, then RSV = 4 (RSV1, no extension negotiated) and a ping written byte by byte", async () => {
    const c = await startCase();
    c.conn.sendText("Hello, world!");
    await c.conn.event(0);
    await c.conn.writeChopped(Buffer.concat([frame(FIN | RSV(4) | OP_TEXT, "Hello, world!"), frame(FIN | OP_PING, "")]), 1);
    await expectFailure(c, 1002, [text("Hello, world!")]);
  });
  test("client 3.5 binary message with RSV = 5 fails with 1002", async () => {
    const c = await startCase();
    c.conn.sendFrame(FIN | RSV(5) | OP_BINARY, Buffer.from([0, 1, 2]));
    await expectFailure(c, 1002);
  });
  test("client 3.6 ping with RSV = 6 fails with 1002, unanswered", async () => {
    const c = await startCase();
    c.conn.sendFrame(FIN | RSV(6) | OP_PING, "Hello, world!");
    await expectFailure(c, 1002);
  });
  test("client 3.7 close with RSV = 7 fails with 1002", async () => {
    const c = await startCase();
    c.conn.answerClose = false;
    c.conn.sendFrame(FIN | RSV(7) | OP_CLOSE, encodeClosePayload(1000));
    const { close } = await c.conn.closeFromClient();
    assert.equal(close.code, 1002);
    c.conn.end();
    assertInstance((await within(c.loop)), CorruptedFrameError);
  });
});

describe("client 4 opcodes", () => {
  for (const [id, opcode, payload] of [
    ["4.1.1", 3, ""],
    ["4.1.2", 4, "reserved opcode payload"],
    ["4.1.4", 6, "reserved opcode payload"],
    ["4.1.5", 7, "reserved opcode payload"],
    ["4.2.1", 11, ""],
    ["4.2.2", 12, "reserved opcode payload"],
    ["4.2.4", 14, "reserved opcode payload"],
    ["4.2.5", 15, "reserved opcode payload"],
  ] as const) {
    test(`client ${id} frame with reserved ${opcode < 8 ? "non-control" : "control"} opcode ${opcode} fails with 1002`, async () => {
      const c = await startCase();
      c.conn.sendFrame(FIN | opcode, payload);
      await expectFailure(c, 1002);
    });
  }
  for (const [id, opcode] of [
    ["4.1.3", 5],
    ["4.2.3", 13],
  ] as const) {
    test(`client ${id} text echoed, then reserved opcode ${opcode} and a ping: fails with 1002, no pong`, async () => {
      const c = await startCase();
      c.conn.sendText("Hello, world!");
      await c.conn.event(0);
      c.conn.write(Buffer.concat([frame(FIN | opcode, ""), frame(FIN | OP_PING, "")]));
      await expectFailure(c, 1002, [text("Hello, world!")]);
    });
  }
});

describe("client 5 fragmentation", () => {
  test("client 5.1 ping in two fragments fails with 1002", async () => {
    const c = await startCase();
    c.conn.write(Buffer.concat([frame(OP_PING, "fragment1"), frame(FIN | OP_CONTINUATION, "fragment2")]));
    await expectFailure(c, 1002);
  });
  test("client 5.2 pong in two fragments fails with 1002", async () => {
    const c = await startCase();
    c.conn.write(Buffer.concat([frame(OP_PONG, "fragment1"), frame(FIN | OP_CONTINUATION, "fragment2")]));
    await expectFailure(c, 1002);
  });
  test("client 5.3 text message in two fragments", async () => {
    const c = await startCase();
    c.conn.write(Buffer.concat([frame(OP_TEXT, "fragment1"), frame(FIN | OP_CONTINUATION, "fragment2")]));
    await closeNormally(c, [text("fragment1fragment2")]);
  });
  test("client 5.5 text message in two fragments written one byte at a time", async () => {
    const c = await startCase();
    await c.conn.writeChopped(Buffer.concat([frame(OP_TEXT, "fragment1"), frame(FIN | OP_CONTINUATION, "fragment2")]), 1);
    await closeNormally(c, [text("fragment1fragment2")]);
  });
  test("client 5.6 text message in two fragments with a ping in between: pong, then the echo", async () => {
    const c = await startCase();
    c.conn.write(Buffer.concat([frame(OP_TEXT, "fragment1"), frame(FIN | OP_PING, "pongme!"), frame(FIN | OP_CONTINUATION, "fragment2")]));
    await closeNormally(c, [pong("pongme!"), text("fragment1fragment2")]);
  });
  test("client 5.7 the same, written one byte at a time", async () => {
    const c = await startCase();
    await c.conn.writeChopped(
      Buffer.concat([frame(OP_TEXT, "fragment1"), frame(FIN | OP_PING, "pongme!"), frame(FIN | OP_CONTINUATION, "fragment2")]),
      1,
    );
    await closeNormally(c, [pong("pongme!"), text("fragment1fragment2")]);
  });
  test("client 5.8 the same, with a pause between the frames: the pong goes out before the message is complete", async () => {
    const c = await startCase();
    c.conn.sendFrame(OP_TEXT, "fragment1");
    await sleep(50);
    c.conn.sendPing("pongme!");
    assertEvents([await c.conn.event(0)], [pong("pongme!")]);
    c.conn.sendFrame(FIN | OP_CONTINUATION, "fragment2");
    await closeNormally(c, [pong("pongme!"), text("fragment1fragment2")]);
  });
  test("client 5.9 continuation with FIN and nothing to continue fails with 1002", async () => {
    const c = await startCase();
    c.conn.write(Buffer.concat([frame(FIN | OP_CONTINUATION, "non-continuation payload"), frame(FIN | OP_TEXT, "Hello, world!")]));
    await expectFailure(c, 1002, [], InvalidContinuationFrameError);
  });
  test("client 5.10 the same, written one byte at a time", async () => {
    const c = await startCase();
    await c.conn.writeChopped(Buffer.concat([frame(FIN | OP_CONTINUATION, "non-continuation payload"), frame(FIN | OP_TEXT, "Hello, world!")]), 1);
    await expectFailure(c, 1002, [], InvalidContinuationFrameError);
  });
  test("client 5.12 continuation without FIN and nothing to continue fails with 1002", async () => {
    const c = await startCase();
    c.conn.write(Buffer.concat([frame(OP_CONTINUATION, "non-continuation payload"), frame(FIN | OP_TEXT, "Hello, world!")]));
    await expectFailure(c, 1002, [], InvalidContinuationFrameError);
  });
  test("client 5.15 a whole fragmented message, then a continuation that starts nothing, then text: echo, then 1002", async () => {
    const c = await startCase();
    c.conn.write(Buffer.concat([frame(OP_TEXT, "fragment1"), frame(FIN | OP_CONTINUATION, "fragment2")]));
    await c.conn.event(0);
    c.conn.write(Buffer.concat([frame(OP_CONTINUATION, "fragment3"), frame(FIN | OP_TEXT, "fragment4")]));
    await expectFailure(c, 1002, [text("fragment1fragment2")], InvalidContinuationFrameError);
  });
  test("client 5.16 continuations around a fragmented text message fail with 1002 at the first", async () => {
    const c = await startCase();
    const round = [frame(OP_CONTINUATION, "fragment1"), frame(OP_TEXT, "fragment2"), frame(FIN | OP_CONTINUATION, "fragment3")];
    c.conn.write(Buffer.concat([...round, ...round]));
    await expectFailure(c, 1002, [], InvalidContinuationFrameError);
  });
  test("client 5.18 a new text frame while a fragmented message is in progress fails with 1002", async () => {
    const c = await startCase();
    c.conn.write(Buffer.concat([frame(OP_TEXT, "fragment1"), frame(FIN | OP_TEXT, "fragment2")]));
    await expectFailure(c, 1002, [], InvalidContinuationFrameError);
  });
  test("client 5.19 five fragments with pings in between and pauses: each ping answered at once, then the echo", async () => {
    const c = await startCase();
    c.conn.write(Buffer.concat([frame(OP_TEXT, "fragment1"), frame(OP_CONTINUATION, "fragment2"), frame(FIN | OP_PING, "pongme 1!")]));
    assertEvents([await c.conn.event(0)], [pong("pongme 1!")]);
    await sleep(50);
    c.conn.write(
      Buffer.concat([frame(OP_CONTINUATION, "fragment3"), frame(FIN | OP_PING, "pongme 2!"), frame(OP_CONTINUATION, "fragment4")]),
    );
    assertEvents([await c.conn.event(1)], [pong("pongme 2!")]);
    await sleep(50);
    c.conn.sendFrame(FIN | OP_CONTINUATION, "fragment5");
    await closeNormally(c, [pong("pongme 1!"), pong("pongme 2!"), text("fragment1fragment2fragment3fragment4fragment5")]);
  });
  test("client 5.20 the same, written one byte at a time", async () => {
    const c = await startCase();
    await c.conn.writeChopped(
      Buffer.concat([
        frame(OP_TEXT, "fragment1"),
        frame(OP_CONTINUATION, "fragment2"),
        frame(FIN | OP_PING, "pongme 1!"),
        frame(OP_CONTINUATION, "fragment3"),
        frame(FIN | OP_PING, "pongme 2!"),
        frame(OP_CONTINUATION, "fragment4"),
        frame(FIN | OP_CONTINUATION, "fragment5"),
      ]),
      1,
    );
    await closeNormally(c, [pong("pongme 1!"), pong("pongme 2!"), text("fragment1fragment2fragment3fragment4fragment5")]);
  });
  test("client 5.x fragments with a ping between them, while nobody reads: pong at once, message intact later", async () => {
    const c = await startCase({}, false);
    c.conn.sendFrame(OP_TEXT, "frag-a ");
    c.conn.sendPing("while idle");
    assertEvents([await c.conn.event(0)], [pong("while idle")]);
    c.conn.sendFrame(FIN | OP_CONTINUATION, "frag-b");
    await sleep(20);
    assert.equal(await within(c.client.readTextMessage()), "frag-a frag-b");
    assert.equal(c.conn.events.length, 1, "nothing but the pong went out");
    await c.client.close(1000, "", 2);
  });
});

describe("client 6 UTF-8", () => {
  const PAYLOAD = "Hello-µ@ßöäüàá-UTF-8!!";
  test("client 6.1.1 text message of length 0", async () => {
    const c = await startCase();
    c.conn.sendText("");
    await closeNormally(c, [text("")]);
  });
  test("client 6.1.2 three empty fragments", async () => {
    const c = await startCase();
    c.conn.write(Buffer.concat([frame(OP_TEXT, ""), frame(OP_CONTINUATION, ""), frame(FIN | OP_CONTINUATION, "")]));
    await closeNormally(c, [text("")]);
  });
  test("client 6.1.3 three fragments, first and last empty", async () => {
    const c = await startCase();
    c.conn.write(Buffer.concat([frame(OP_TEXT, ""), frame(OP_CONTINUATION, "middle frame payload"), frame(FIN | OP_CONTINUATION, "")]));
    await closeNormally(c, [text("middle frame payload")]);
  });
  test("client 6.2.1 valid UTF-8 in one frame", async () => {
    const c = await startCase();
    c.conn.sendText(PAYLOAD);
    await closeNormally(c, [text(PAYLOAD)]);
  });
  test("client 6.2.2 valid UTF-8 in two fragments split on a code point boundary", async () => {
    const c = await startCase();
    c.conn.write(Buffer.concat([frame(OP_TEXT, "Hello-µ@ßöä"), frame(FIN | OP_CONTINUATION, "üàá-UTF-8!!")]));
    await closeNormally(c, [text(PAYLOAD)]);
  });
  test("client 6.2.3 valid UTF-8 in fragments of one byte (cutting code points)", async () => {
    const c = await startCase();
    c.conn.write(Buffer.concat(fragments(OP_TEXT, Buffer.from(PAYLOAD), 1)));
    await closeNormally(c, [text(PAYLOAD)]);
  });
  test("client 6.2.4 κόσμε in fragments of one byte", async () => {
    const c = await startCase();
    c.conn.write(Buffer.concat(fragments(OP_TEXT, KOSME, 1)));
    await closeNormally(c, [text(KOSME.toString("utf8"))]);
  });
  const INVALID = Buffer.concat([KOSME, Buffer.from("eda080", "hex"), Buffer.from("edited")]);
  test("client 6.3.1 invalid UTF-8 in one frame fails with 1007", async () => {
    const c = await startCase();
    c.conn.sendFrame(FIN | OP_TEXT, INVALID);
    await expectFailure(c, 1007);
  });
  test("client 6.3.2 invalid UTF-8 in fragments of one byte fails with 1007", async () => {
    const c = await startCase();
    c.conn.write(Buffer.concat(fragments(OP_TEXT, INVALID, 1)));
    await expectFailure(c, 1007);
  });

  /** Fail fast: the close must come while the rest of the message is still held back. */
  async function failsFast(c: Case, sendRest: () => void): Promise<void> {
    const { close } = await c.conn.closeFromClient(1000);
    assert.equal(close.code, 1007);
    sendRest();
    await c.conn.waitForTcpClose();
    assertInstance((await within(c.loop)), CorruptedFrameError);
  }
  test("client 6.4.1 fail fast: the invalid second fragment closes 1007 before the third is sent", async () => {
    const c = await startCase();
    c.conn.write(Buffer.concat([frame(OP_TEXT, KOSME), frame(OP_CONTINUATION, Buffer.from("f4908080", "hex"))]));
    await failsFast(c, () => c.conn.sendFrame(FIN | OP_CONTINUATION, "edited"));
  });
  test("client 6.4.2 fail fast: a second fragment that makes a code point invalid", async () => {
    const c = await startCase();
    c.conn.write(Buffer.concat([frame(OP_TEXT, Buffer.concat([KOSME, Buffer.from("f4", "hex")])), frame(OP_CONTINUATION, Buffer.from("90", "hex"))]));
    await failsFast(c, () => c.conn.sendFrame(FIN | OP_CONTINUATION, Buffer.concat([Buffer.from("8080", "hex"), Buffer.from("edited")])));
  });
  test("client 6.4.3 fail fast within one frame: the chunk with the invalid byte closes 1007 before the rest arrives", async () => {
    const c = await startCase();
    const bytes = frame(FIN | OP_TEXT, Buffer.concat([KOSME, Buffer.from("f4908080", "hex"), Buffer.from("edited")]));
    const cut = 2 + KOSME.length;
    c.conn.write(bytes.subarray(0, cut));
    await sleep(20);
    c.conn.write(bytes.subarray(cut, cut + 4));
    await failsFast(c, () => c.conn.write(bytes.subarray(cut + 4)));
  });
  test("client 6.4.4 fail fast within one frame, the invalid byte arriving on its own", async () => {
    const c = await startCase();
    const bytes = frame(FIN | OP_TEXT, Buffer.concat([KOSME, Buffer.from("f4908080", "hex"), Buffer.from("edited")]));
    const cut = 2 + KOSME.length;
    c.conn.write(bytes.subarray(0, cut + 1));
    await sleep(20);
    c.conn.write(bytes.subarray(cut + 1, cut + 2));
    await failsFast(c, () => c.conn.write(bytes.subarray(cut + 2)));
  });

  describe("client 6.5–6.23 UTF-8 sequences, whole and in one-byte fragments", { concurrency: 8 }, () => {
    for (const utf8 of UTF8_CASES) {
      test(`client ${utf8.id} ${utf8.valid ? "valid" : "invalid"}: ${utf8.bytes.toString("hex").slice(0, 48)}`, async () => {
        const c = await startCase();
        c.conn.write(Buffer.concat([frame(FIN | OP_TEXT, utf8.bytes)]));
        if (utf8.valid) {
          c.conn.write(Buffer.concat(fragments(OP_TEXT, utf8.bytes, 1)));
          const decoded = utf8.bytes.toString("utf8");
          await closeNormally(c, [text(decoded), text(decoded)]);
        } else {
          await expectFailure(c, 1007);
        }
      });
    }
    for (const utf8 of UTF8_CASES.filter((u) => !u.valid && u.bytes.length > 1).slice(0, 20)) {
      test(`client ${utf8.id} invalid, in one-byte fragments: 1007`, async () => {
        const c = await startCase();
        c.conn.write(Buffer.concat(fragments(OP_TEXT, utf8.bytes, 1)));
        await expectFailure(c, 1007);
      });
    }
  });
});

describe("client 7 close handling", () => {
  test("client 7.1.1 text echoed, then the server's close 1000 is echoed", async () => {
    const c = await startCase();
    c.conn.sendText("Hello World!");
    await closeNormally(c, [text("Hello World!")]);
  });
  test("client 7.1.2 after the server's close, a second close is not answered", async () => {
    const c = await startCase();
    c.conn.answerClose = false;
    c.conn.write(Buffer.concat([frame(FIN | OP_CLOSE, encodeClosePayload(1000)), frame(FIN | OP_CLOSE, encodeClosePayload(1000))]));
    await c.conn.closeFromClient();
    await sleep(50);
    c.conn.end();
    await c.conn.waitForTcpClose();
    assert.equal(c.conn.events.length, 1);
    assert.equal(await within(c.loop), undefined);
  });
  test("client 7.1.3 a ping after the server's close is not answered", async () => {
    const c = await startCase();
    c.conn.answerClose = false;
    c.conn.write(Buffer.concat([frame(FIN | OP_CLOSE, encodeClosePayload(1000)), frame(FIN | OP_PING, "Hello World!")]));
    await c.conn.closeFromClient();
    await sleep(50);
    c.conn.end();
    await c.conn.waitForTcpClose();
    assertEvents(c.conn.events.filter((e) => e.type !== "close"), []);
    assert.equal(await within(c.loop), undefined);
  });
  test("client 7.1.4 a text message after the server's close is not echoed nor delivered", async () => {
    const c = await startCase({}, false);
    c.conn.answerClose = false;
    c.conn.write(Buffer.concat([frame(FIN | OP_CLOSE, encodeClosePayload(1000)), frame(FIN | OP_TEXT, "Hello World!")]));
    await c.conn.closeFromClient();
    c.conn.end();
    await c.conn.waitForTcpClose();
    const error = await within(c.client.readTextMessage().catch((e: unknown) => e));
    assertInstance(error, ConnectionClosureError);
    assert.equal((error as Error).message, "Connection already closed");
  });
  test("client 7.1.6 a large message, a close and a ping in one write: the close is the client's last frame, no pong", async () => {
    const c = await startCase({ maxFrameSize: 1 << 20 });
    c.conn.answerClose = false;
    c.conn.write(Buffer.concat([frame(FIN | OP_TEXT, "BAsd7&jh23".repeat(26214)), frame(FIN | OP_CLOSE, encodeClosePayload(1000)), frame(FIN | OP_PING, "ping")]));
    const { close } = await c.conn.closeFromClient();
    assert.equal(close.code, 1000);
    await sleep(50);
    c.conn.end();
    await c.conn.waitForTcpClose();
    assert.equal(c.conn.frames.at(-1)!.opcode, OP_CLOSE);
    assert.ok(!c.conn.events.some((e) => e.type === "pong"), "!c.conn.events.some((e) => e.type === \"pong\")");
    assert.equal(await within(c.loop), undefined);
  });
  test("client 7.3.1 a close without payload is answered with an empty close", async () => {
    const c = await startCase();
    const close = await c.conn.closeHandshake();
    assert.equal(close.payloadLength, 0);
    assert.equal(close.code, 1005);
    await c.conn.waitForTcpClose();
    assert.equal(await within(c.loop), undefined);
  });
  test("client 7.3.2 a close with a 1-byte payload fails with 1002", async () => {
    const c = await startCase();
    c.conn.sendFrame(FIN | OP_CLOSE, Buffer.from([0x03]));
    await expectFailure(c, 1002);
  });
  test("client 7.3.3 a close with a code and no reason: the code is echoed", async () => {
    const c = await startCase();
    const close = await c.conn.closeHandshake(1000);
    assert.equal(close.code, 1000);
    assert.equal(close.payloadLength, 2);
  });
  test("client 7.3.4 a close with a code and a reason: the code is echoed", async () => {
    const c = await startCase();
    const close = await c.conn.closeHandshake(1000, "Hello World!");
    assert.equal(close.code, 1000);
  });
  test("client 7.3.5 a close with a 123-byte reason: the code is echoed", async () => {
    const c = await startCase();
    const close = await c.conn.closeHandshake(1000, "*".repeat(123));
    assert.equal(close.code, 1000);
  });
  test("client 7.3.6 a close with a 124-byte reason (payload over 125) fails with 1002", async () => {
    const c = await startCase();
    c.conn.sendFrame(FIN | OP_CLOSE, encodeClosePayload(1000, "*".repeat(124)));
    await expectFailure(c, 1002);
  });
  test("client 7.5.1 a close reason that is not UTF-8 fails with 1007", async () => {
    const c = await startCase();
    c.conn.sendFrame(FIN | OP_CLOSE, Buffer.concat([Buffer.from([0x03, 0xe8]), KOSME, Buffer.from("eda080", "hex")]));
    await expectFailure(c, 1007);
  });
  const valid = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999];
  valid.forEach((code, i) => {
    test(`client 7.7.${i + 1} the server's close code ${code} is echoed`, async () => {
      const c = await startCase();
      const close = await c.conn.closeHandshake(code, "reason");
      assert.equal(close.code, code);
      assert.equal(close.reason, "");
      await c.conn.waitForTcpClose();
      assert.equal(await within(c.loop), undefined, "iteration ends quietly at any close frame");
    });
  });
  const invalid = [0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999];
  invalid.forEach((code, i) => {
    test(`client 7.9.${i + 1} a close with the invalid code ${code} fails with 1002`, async () => {
      const c = await startCase();
      c.conn.sendFrame(FIN | OP_CLOSE, encodeClosePayload(code));
      await expectFailure(c, 1002);
    });
  });
  [5000, 65535].forEach((code, i) => {
    test(`client 7.13.${i + 1} a close with the out-of-range code ${code} fails with 1002`, async () => {
      const c = await startCase();
      c.conn.sendFrame(FIN | OP_CLOSE, encodeClosePayload(code));
      await expectFailure(c, 1002);
    });
  });
});

describe("client 9 limits and large messages", () => {
  const MIB = 1 << 20;
  test("client 9.1.3 text message of 1 MiB in one frame (maxFrameSize 2 MiB), echoed in one frame", async () => {
    const c = await startCase({ maxFrameSize: 2 * MIB });
    const payload = "BAsd7&jh23".repeat(Math.floor(MIB / 10)) + "abcd";
    c.conn.sendText(payload);
    await closeNormally(c, [text(payload)]);
    assert.equal(c.conn.frames.length, 2, "one frame for the echo, one close");
  });
  test("client 9.2.3 binary message of 1 MiB in one frame", async () => {
    const c = await startCase({ maxFrameSize: 2 * MIB });
    const payload = Buffer.alloc(MIB, 0xfe);
    c.conn.sendBinary(payload);
    await closeNormally(c, [binary(payload)]);
  });
  test("client 9.3.x text message of 1 MiB in 64 KiB frames; the echo is fragmented at maxFrameSize", async () => {
    const c = await startCase();
    const payload = Buffer.from("*".repeat(MIB));
    c.conn.write(Buffer.concat(fragments(OP_TEXT, payload, 65536)));
    await closeNormally(c, [text(payload.toString())]);
    const data = c.conn.frames.slice(0, -1);
    assert.equal(data.length, 16);
    assert.ok(data.every((f) => f.payload.length === 65536), "data.every((f) => f.payload.length === 65536)");
    assert.deepEqual(
      data.map((f) => f.opcode),
      [OP_TEXT, ...Array<number>(15).fill(OP_CONTINUATION)],
    );
    assert.deepEqual(
      data.map((f) => f.fin),
      [...Array<boolean>(15).fill(false), true],
    );
  });
  test("client 10.1.1 text message of 65536 bytes in 1300-byte fragments", async () => {
    const c = await startCase();
    const payload = Buffer.from("*".repeat(65536));
    c.conn.write(Buffer.concat(fragments(OP_TEXT, payload, 1300)));
    await closeNormally(c, [text(payload.toString())]);
  });
  test("client RFC 6455 §10.4: a frame over maxFrameSize fails with 1009 (PayloadTooLargeError)", async () => {
    const c = await startCase({ maxFrameSize: 1000 });
    c.conn.sendText("x".repeat(1000));
    await c.conn.event(0);
    c.conn.sendText("x".repeat(1001));
    await expectFailure(c, 1009, [text("x".repeat(1000))], PayloadTooLargeError);
  });
  test("client RFC 6455 §10.4: a fragmented message over maxMessageSize fails with 1009", async () => {
    const c = await startCase({ maxFrameSize: 1000, maxMessageSize: 2500 });
    c.conn.write(Buffer.concat([frame(OP_BINARY, Buffer.alloc(1000)), frame(OP_CONTINUATION, Buffer.alloc(1000)), frame(FIN | OP_CONTINUATION, Buffer.alloc(1000))]));
    await expectFailure(c, 1009, [], PayloadTooLargeError);
  });
});
