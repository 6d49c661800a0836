/**
 * The Client (SPEC §10, with the write side of §4 and the errors of §11): awaitable reads and
 * writes, iteration, the event-driven parts (pings, closes and backpressure while nobody
 * reads), write timeouts, fragmentation, close(), and the caller-like identity methods.
 * The server is raw-server.ts: it sends exactly what a test needs and records every frame.
 */
import assert from "node:assert/strict";
import { isUtf8 } from "node:buffer";
import type { StandardSchemaV1 } from "@standard-schema/spec";
import { describe, test } from "node:test";
import {
  Client,
  type ClientConfiguration,
  closeFrame,
  ConnectionClosureError,
  ConnectionError,
  CorruptedFrameError,
  PayloadBindingError,
  PayloadTooLargeError,
  PayloadValidationError,
  ReadTimedOutError,
  WriteTimedOutError,
} from "../../src/index.ts";
import {
  eventually,
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
  rejection,
  sleep,
  within,
  assertInstance,
} from "./raw-server.ts";

interface Session {
  server: RawServer;
  conn: RawConnection;
  client: Client;
}

async function session(config: ClientConfiguration = {}, path = "/"): Promise<Session> {
  const server = await RawServer.start();
  const client = await within(Client.connect(`${server.url}${path}`, config), 3000, "connect");
  return { server, conn: await server.connection(0), client };
}

