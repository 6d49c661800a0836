import assert from "node:assert/strict";
import { createServer } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { connect, type Socket } from "node:net";
import { describe, test } from "node:test";
import WebSocket from "ws";
import { Client, Listener, type UpgradeRequest } from "../../src/index.ts";
import { FrameParser } from "../../src/protocol/frame-parser.ts";
import { acceptKey, generateKey } from "../../src/protocol/handshake.ts";
import { selfSignedCertificate } from "../helpers/certificates.ts";
import { closed, delay, nextMessages, openWs, startListener } from "../helpers/listener.ts";
import { FIN, maskedFrame, OP_BINARY, OP_PING, OP_TEXT, onHttpHead, parsedEvents, type ParsedEvent, Waiters } from "../helpers/raw-peer.ts";
import { RawWebSocket } from "../helpers/raw-ws.ts";

const MIB = 1024 * 1024;

const echo = {
  config: { allowedOrigins: ["*"], maxFrameSize: 4 * MIB, maxMessageSize: 8 * MIB },
  upgrade: () => ({
    onTextMessage: (_c: unknown, text: string) => text,
    onBinaryMessage: (_c: unknown, data: Uint8Array) => data,
  }),
};

function pattern(size: number, seed: number): Buffer {
  const bytes = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 131 + seed) & 0xff;
  return bytes;
}

/** Writes `bytes` in pieces of the given sizes (cycled), each after a pause, so that the server reads them apart. */
async function dribble(socket: Socket, bytes: Buffer, sizes: readonly number[]): Promise<void> {
  for (let at = 0, i = 0; at < bytes.length; i++) {
    const size = sizes[i % sizes.length]!;
    socket.write(bytes.subarray(at, at + size));
    at += size;
    await delay(2);
  }
}

