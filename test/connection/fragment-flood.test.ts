// A message of many tiny fragments (CVE-2026-48779's class): memory follows the bytes of the
// message, not the number of its frames, and past maxFragments (16,384 by default) the
// connection closes with 1008, on the server and on the client alike.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { resolveClientConfiguration } from "../../src/client/client-configuration.ts";
import { Client, Listener, PayloadTooLargeError, type Caller } from "../../src/index.ts";
import { DEFAULT_MAX_FRAGMENTS } from "../../src/protocol/frame-parser.ts";
import { eventually, RawServer, rejection, within } from "../client/raw-server.ts";
import { RawClient } from "../conformance/raw-client.ts";
import { startListener } from "../helpers/listener.ts";
import { memoryInUse } from "../helpers/memory.ts";
import { OP_BINARY, OP_TEXT } from "../helpers/raw-peer.ts";

const MASK_KEY = Uint8Array.of(0x37, 0xfa, 0x21, 0x3d);
const WAIT_MS = 20_000;

/** The payload of a message of `count` fragments of `size` bytes: bytes that show any loss or reordering. */
function messageBytes(count: number, size: number, opcode: number): Buffer {
  const bytes = Buffer.alloc(count * size);
  for (let i = 0; i < bytes.length; i++) bytes[i] = opcode === OP_TEXT ? 0x61 + (i % 26) : (i * 7 + (i >>> 8)) & 0xff;
  return bytes;
}

/** One message of `count` fragments of `size` bytes, each frame a view of one buffer (masked as a client sends). */
function fragments(count: number, size: number, masked: boolean, opcode = OP_BINARY): { wire: Buffer; frames: Buffer[]; message: Buffer } {
  const message = messageBytes(count, size, opcode);
  const header = 2 + (masked ? 4 : 0);
  const frameSize = header + size;
  const wire = Buffer.alloc(count * frameSize);
  const frames: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const at = i * frameSize;
    wire[at] = (i === count - 1 ? 0x80 : 0) | (i === 0 ? opcode : 0);
    wire[at + 1] = (masked ? 0x80 : 0) | size;
    if (masked) wire.set(MASK_KEY, at + 2);
    for (let j = 0; j < size; j++) wire[at + header + j] = message[i * size + j]! ^ (masked ? MASK_KEY[j & 3]! : 0);
    frames.push(wire.subarray(at, at + frameSize));
  }
  return { wire, frames, message };
}

/** Now, without collecting: what the message's assembly left behind counts too. */
function memoryNow(): number {
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.external;
}