describe("reads", () => {
  test("readTextMessage, readBinaryMessage and readMessage(json / text / binary)", async () => {
    const { conn, client } = await session();
    conn.sendText("hello");
    conn.sendBinary(Buffer.from([0, 1, 255]));
    conn.sendText('{"a":[1,2],"b":null}');
    conn.sendText("42");
    conn.sendText("plain");
    conn.sendText("héllo");
    assert.equal(await within(client.readTextMessage()), "hello");
    const bytes = await within(client.readBinaryMessage());
    assertInstance(bytes, Uint8Array);
    assert.deepEqual([...bytes], [0, 1, 255]);
    assert.deepEqual(await within(client.readMessage("json")), { a: [1, 2], b: null });
    assert.equal(await within(client.readMessage()), 42, "json is the default kind");
    assert.equal(await within(client.readMessage("text")), "plain");
    assert.deepEqual([...((await within(client.readMessage("binary"))) as Uint8Array)], [...Buffer.from("héllo")], "a text frame as its UTF-8 bytes");
    await client.close(1000, "", 2);
  });

  test("readMessage(\"text\") and (\"json\") decode a binary frame as UTF-8", async () => {
    const { conn, client } = await session();
    conn.sendBinary(Buffer.from("ünïcödé 🚀"));
    conn.sendBinary(Buffer.from('{"ok":true}'));
    conn.sendBinary(Buffer.from([0xc3, 0x28]));
    assert.equal(await within(client.readMessage("text")), "ünïcödé 🚀");
    assert.deepEqual(await within(client.readMessage("json")), { ok: true });
    const error = await rejection(client.readMessage("text"));
    assert.ok(error instanceof PayloadBindingError, String(error));
    assert.match(error.message, /^data binding failed: /);
    await client.close(1000, "", 2);
  });

  test("readTextMessage on a binary message: PayloadBindingError, and the message is consumed", async () => {
    const { conn, client } = await session();
    conn.sendBinary(Buffer.from("not text"));
    conn.sendText("next one");
    conn.sendText("then text");
    conn.sendBinary(Buffer.from("bin"));
    const error = await rejection(client.readTextMessage());
    assert.ok(error instanceof PayloadBindingError, String(error));
    assert.match(error.message, /^data binding failed: /);
    assert.equal(await within(client.readTextMessage()), "next one");
    const other = await rejection(client.readBinaryMessage());
    assert.ok(other instanceof PayloadBindingError, "readBinaryMessage on a text message");
    assert.equal(Buffer.from(await within(client.readBinaryMessage())).toString(), "bin");
    await client.close(1000, "", 2);
  });

  test("readMessage(\"json\") on text that is not JSON: PayloadBindingError, consumed, connection fine", async () => {
    const { conn, client } = await session();
    conn.sendText("{oops");
    conn.sendText("[1]");
    const error = await rejection(client.readMessage("json"));
    assertInstance(error, PayloadBindingError);
    assert.match(error.message, /^data binding failed: /);
    assert.deepEqual(await within(client.readMessage("json")), [1]);
    assert.equal(client.isOpen(), true);
    await client.close(1000, "", 2);
  });

  test("readMessage(schema): the schema's output; a failure is PayloadValidationError and consumed; validation: false skips it", async () => {
    /** A Standard Schema by hand: { n: number } → { n, doubled } (the output differs from the input). */
    const schema: StandardSchemaV1<unknown, { n: number; doubled: number }> = {
      "~standard": {
        version: 1,
        vendor: "test",
        validate: (value) =>
          typeof value === "object" && value !== null && typeof (value as { n?: unknown }).n === "number"
            ? { value: { n: (value as { n: number }).n, doubled: (value as { n: number }).n * 2 } }
            : { issues: [{ message: "n must be a number", path: ["n"] }] },
      },
    };
    const { conn, client } = await session();
    conn.sendText('{"n":21}');
    conn.sendText('{"n":"x"}');
    conn.sendBinary(Buffer.from('{"n":1}'));
    const value = await within(client.readMessage(schema));
    assert.deepEqual(value, { n: 21, doubled: 42 });
    const error = await rejection(client.readMessage(schema));
    assertInstance(error, PayloadValidationError);
    assert.match(error.message, /^data validation failed: n: n must be a number/);
    assert.deepEqual(await within(client.readMessage(schema)), { n: 1, doubled: 2 }, "consumed: the next read gets the next message");
    await client.close(1000, "", 2);

    const { conn: other, client: lax } = await session({ validation: false });
    other.sendText('{"n":"x"}');
    assert.deepEqual(await within(lax.readMessage(schema)), { n: "x" }, "validation: false hands over the JSON as is");
    await lax.close(1000, "", 2);
  });

  test("readMessage(\"xml\"): a DOM Document; malformed XML is PayloadBindingError", async () => {
    const { conn, client } = await session();
    conn.sendText('<order id="7"><item>tea</item></order>');
    conn.sendText("<unclosed>");
    const root = (await within(client.readMessage("xml"))).documentElement;
    assert.ok(root !== null, "the document has no root element");
    assert.equal(root.tagName, "order");
    assert.equal(root.getAttribute("id"), "7");
    assertInstance(await rejection(client.readMessage("xml")), PayloadBindingError);
    await client.close(1000, "", 2);
  });

  test("concurrent reads are served first come, first served", async () => {
    const { conn, client } = await session();
    const reads = [client.readTextMessage(), client.readMessage("json"), client.readBinaryMessage(), client.readMessage("text")];
    await sleep(10);
    conn.sendText("first");
    conn.sendText('{"n":2}');
    conn.sendBinary(Buffer.from([3]));
    conn.sendText("fourth");
    const [a, b, c, d] = await within(Promise.all(reads));
    assert.equal(a, "first");
    assert.deepEqual(b, { n: 2 });
    assert.deepEqual([...(c as Uint8Array)], [3]);
    assert.equal(d, "fourth");
    await client.close(1000, "", 2);
  });

  test("many reads queued before many messages keep their order", async () => {
    const { conn, client } = await session();
    const reads = Array.from({ length: 200 }, () => client.readTextMessage());
    for (let i = 0; i < 200; i++) conn.sendText(`m${i}`);
    assert.deepEqual(await within(Promise.all(reads)), Array.from({ length: 200 }, (_, i) => `m${i}`));
    await client.close(1000, "", 2);
  });

  test("readTimeout: ReadTimedOutError, and the connection stays usable", async () => {
    const { conn, client } = await session({ readTimeout: 0.2 });
    const started = Date.now();
    const error = await rejection(client.readTextMessage());
    const elapsed = Date.now() - started;
    assert.ok(error instanceof ReadTimedOutError, String(error));
    assert.ok(elapsed >= 180 && elapsed < 1500, `timed out after ${elapsed} ms`);
    assert.equal(client.isOpen(), true);
    conn.sendText("late but fine");
    assert.equal(await within(client.readTextMessage()), "late but fine", "the timed-out read must not swallow it");
    await client.writeTextMessage("still writing");
    assert.deepEqual(await conn.event(0), { type: "text", text: "still writing" });
    await client.close(1000, "", 2);
  });

  test("a close frame during a pending read: ConnectionClosureError \"<reason>: Status code: <code>\"", async () => {
    const { conn, client } = await session();
    const pending = [rejection(client.readTextMessage()), rejection(client.readMessage("json"))];
    await sleep(10);
    const echoed = await conn.closeHandshake(4001, "server says bye");
    assert.equal(echoed.code, 4001);
    for (const read of pending) {
      const error = await read;
      assert.ok(error instanceof ConnectionClosureError, String(error));
      assert.equal(error.message, "server says bye: Status code: 4001");
      assert.equal((error as ConnectionClosureError).closeCode, 4001);
    }
    const later = await rejection(client.readTextMessage());
    assertInstance(later, ConnectionClosureError);
    assert.equal(later.message, "Connection already closed");
    await assert.rejects(client.writeTextMessage("too late"), ConnectionClosureError);
    assert.equal(client.isOpen(), false);
  });

  test("a close frame without a code during a read: \": Status code: 1005\"", async () => {
    const { conn, client } = await session();
    const pending = rejection(client.readTextMessage());
    await sleep(10);
    await conn.closeHandshake();
    assert.equal((await pending).message, ": Status code: 1005");
  });

  test("messages that arrived before the close frame are read first, then \"Connection already closed\"", async () => {
    const { conn, client } = await session();
    conn.sendText("one");
    conn.sendText("two");
    await conn.closeHandshake(1000, "done");
    await conn.waitForTcpClose();
    assert.equal(await within(client.readTextMessage()), "one");
    assert.equal(await within(client.readTextMessage()), "two");
    assert.equal((await rejection(client.readTextMessage())).message, "Connection already closed");
  });

  test("iteration yields strings and bytes in order and ends quietly at a close frame", async () => {
    const { conn, client } = await session();
    conn.sendText("a");
    conn.sendBinary(Buffer.from([1, 2]));
    conn.write(Buffer.concat([frame(OP_TEXT, "frag"), frame(FIN | OP_CONTINUATION, "mented")]));
    conn.sendClose(1001, "going");
    const seen: unknown[] = [];
    await within(
      (async () => {
        for await (const message of client) seen.push(message);
      })(),
      3000,
      "iteration",
    );
    assert.equal(seen.length, 3);
    assert.equal(seen[0], "a");
    assertInstance(seen[1], Uint8Array);
    assert.deepEqual([...(seen[1] as Uint8Array)], [1, 2]);
    assert.equal(seen[2], "fragmented");
    assert.deepEqual(await conn.event(0), { type: "close", code: 1001, reason: "", payloadLength: 2 });
  });

  test("iteration over a connection that is already closed ends at once", async () => {
    const { conn, client } = await session();
    await conn.closeHandshake(1000);
    await conn.waitForTcpClose();
    await sleep(10);
    const seen: unknown[] = [];
    for await (const message of client) seen.push(message);
    assert.deepEqual(seen, []);
  });

  test("iteration throws ConnectionError when TCP drops without a close frame", async () => {
    const { conn, client } = await session();
    conn.sendText("before the drop");
    const seen: unknown[] = [];
    const loop = (async () => {
      for await (const message of client) {
        seen.push(message);
        conn.destroy();
      }
    })();
    const error = await rejection(loop, 3000, "iteration");
    assert.ok(error instanceof ConnectionError, String(error));
    assert.match(error.message, /1006/);
    assert.deepEqual(seen, ["before the drop"]);
  });

  test("a frame over maxFrameSize: close 1009 to the server, pending reads reject with PayloadTooLargeError", async () => {
    const { conn, client } = await session({ maxFrameSize: 1000 });
    const pending = [rejection(client.readTextMessage()), rejection(client.readBinaryMessage())];
    await sleep(10);
    conn.sendBinary(Buffer.alloc(1001));
    const { close } = await conn.closeFromClient();
    assert.equal(close.code, 1009);
    for (const read of pending) {
      const error = await read;
      assert.ok(error instanceof PayloadTooLargeError, String(error));
      assert.equal((error as PayloadTooLargeError).closeCode, 1009);
    }
    await conn.waitForTcpClose();
    const later = await rejection(client.readTextMessage());
    assertInstance(later, ConnectionClosureError);
    assert.equal(later.message, "Connection already closed");
  });

  test("a message over maxMessageSize across fragments: close 1009, PayloadTooLargeError", async () => {
    const { conn, client } = await session({ maxMessageSize: 1500 });
    const pending = rejection(client.readTextMessage());
    await sleep(10);
    conn.write(Buffer.concat([frame(OP_TEXT, "x".repeat(1000)), frame(FIN | OP_CONTINUATION, "x".repeat(1000))]));
    assert.equal((await conn.closeFromClient()).close.code, 1009);
    assertInstance((await pending), PayloadTooLargeError);
  });

  test("a protocol error from the server fails pending reads with CorruptedFrameError (1002)", async () => {
    const { conn, client } = await session();
    const pending = rejection(client.readTextMessage());
    await sleep(10);
    conn.sendFrame(FIN | 0x3, "reserved opcode");
    assert.equal((await conn.closeFromClient()).close.code, 1002);
    const error = await pending;
    assert.ok(error instanceof CorruptedFrameError, String(error));
    assert.equal((error as CorruptedFrameError).closeCode, 1002);
  });
});