describe("reading upgraded connections", async () => {
  const listener = await startListener({ "/echo": echo });

  test("big binary frames that arrive in pieces come back whole, and small frames after them too", async () => {
    const client = await RawWebSocket.open(listener.port, "/echo");
    const big = pattern(MIB + 3, 1);
    const over256k = pattern(320 * 1024, 2);
    const medium = pattern(40_000, 3);
    await dribble(client.socket, maskedFrame(FIN | OP_BINARY, big), [14, 1000, 70_000, 3, 300_000]);
    // A big frame, then small ones and a ping in the same write.
    client.socket.write(Buffer.concat([maskedFrame(FIN | OP_BINARY, over256k), maskedFrame(FIN | OP_TEXT, "after"), maskedFrame(FIN | OP_PING, "p")]));
    await dribble(client.socket, maskedFrame(FIN | OP_BINARY, medium), [2, 5, 20_000]);
    client.sendText("last");
    await client.until(() => client.events.length >= 5, 10_000, "five events");
    const [first, second, third, fourth, fifth] = client.events;
    assert.ok(first?.type === "binary" && first.data.equals(big), "1 MiB + 3 in pieces");
    assert.ok(second?.type === "binary" && second.data.equals(over256k), "320 KiB");
    assert.deepEqual(third, { type: "text", data: "after" });
    assert.deepEqual(fourth, { type: "pong", data: Buffer.from("p") });
    assert.ok(fifth?.type === "binary" && fifth.data.equals(medium), "40,000 bytes in pieces");
    assert.deepEqual(await client.event(5), { type: "text", data: "last" });
    client.destroy();
  });

  test("messages held behind a busy handler keep their bytes while later reads arrive", async () => {
    const received: Uint8Array[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const slow = await startListener({
      "/": {
        config: { allowedOrigins: ["*"], maxFrameSize: MIB },
        upgrade: () => ({
          onBinaryMessage: async (_c: unknown, data: Uint8Array) => {
            received.push(data);
            if (received.length === 1) await gate;
          },
        }),
      },
    });
    const client = await RawWebSocket.open(slow.port);
    const messages = [pattern(10, 1), pattern(3000, 2), pattern(100_000, 3), pattern(7, 4), pattern(20_000, 5)];
    for (const message of messages) {
      client.socket.write(maskedFrame(FIN | OP_BINARY, message));
      await delay(5);
    }
    client.socket.write(maskedFrame(FIN | OP_BINARY, pattern(60_000, 9)));
    await delay(50);
    release();
    await eventually(() => received.length === 6, 5000);
    messages.forEach((message, i) => assert.ok(Buffer.from(received[i]!).equals(message), `message ${i}`));
    client.destroy();
  });

  test("frames sent with the upgrade request and while the upgrade is decided are all read, in order", async () => {
    const slow = await startListener({
      "/": {
        config: { allowedOrigins: ["*"] },
        upgrade: async () => {
          await delay(150);
          return { onTextMessage: (_c: unknown, text: string) => text };
        },
      },
    });
    const socket = connect(slow.port, "127.0.0.1");
    const key = generateKey();
    const request = `GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`;
    socket.write(Buffer.concat([Buffer.from(request), maskedFrame(FIN | OP_TEXT, "with the request")]));
    await delay(50);
    socket.write(maskedFrame(FIN | OP_TEXT, "while deciding"));
    const events: ParsedEvent[] = [];
    const waiters = new Waiters();
    const parser = new FrameParser({ role: "client", maxFrameSize: 0, maxMessageSize: 0 });
    const feed = (chunk: Buffer): void => {
      parser.push(chunk);
      events.push(...parsedEvents(parser));
      waiters.wake();
    };
    const head = await new Promise<string>((resolve) =>
      onHttpHead(socket, (head, rest) => {
        socket.on("data", feed);
        feed(rest);
        resolve(head);
      }),
    );
    assert.ok(head.includes(`Sec-WebSocket-Accept: ${acceptKey(key)}`));
    socket.write(maskedFrame(FIN | OP_TEXT, "after the 101"));
    await waiters.until(() => events.length >= 3, 5000, () => new Error(`got ${JSON.stringify(events)}`));
    assert.deepEqual(events.slice(0, 3), [
      { type: "text", text: "with the request" },
      { type: "text", text: "while deciding" },
      { type: "text", text: "after the 101" },
    ]);
    socket.destroy();
  });

  test("a ferry Client reads big messages that arrive over many reads", async () => {
    const client = await Client.connect(`ws://127.0.0.1:${listener.port}/echo`, { maxFrameSize: 4 * MIB, maxMessageSize: 8 * MIB });
    const messages = [pattern(3 * MIB, 11), pattern(100, 12), pattern(70_000, 13)];
    for (const message of messages) await client.writeMessage(message);
    for (const message of messages) assert.ok(Buffer.from(await client.readBinaryMessage()).equals(message));
    await client.close();
  });

  test("the upgrade request and the caller still report the peer's address", async () => {
    let request: UpgradeRequest | undefined;
    let callerAddress: unknown;
    const addresses = await startListener({
      "/": {
        config: { allowedOrigins: ["*"] },
        upgrade: (req) => {
          request = req;
          return { onTextMessage: (caller: { remoteAddress: unknown }) => void (callerAddress = caller.remoteAddress) };
        },
      },
    });
    const ws = await openWs(addresses.port, "/");
    const local = (ws as unknown as { _socket: Socket })._socket.localPort;
    ws.send("hi");
    await eventually(() => callerAddress !== undefined, 5000);
    assert.deepEqual(callerAddress, { host: "127.0.0.1", port: local });
    assert.deepEqual(request!.remoteAddress, { host: "127.0.0.1", port: local });
    ws.close();
  });
});

test("a shared http server's close() still waits for its WebSocket connections", async () => {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const listener = new Listener(server);
  listener.attach("/", echo);
  await listener.start();
  const port = (server.address() as { port: number }).port;
  const ws = await openWs(port, "/");
  ws.send("before");
  assert.deepEqual(await nextMessages(ws, 1), ["before"]);
  let serverClosed = false;
  server.close(() => (serverClosed = true));
  await delay(100);
  assert.equal(serverClosed, false, "closed while a WebSocket connection was open");
  ws.send("still open");
  assert.deepEqual(await nextMessages(ws, 1), ["still open"]);
  ws.close();
  await closed(ws);
  await eventually(() => serverClosed, 5000);
});

test("a shared https server echoes a 200,000-byte message", async () => {
  const certificate = selfSignedCertificate();
  const server = createHttpsServer({ cert: certificate.cert, key: certificate.key });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const listener = new Listener(server);
  listener.attach("/", echo);
  await listener.start();
  const port = (server.address() as { port: number }).port;
  try {
    const ws = new WebSocket(`wss://127.0.0.1:${port}/`, { rejectUnauthorized: false, perMessageDeflate: false });
    await new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject));
    const big = pattern(200_000, 7);
    const echoed = new Promise<Buffer>((resolve) => ws.once("message", (data: Buffer) => resolve(data)));
    ws.send(big);
    assert.ok((await echoed).equals(big));
    ws.close();
    await closed(ws);
  } finally {
    server.close();
    server.closeAllConnections();
    certificate.remove();
  }
});

/** Polls until `predicate` holds. */
async function eventually(predicate: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await delay(5);
  }
}