/** Writes each frame in a write of its own, letting the event loop turn between them, so that the peer reads them in tiny chunks. */
async function writeEach(write: (bytes: Buffer) => void, frames: readonly Buffer[]): Promise<void> {
  for (const frame of frames) {
    write(frame);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

interface Seen {
  messages: (string | Buffer)[];
  errors: Error[];
  /** memoryNow() when the message was handed to the service. */
  memoryAtMessage: number;
}

async function floodServer(): Promise<{ port: number; seen: Seen[] }> {
  const seen: Seen[] = [];
  const service = () => {
    const record: Seen = { messages: [], errors: [], memoryAtMessage: 0 };
    seen.push(record);
    return {
      onBinaryMessage(_caller: Caller, data: Uint8Array): void {
        record.memoryAtMessage = memoryNow();
        record.messages.push(Buffer.from(data));
      },
      onTextMessage(_caller: Caller, text: string): void {
        record.memoryAtMessage = memoryNow();
        record.messages.push(text);
      },
      onError(_caller: Caller, error: Error): void {
        record.errors.push(error);
      },
    };
  };
  const listener = await startListener({
    "/default": { upgrade: service },
    "/many": { config: { maxFragments: 1_000_000 }, upgrade: service },
  });
  return { port: listener.port, seen };
}

function assertFragmentLimitError(error: unknown): void {
  assert.ok(error instanceof PayloadTooLargeError, `expected PayloadTooLargeError, got ${String(error)}`);
  assert.equal(error.closeCode, 1008);
  assert.match(error.message, /maxFragments/);
}

describe("server: a flood of tiny fragments", async () => {
  const { port, seen } = await floodServer();

  for (const [label, opcode] of [["binary", OP_BINARY], ["text", OP_TEXT]] as const) {
    test(`500,000 one-byte ${label} fragments in one write: close 1008 with the default maxFragments, onError PayloadTooLargeError`, async () => {
      const { wire } = fragments(500_000, 1, true, opcode);
      const client = await RawClient.connect(port, { path: "/default" });
      const record = seen.at(-1)!;
      void client.send(wire).catch(() => undefined);
      const { before, close } = await client.untilClose(WAIT_MS);
      assert.deepEqual(before, []);
      assert.equal(close.code, 1008);
      await client.waitForTcpClose(WAIT_MS);
      assert.equal(record.messages.length, 0);
      assert.equal(record.errors.length, 1);
      assertFragmentLimitError(record.errors[0]);
      client.destroy();
    });
  }

  test(`${DEFAULT_MAX_FRAGMENTS} fragments, each in a write of its own, arrive whole; one more closes with 1008`, async () => {
    for (const count of [DEFAULT_MAX_FRAGMENTS, DEFAULT_MAX_FRAGMENTS + 1]) {
      const { frames, message } = fragments(count, 3, true);
      const client = await RawClient.connect(port, { path: "/default" });
      const record = seen.at(-1)!;
      await writeEach((bytes) => void client.send(bytes).catch(() => undefined), frames);
      if (count === DEFAULT_MAX_FRAGMENTS) {
        await eventually(() => record.messages.length === 1, WAIT_MS, "the message");
        assert.ok(message.equals(record.messages[0] as Buffer), "the message arrived whole and in order");
        client.destroy();
      } else {
        const { close } = await client.untilClose(WAIT_MS);
        assert.equal(close.code, 1008);
        assertFragmentLimitError(record.errors[0]);
        client.destroy();
      }
    }
  });

  for (const [label, opcode] of [["binary", OP_BINARY], ["text", OP_TEXT]] as const) {
    test(`under a raised limit, 250,000 four-byte ${label} fragments arrive whole and cost memory of the order of the message`, async () => {
      const count = 250_000;
      const { wire, message } = fragments(count, 4, true, opcode);
      const client = await RawClient.connect(port, { path: "/many" });
      const record = seen.at(-1)!;
      const before = memoryInUse();
      await client.send(wire);
      await eventually(() => record.messages.length === 1 || record.errors.length > 0, WAIT_MS, "the message");
      assert.deepEqual(record.errors, []);
      const growth = record.memoryAtMessage - before;
      const received = record.messages[0]!;
      if (opcode === OP_TEXT) assert.equal(received, message.toString("latin1"));
      else assert.ok(message.equals(received as Buffer), "the message arrived whole and in order");
      // Each fragment kept as a Buffer of its own cost about 30 times the message here.
      assert.ok(growth < 10 * message.length, `memory grew by ${growth} bytes for a message of ${message.length}`);
      client.destroy();
    });
  }
});

function read(client: Client, opcode: number): Promise<string | Uint8Array> {
  return opcode === OP_TEXT ? client.readTextMessage() : client.readBinaryMessage();
}

describe("client: a flood of tiny fragments", () => {
  async function connected(config: { maxFragments?: number } = {}) {
    const server = await RawServer.start();
    const client = await Client.connect(server.url, { webSocketCompressionEnabled: false, ...config });
    const conn = await server.connection();
    return { server, client, conn };
  }

  for (const [label, opcode] of [["binary", OP_BINARY], ["text", OP_TEXT]] as const) {
    test(`500,000 one-byte ${label} fragments in one write: close 1008 with the default maxFragments, the read rejects with PayloadTooLargeError`, async () => {
      const { client, conn } = await connected();
      const reading = read(client, opcode);
      conn.write(fragments(500_000, 1, false, opcode).wire);
      assertFragmentLimitError(await rejection(reading, WAIT_MS));
      await conn.until(() => conn.events.some((event) => event.type === "close"), WAIT_MS, "the client's close frame");
      const close = conn.events.find((event) => event.type === "close");
      assert.equal(close?.type === "close" && close.code, 1008);
      await conn.waitForTcpClose(WAIT_MS);
    });
  }

  test(`${DEFAULT_MAX_FRAGMENTS} fragments, each in a write of its own, arrive whole; one more closes with 1008`, async () => {
    for (const count of [DEFAULT_MAX_FRAGMENTS, DEFAULT_MAX_FRAGMENTS + 1]) {
      const { client, conn } = await connected();
      const { frames, message } = fragments(count, 3, false);
      const reading = client.readBinaryMessage();
      await writeEach((bytes) => conn.write(bytes), frames);
      if (count === DEFAULT_MAX_FRAGMENTS) {
        assert.ok(message.equals(await within(reading, WAIT_MS)), "the message arrived whole and in order");
        await client.close(1000, "", 5);
      } else {
        assertFragmentLimitError(await rejection(reading, WAIT_MS));
      }
    }
  });

  for (const [label, opcode] of [["binary", OP_BINARY], ["text", OP_TEXT]] as const) {
    test(`under a raised limit, 250,000 four-byte ${label} fragments arrive whole and cost memory of the order of the message`, async () => {
      const { client, conn } = await connected({ maxFragments: 1_000_000 });
      const { wire, message } = fragments(250_000, 4, false, opcode);
      const before = memoryInUse();
      let memoryAtMessage = 0;
      const reading = read(client, opcode).then((received) => {
        memoryAtMessage = memoryNow();
        return received;
      });
      conn.write(wire);
      const received = await within(reading, WAIT_MS);
      const growth = memoryAtMessage - before;
      if (opcode === OP_TEXT) assert.equal(received, message.toString("latin1"));
      else assert.ok(message.equals(received as Uint8Array), "the message arrived whole and in order");
      assert.ok(growth < 10 * message.length, `memory grew by ${growth} bytes for a message of ${message.length}`);
      await client.close(1000, "", 5);
    });
  }
});

describe("maxFragments: the setting itself", () => {
  test("NaN, a negative number or a fraction is refused with a RangeError on a service and a client, instead of meaning no limit", () => {
    const listener = new Listener(0, { host: "127.0.0.1" });
    for (const maxFragments of [Number.NaN, -1, 1.5, Infinity]) {
      assert.throws(() => listener.attach("/", { config: { maxFragments }, upgrade: () => ({}) }), RangeError);
      assert.throws(() => resolveClientConfiguration({ maxFragments }), RangeError);
    }
    for (const maxFragments of [0, 1, DEFAULT_MAX_FRAGMENTS]) {
      assert.equal(resolveClientConfiguration({ maxFragments }).maxFragments, maxFragments);
    }
  });
});