describe("event-driven: while nobody reads", () => {
  test("a server's close while it keeps TCP open: a pending read ends at the close frame, not at the TCP close", async () => {
    const { conn, client } = await session();
    conn.answerClose = false;
    const pending = rejection(client.readTextMessage(), 2000, "the pending read");
    await sleep(10);
    conn.sendClose(4000, "bye");
    assert.equal((await conn.closeFromClient()).close.code, 4000, "the close is echoed at once");
    assert.equal((await pending).message, "bye: Status code: 4000");
    conn.destroy();
  });

  test("pings are answered with the same payload", async () => {
    const { conn, client } = await session();
    conn.sendPing("are you there?");
    conn.sendPing(Buffer.from([0, 255]));
    await conn.until(() => conn.events.length >= 2);
    assert.deepEqual(conn.events, [
      { type: "pong", data: Buffer.from("are you there?") },
      { type: "pong", data: Buffer.from([0, 255]) },
    ]);
    await client.close(1000, "", 2);
  });

  test("a server's close is echoed at once, and TCP closes", async () => {
    const { conn, client } = await session();
    const close = await conn.closeHandshake(4321, "maintenance");
    assert.equal(close.code, 4321);
    assert.equal(close.reason, "");
    await conn.waitForTcpClose();
    assert.equal(client.isOpen(), false);
    assert.equal((await rejection(client.readTextMessage())).message, "Connection already closed");
    // SPEC §4: the user never sent a close frame, so close() has nothing to refuse.
    await within(client.close());
  });

  test("a server's empty close is echoed as an empty close", async () => {
    const { conn } = await session();
    const close = await conn.closeHandshake();
    assert.equal(close.payloadLength, 0);
  });

  test("pingPongHandler.onPing returning bytes: that pong, and no automatic one", async () => {
    const calls: { client: Client; data: Buffer }[] = [];
    const { conn, client } = await session({
      pingPongHandler: {
        onPing(c, data) {
          calls.push({ client: c, data: Buffer.from(data) });
          return Buffer.from(`custom:${Buffer.from(data).toString()}`);
        },
      },
    });
    conn.sendPing("p1");
    await conn.event(0);
    await sleep(30);
    assert.deepEqual(conn.events, [{ type: "pong", data: Buffer.from("custom:p1") }]);
    assert.equal(calls.length, 1);
    assert.equal(calls[0]!.client, client, "the client itself is passed as the caller");
    assert.equal(calls[0]!.data.toString(), "p1");
    await client.close(1000, "", 2);
  });

  test("pingPongHandler.onPing that only logs: the automatic pong goes out once it settles", async () => {
    const seen: string[] = [];
    const { conn, client } = await session({
      pingPongHandler: {
        async onPing(_c, data) {
          await sleep(20);
          seen.push(Buffer.from(data).toString());
        },
      },
    });
    conn.sendPing("only logged");
    conn.sendPing("");
    await conn.event(1);
    await sleep(30);
    assert.deepEqual(conn.events, [
      { type: "pong", data: Buffer.from("only logged") },
      { type: "pong", data: Buffer.alloc(0) },
    ]);
    assert.deepEqual(seen, ["only logged", ""]);
    await client.close(1000, "", 2);
  });

  test("pingPongHandler.onPing that calls client.pong(): that pong only, no automatic one", async () => {
    const { conn, client } = await session({
      pingPongHandler: {
        async onPing(c, data) {
          if (Buffer.from(data).toString() === "answer me") await c.pong(Buffer.from("by hand"));
        },
      },
    });
    conn.sendPing("answer me");
    conn.sendPing("not me");
    await conn.event(1);
    await sleep(30);
    assert.deepEqual(conn.events, [
      { type: "pong", data: Buffer.from("by hand") },
      { type: "pong", data: Buffer.from("not me") },
    ]);
    await client.close(1000, "", 2);
  });

  test("pingPongHandler.onPing that throws, or returns a pong over 125 bytes: the automatic pong goes out", async () => {
    const { conn, client } = await session({
      pingPongHandler: {
        onPing(_c, data) {
          if (Buffer.from(data).toString() === "throw") throw new Error("handler bug");
          return new Uint8Array(126);
        },
      },
    });
    conn.sendPing("throw");
    conn.sendPing("too long");
    await conn.event(1);
    await sleep(30);
    assert.deepEqual(conn.events, [
      { type: "pong", data: Buffer.from("throw") },
      { type: "pong", data: Buffer.from("too long") },
    ]);
    assert.equal(client.isOpen(), true);
    await client.close(1000, "", 2);
  });

  test("pingPongHandler.onPong is called with the client and the payload", async () => {
    const pongs: { client: Client; data: string }[] = [];
    const { conn, client } = await session({ pingPongHandler: { onPong: (c, data) => void pongs.push({ client: c, data: Buffer.from(data).toString() }) } });
    conn.sendPong("unsolicited");
    await client.ping(Buffer.from("mine"));
    const ping = await conn.event(0);
    assert.deepEqual(ping, { type: "ping", data: Buffer.from("mine") });
    conn.sendPong("mine");
    await eventually(() => pongs.length === 2);
    assert.deepEqual(
      pongs.map((p) => p.data),
      ["unsolicited", "mine"],
    );
    assert.ok(pongs.every((p) => p.client === client), "pongs.every((p) => p.client === client)");
    await client.close(1000, "", 2);
  });

  test("pingPongHandler.onPong that throws, or whose promise rejects: logged, and the client carries on", async () => {
    const uncaught: unknown[] = [];
    const onUncaught = (error: unknown): void => void uncaught.push(error);
    process.on("uncaughtException", onUncaught);
    const logged: string[] = [];
    const consoleError = console.error;
    const level = process.env["FERRY_LOG"];
    process.env["FERRY_LOG"] = "";
    console.error = (message: string) => void logged.push(message);
    try {
      const { conn, client } = await session({
        pingPongHandler: {
          onPong(_c, data) {
            if (Buffer.from(data).toString() === "throw") throw new Error("handler bug");
            return Promise.reject(new Error("async handler bug"));
          },
        },
      });
      conn.sendPong("throw");
      conn.sendPong("reject");
      conn.sendText("still here");
      assert.equal(await within(client.readTextMessage()), "still here");
      await client.writeTextMessage("and writing");
      assert.deepEqual(await conn.event(0), { type: "text", text: "and writing" });
      await eventually(() => logged.length === 2, 3000, "both failures to be logged");
      assert.ok(logged.every((line) => line.includes("onPong")), `logged: ${logged.join(" | ")}`);
      assert.deepEqual(uncaught, []);
      await client.close(1000, "", 2);
    } finally {
      console.error = consoleError;
      process.env["FERRY_LOG"] = level;
      process.off("uncaughtException", onUncaught);
    }
  });

  test("ping and pong over 125 bytes: CorruptedFrameError, nothing sent", async () => {
    const { conn, client } = await session();
    await assert.rejects(client.ping(new Uint8Array(126)), CorruptedFrameError);
    await assert.rejects(client.pong(new Uint8Array(126)), CorruptedFrameError);
    await client.ping(new Uint8Array(125));
    assert.deepEqual(await conn.event(0), { type: "ping", data: Buffer.alloc(125) });
    await client.close(1000, "", 2);
  });

  test("unread messages are kept in order, bounded by maxQueuedBytes: the client stops reading the socket", async () => {
    const MESSAGE = 8 * 1024;
    const COUNT = 4096; // 32 MiB, far more than the kernel's socket buffers and the client's bound
    const { conn, client } = await session({ maxQueuedBytes: 64 * 1024 });
    const socket = conn.socket;
    let drained = false;
    socket.on("drain", () => (drained = true));
    const batch: Buffer[] = [];
    for (let i = 0; i < COUNT; i++) {
      const payload = Buffer.alloc(MESSAGE, i & 0xff);
      payload.writeUInt32BE(i, 0);
      batch.push(frame(FIN | OP_BINARY, payload));
      if (batch.length === 64) socket.write(Buffer.concat(batch.splice(0)));
    }
    const total = COUNT * (MESSAGE + 4);
    // Give the client ample time to read whatever it would read.
    let last = -1;
    for (let i = 0; i < 40 && socket.writableLength !== last; i++) {
      last = socket.writableLength;
      await sleep(50);
    }
    assert.equal(drained, false, "the server's socket drained: the client read everything into memory");
    assert.ok(socket.writableLength > 0, "nothing backed up on the server's side");
    assert.ok(
      socket.writableLength > total - 20 * 1024 * 1024,
      `the client took ${((total - socket.writableLength) / 1048576).toFixed(1)} MiB off the socket while nobody read`,
    );
    // Now read everything: nothing lost, order kept.
    for (let i = 0; i < COUNT; i++) {
      const message = await within(client.readBinaryMessage(), 3000, `message ${i}`);
      assert.equal(message.length, MESSAGE);
      const index = Buffer.from(message.buffer, message.byteOffset, message.byteLength).readUInt32BE(0);
      if (index !== i) assert.fail(`message ${i} came as ${index}`);
      if (message[MESSAGE - 1] !== (i & 0xff)) assert.fail(`message ${i} is corrupt`);
    }
    await eventually(() => drained, 3000, "the server's socket to drain");
    // Pings are answered again once there is room.
    conn.sendPing("after");
    assert.deepEqual(await conn.event(0), { type: "pong", data: Buffer.from("after") });
    await client.close(1000, "", 2);
  });
});

describe("writes", () => {
  test("writeTextMessage, writeBinaryMessage and writeMessage by value", async () => {
    const { conn, client } = await session();
    await client.writeTextMessage("text");
    await client.writeBinaryMessage(new Uint8Array([1, 2, 3]));
    await client.writeBinaryMessage(new Uint8Array([4, 5]).buffer);
    await client.writeMessage("as text");
    await client.writeMessage(Buffer.from([6]));
    await client.writeMessage({ a: 1, b: [true, null] });
    await client.writeMessage([1, 2]);
    await client.writeMessage(7);
    await client.writeMessage(null);
    await client.writeMessage(undefined);
    await client.writeMessage(
      (function* () {
        yield "g1";
        yield { g: 2 };
      })(),
    );
    await conn.until(() => conn.events.length >= 10);
    await sleep(20);
    assert.deepEqual(conn.events, [
      { type: "text", text: "text" },
      { type: "binary", data: Buffer.from([1, 2, 3]) },
      { type: "binary", data: Buffer.from([4, 5]) },
      { type: "text", text: "as text" },
      { type: "binary", data: Buffer.from([6]) },
      { type: "text", text: '{"a":1,"b":[true,null]}' },
      { type: "text", text: "[1,2]" },
      { type: "text", text: "7" },
      { type: "text", text: "g1" },
      { type: "text", text: '{"g":2}' },
    ]);
    assert.ok(conn.frames.every((f) => f.masked), "conn.frames.every((f) => f.masked)");
    await client.writeMessage(closeFrame(4005, "via writeMessage"));
    assert.deepEqual(conn.events.at(-1), { type: "close", code: 4005, reason: "via writeMessage", payloadLength: 18 });
  });

  test("text is fragmented at maxFrameSize on code-point boundaries; binary at exactly maxFrameSize", async () => {
    const { conn, client } = await session({ maxFrameSize: 10 });
    const text = "é" + "aé€😀".repeat(7) + "z"; // 1-, 2-, 3- and 4-byte code points, off the 10-byte grid
    await client.writeTextMessage(text);
    await client.writeBinaryMessage(Buffer.from(Array.from({ length: 25 }, (_, i) => i)));
    await client.writeTextMessage("0123456789");
    await conn.until(() => conn.events.length >= 3);
    assert.deepEqual(conn.events, [
      { type: "text", text },
      { type: "binary", data: Buffer.from(Array.from({ length: 25 }, (_, i) => i)) },
      { type: "text", text: "0123456789" },
    ]);
    const textFrames = conn.frames.slice(0, conn.frames.findIndex((f) => f.fin) + 1);
    assert.ok(textFrames.length > 1, "textFrames.length > 1");
    assert.equal(textFrames[0]!.opcode, OP_TEXT);
    for (const [i, f] of textFrames.entries()) {
      if (i > 0) assert.equal(f.opcode, OP_CONTINUATION);
      assert.equal(f.fin, i === textFrames.length - 1);
      assert.ok(f.payload.length <= 10, `frame ${i} has ${f.payload.length} bytes`);
      assert.ok(isUtf8(f.payload), `frame ${i} cuts a code point: ${f.payload.toString("hex")}`);
      if (i < textFrames.length - 1) assert.ok(f.payload.length > 10 - 4, `frame ${i} is shorter than it needs to be`);
    }
    const binaryFrames = conn.frames.slice(textFrames.length, textFrames.length + 3);
    assert.deepEqual(
      binaryFrames.map((f) => [f.opcode, f.fin, f.payload.length]),
      [
        [OP_BINARY, false, 10],
        [OP_CONTINUATION, false, 10],
        [OP_CONTINUATION, true, 5],
      ],
    );
    const last = conn.frames[textFrames.length + 3]!;
    assert.deepEqual([last.opcode, last.fin, last.payload.length], [OP_TEXT, true, 10], "exactly maxFrameSize: one frame");
    await client.close(1000, "", 2);
  });

  test("writeTimeout: WriteTimedOutError while the server does not read; nothing of it is sent", async () => {
    const { conn, client } = await session({ maxQueuedBytes: 64 * 1024, writeTimeout: 0.3 });
    conn.socket.pause();
    const chunk = Buffer.alloc(256 * 1024, 0x61);
    let written = 0;
    let error: Error | undefined;
    let waited = 0;
    for (let i = 0; i < 400 && error === undefined; i++) {
      const started = Date.now();
      try {
        await within(client.writeBinaryMessage(chunk), 3000, `write ${i}`);
        written++;
      } catch (e) {
        error = e as Error;
        waited = Date.now() - started;
      }
    }
    assert.ok(error instanceof WriteTimedOutError, `expected WriteTimedOutError, got ${String(error)} after ${written} writes`);
    assert.ok(waited >= 280 && waited < 2000, `the write waited ${waited} ms`);
    assert.ok(written >= 1, "written >= 1");
    // The server reads again: it gets every write that resolved, not the one that timed out.
    conn.socket.resume();
    await within(client.writeTextMessage("after the timeout"), 5000, "a write after the timeout");
    await conn.until(() => conn.events.length >= written + 1, 10_000, "every message");
    await sleep(30);
    assert.equal(conn.events.length, written + 1);
    assert.ok(conn.events.slice(0, written).every((e) => e.type === "binary" && e.data.length === chunk.length), "conn.events.slice(0, written).every((e) => e.type === \"binary\" && e.data.length === chunk.length)");
    assert.deepEqual(conn.events.at(-1), { type: "text", text: "after the timeout" });
    await client.close(1000, "", 2);
  });

  test("writes past maxQueuedBytes wait, and resolve in order once the server reads", async () => {
    const { conn, client } = await session({ maxQueuedBytes: 16 * 1024 });
    conn.socket.pause();
    const order: number[] = [];
    const writes: Promise<void>[] = [];
    for (let i = 0; i < 200; i++) writes.push(client.writeBinaryMessage(Buffer.alloc(64 * 1024, i)).then(() => void order.push(i)));
    await sleep(100);
    assert.ok(order.length < 200, "every write resolved although the server reads nothing");
    assert.ok(client.bufferedAmount > 0, "client.bufferedAmount > 0");
    conn.socket.resume();
    await within(Promise.all(writes), 10_000, "the writes");
    assert.deepEqual(order, Array.from({ length: 200 }, (_, i) => i));
    await conn.until(() => conn.events.length >= 200, 10_000);
    assert.ok(conn.events.every((e, i) => e.type === "binary" && e.data[0] === i), "conn.events.every((e, i) => e.type === \"binary\" && e.data[0] === i)");
    await client.close(1000, "", 2);
  });
});

describe("close()", () => {
  test("sends the code and reason, waits for the echo, closes TCP", async () => {
    const { conn, client } = await session();
    await within(client.close(1000, "done", 5));
    assert.deepEqual(conn.events, [{ type: "close", code: 1000, reason: "done", payloadLength: 6 }]);
    await conn.waitForTcpClose();
    assert.equal(client.isOpen(), false);
    assert.equal((await rejection(client.readTextMessage())).message, "Connection already closed");
    const write = await rejection(client.writeTextMessage("after close"));
    assertInstance(write, ConnectionClosureError);
  });

  test("defaults: code 1000, no reason", async () => {
    const { conn, client } = await session();
    await within(client.close());
    assert.deepEqual(conn.events, [{ type: "close", code: 1000, reason: "", payloadLength: 2 }]);
  });

  test("a pending read during the client's own close rejects with the echo's code", async () => {
    const { client } = await session();
    const pending = rejection(client.readTextMessage());
    await client.close(4000, "bye", 2);
    const error = await pending;
    assertInstance(error, ConnectionClosureError);
    assert.equal(error.message, ": Status code: 4000");
  });

  test("invalid status codes: \"Failed to execute close. Invalid status code: N\", nothing sent", async () => {
    const { conn, client } = await session();
    for (const code of [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 1000.5]) {
      const error = await rejection(client.close(code));
      assert.ok(error instanceof ConnectionClosureError, `${code}: ${String(error)}`);
      assert.equal(error.message, `Failed to execute close. Invalid status code: ${code}`);
    }
    await sleep(20);
    assert.equal(conn.frames.length, 0);
    assert.equal(client.isOpen(), true);
    for (const code of [1001, 1003, 1007, 1014, 3000, 4999]) {
      const { conn: other, client: c } = await session();
      await within(c.close(code));
      assert.equal((other.events[0] as { code: number }).code, code);
    }
    await client.close(1000, "", 2);
  });

  test("a reason over 123 bytes and a negative timeout are refused", async () => {
    const { client } = await session();
    await assert.rejects(client.close(1000, "é".repeat(62)), ConnectionClosureError);
    await assert.rejects(client.close(1000, "", -2), ConnectionClosureError);
    assert.equal(client.isOpen(), true);
    await client.close(1000, "x".repeat(123), 2);
  });

  test("a second close: \"Close frame already sent\"", async () => {
    const { client } = await session();
    const first = client.close(1000, "", 2);
    const second = await rejection(client.close(1000));
    assertInstance(second, ConnectionClosureError);
    assert.equal(second.message, "Close frame already sent");
    await within(first);
    assert.equal((await rejection(client.close(1000))).message, "Close frame already sent");
  });

  test("a server that never answers: ConnectionClosureError after the timeout, and TCP closed", async () => {
    const { conn, client } = await session();
    conn.answerClose = false;
    const started = Date.now();
    const error = await rejection(client.close(1000, "anyone?", 0.3));
    const elapsed = Date.now() - started;
    assert.ok(error instanceof ConnectionClosureError, String(error));
    assert.ok(elapsed >= 280 && elapsed < 2000, `gave up after ${elapsed} ms`);
    assert.deepEqual(conn.events, [{ type: "close", code: 1000, reason: "anyone?", payloadLength: 9 }]);
    await conn.waitForTcpClose(1000);
    assert.equal(client.isOpen(), false);
  });

  // Before the fix in Connection.onCloseFrame, the client waited (up to 60 s) for the server to close
  // TCP, so this close(…, 2) timed out with "no close frame from the peer" although the echo came.
  test("a server that answers the close but keeps TCP open: close() resolves; TCP is closed by the client", async () => {
    const { conn, client } = await session();
    conn.answerClose = false;
    const closing = client.close(1000, "", 2);
    await conn.closeFromClient();
    conn.sendClose(1000);
    await within(closing, 3000, "close()");
    await conn.waitForTcpClose(3000);
  });
});

describe("identity and attributes", () => {
  test("getConnectionId is unique, isSecure is false on ws:, sub-protocol, attributes", async () => {
    const server = await RawServer.start();
    const a = await within(Client.connect(`${server.url}/`, { subProtocols: ["x", "y"] }));
    const b = await within(Client.connect(`${server.url}/`));
    assert.equal(typeof a.getConnectionId(), "string");
    assert.notEqual(a.getConnectionId(), b.getConnectionId());
    assert.equal(a.isSecure(), false);
    assert.equal(a.getNegotiatedSubProtocol(), "x");
    assert.equal(b.getNegotiatedSubProtocol(), undefined);
    assert.equal(a.isOpen(), true);
    assert.equal(typeof a.bufferedAmount, "number");
    a.setAttribute("user", { id: 7 });
    a.setAttribute("n", 0);
    assert.deepEqual(a.getAttribute("user"), { id: 7 });
    assert.equal(a.getAttribute("n"), 0);
    assert.equal(b.getAttribute("user"), undefined, "attributes belong to one client");
    a.removeAttribute("user");
    a.removeAttribute("never set");
    b.removeAttribute("never set");
    assert.equal(a.getAttribute("user"), undefined);
    await Promise.all([a.close(1000, "", 2), b.close(1000, "", 2)]);
  });
});

describe("wire checks", () => {
  test("every frame of a busy client is masked with its own key, control frames included", async () => {
    const { conn, client } = await session({ maxFrameSize: 100 });
    await client.writeTextMessage("x".repeat(1000));
    await client.ping(Buffer.from("p"));
    await client.pong(Buffer.from("q"));
    await client.writeBinaryMessage(new Uint8Array(250));
    await client.close(1000, "", 2);
    const keys = new Set(conn.frames.map((f) => f.maskKey?.toString("hex")));
    assert.ok(conn.frames.length >= 15, "conn.frames.length >= 15");
    assert.ok(conn.frames.every((f) => f.masked), "conn.frames.every((f) => f.masked)");
    assert.equal(keys.size, conn.frames.length);
    assert.deepEqual(
      conn.frames.filter((f) => f.opcode >= 8).map((f) => f.opcode),
      [OP_PING, OP_PONG, OP_CLOSE],
    );
  });
});
