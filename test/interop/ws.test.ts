/**
 * Interop with the `ws` client (npm) over real sockets against a ferry server.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import WebSocket, { type RawData } from "ws";
import {
  bigBinary,
  bigText,
  InteropServer,
  KEEPALIVE_WAIT_MS,
  LONG_CLOSE_REASON,
  MIB,
  newId,
  randomBytes,
  textOfBytes,
  UTF8_CLOSE_REASON,
  UTF8_SAMPLE,
  withTimeout,
} from "./fixture.ts";

const T = { timeout: 20_000 };

interface Received {
  data: Buffer;
  isBinary: boolean;
}

interface Closed {
  code: number;
  reason: string;
}

/** A ws client whose messages and close are collected, so no event is missed between awaits. */
class Peer {
  readonly ws: WebSocket;
  private readonly messages: Received[] = [];
  private readonly readers: ((message: Received) => void)[] = [];
  readonly closed: Promise<Closed>;
  readonly opened: Promise<void>;

  constructor(url: string, protocols?: string[]) {
    this.ws = new WebSocket(url, protocols, { perMessageDeflate: false, maxPayload: 8 * MIB });
    this.ws.on("message", (data: RawData, isBinary: boolean) => {
      const message = { data: toBuffer(data), isBinary };
      const reader = this.readers.shift();
      if (reader !== undefined) reader(message);
      else this.messages.push(message);
    });
    this.opened = withTimeout(
      new Promise<void>((resolve, reject) => {
        this.ws.once("open", () => resolve());
        this.ws.once("error", reject);
      }),
      `ws open ${url}`,
    );
    this.closed = new Promise<Closed>((resolve) => {
      this.ws.once("close", (code: number, reason: Buffer) => resolve({ code, reason: reason.toString("utf8") }));
    });
    this.opened.catch(() => undefined);
  }

  static async open(url: string, protocols?: string[]): Promise<Peer> {
    const peer = new Peer(url, protocols);
    await peer.opened;
    return peer;
  }

  next(what = "a message"): Promise<Received> {
    const queued = this.messages.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return withTimeout(new Promise<Received>((resolve) => this.readers.push(resolve)), what);
  }

  async nextText(): Promise<string> {
    const message = await this.next("a text message");
    assert.equal(message.isBinary, false, "expected a text message");
    return message.data.toString("utf8");
  }

  async nextBinary(): Promise<Buffer> {
    const message = await this.next("a binary message");
    assert.equal(message.isBinary, true, "expected a binary message");
    return message.data;
  }

  send(data: string | Uint8Array, options: { binary?: boolean; fin?: boolean } = {}): Promise<void> {
    return withTimeout(
      new Promise<void>((resolve, reject) => this.ws.send(data, options, (error) => (error ? reject(error) : resolve()))),
      "ws.send",
    );
  }

  waitClosed(): Promise<Closed> {
    return withTimeout(this.closed, "the ws close event");
  }

  /** Ends the connection quietly if a test left it open. */
  dispose(): void {
    if (this.ws.readyState !== WebSocket.CLOSED) this.ws.terminate();
  }
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

describe("interop: ws client ↔ ferry server", () => {
  let server: InteropServer;
  const peers: Peer[] = [];

  async function open(path: string, id?: string, protocols?: string[]): Promise<Peer> {
    const peer = new Peer(server.url(path, id), protocols);
    peers.push(peer);
    await peer.opened;
    return peer;
  }

  before(async () => {
    server = await InteropServer.start();
  });

  after(async () => {
    for (const peer of peers) peer.dispose();
    await server?.stop();
  });

  test("text message echo", T, async () => {
    const peer = await open("/echo");
    await peer.send("hello ferry");
    assert.equal(await peer.nextText(), "hello ferry");
    await peer.send("");
    assert.equal(await peer.nextText(), "", "an empty text message");
  });

  test("binary message echo", T, async () => {
    const peer = await open("/echo");
    const bytes = Uint8Array.from([0, 1, 2, 127, 128, 254, 255]);
    await peer.send(bytes);
    assert.deepEqual(new Uint8Array(await peer.nextBinary()), bytes);
    await peer.send(new Uint8Array(0));
    assert.equal((await peer.nextBinary()).length, 0, "an empty binary message");
  });

  test("UTF-8 multi-byte text echo", T, async () => {
    const peer = await open("/echo");
    await peer.send(UTF8_SAMPLE);
    assert.equal(await peer.nextText(), UTF8_SAMPLE);
  });

  test("1 MiB text and 1 MiB binary, each direction via echo", T, async () => {
    const peer = await open("/echo");
    const text = textOfBytes(MIB);
    assert.equal(Buffer.byteLength(text), MIB);
    const bytes = randomBytes(MIB, 42);
    await peer.send(text);
    await peer.send(bytes);
    const echoedText = await peer.nextText();
    assert.equal(Buffer.byteLength(echoedText), MIB);
    assert.ok(echoedText === text, "the 1 MiB text came back unchanged");
    const echoedBytes = await peer.nextBinary();
    assert.equal(echoedBytes.length, MIB);
    assert.ok(Buffer.from(bytes).equals(echoedBytes), "the 1 MiB binary came back unchanged");
  });

  test("fragmented text from ws, split inside a multi-byte code point, with a ping between fragments", T, async () => {
    const peer = await open("/echo");
    const whole = Buffer.from(`start ${UTF8_SAMPLE} end`);
    // Cut points chosen inside code points: the bytes of é, 中 and 🚀 are split across frames.
    const cuts = [whole.indexOf(Buffer.from("é")) + 1, whole.indexOf(Buffer.from("中")) + 2, whole.indexOf(Buffer.from("🚀")) + 3];
    const pieces = [whole.subarray(0, cuts[0]), whole.subarray(cuts[0], cuts[1]), whole.subarray(cuts[1], cuts[2]), whole.subarray(cuts[2])];
    const pong = withTimeout(new Promise<Buffer>((resolve) => peer.ws.once("pong", resolve)), "the pong");
    await peer.send(pieces[0]!, { binary: false, fin: false });
    await peer.send(pieces[1]!, { binary: false, fin: false });
    peer.ws.ping(Buffer.from("between fragments"));
    await peer.send(pieces[2]!, { binary: false, fin: false });
    await peer.send(pieces[3]!, { binary: false, fin: true });
    assert.equal((await pong).toString(), "between fragments", "a ping between fragments is answered");
    assert.equal(await peer.nextText(), whole.toString("utf8"));
  });

  test("fragmented binary from ws", T, async () => {
    const peer = await open("/echo");
    const bytes = randomBytes(200_000, 7);
    for (let start = 0; start < bytes.length; start += 30_000) {
      const end = Math.min(start + 30_000, bytes.length);
      await peer.send(bytes.subarray(start, end), { binary: true, fin: end === bytes.length });
    }
    assert.ok(Buffer.from(bytes).equals(await peer.nextBinary()));
    for (let i = 0; i < 3; i++) await peer.send(new Uint8Array(0), { binary: true, fin: i === 2 });
    assert.equal((await peer.nextBinary()).length, 0, "an empty message in three empty fragments");
  });

  test("ferry fragments large outbound messages (maxFrameSize 1000) and ws reassembles them", T, async () => {
    const peer = await open("/small-frames");
    await peer.send("cmd:big:8000");
    const text = await peer.nextText();
    assert.equal(Buffer.byteLength(text), 8000 * Buffer.byteLength(bigText(1)));
    assert.ok(text === bigText(8000), "the fragmented text reassembles to the original");
    await peer.send("cmd:bigbin:150000");
    assert.ok(Buffer.from(bigBinary(150_000)).equals(await peer.nextBinary()));
  });

  test("a text message in 2000 one-byte fragments", T, async () => {
    const peer = await open("/echo");
    const whole = Buffer.from("x".repeat(1990) + "ü€😀");
    const sends: Promise<void>[] = [];
    for (let i = 0; i < whole.length; i++) {
      sends.push(peer.send(whole.subarray(i, i + 1), { binary: false, fin: i === whole.length - 1 }));
    }
    await Promise.all(sends);
    assert.equal(await peer.nextText(), whole.toString("utf8"));
  });

  test("invalid UTF-8 in a text message: ferry closes with 1007", T, async () => {
    const id = newId("ws");
    const peer = await open("/echo", id);
    await peer.send(Buffer.from([0x68, 0x69, 0xc3, 0x28]), { binary: false });
    assert.equal((await peer.waitClosed()).code, 1007);
    assert.equal((await server.closed(id)).code, 1007);
  });

  test("a frame over maxFrameSize: ferry closes with 1009", T, async () => {
    const peer = await open("/small-frames");
    await peer.send(new Uint8Array(1001));
    assert.equal((await peer.waitClosed()).code, 1009);
  });

  test("ping from ws is answered with the same payload", T, async () => {
    const peer = await open("/echo");
    const pong = withTimeout(new Promise<Buffer>((resolve) => peer.ws.once("pong", resolve)), "the pong");
    peer.ws.ping(Buffer.from("are you there?"));
    assert.equal((await pong).toString(), "are you there?");
  });

  test("ferry's keep-alive pings (pingInterval) are answered by ws", T, async () => {
    const peer = await open("/keepalive");
    let pings = 0;
    peer.ws.on("ping", () => pings++);
    await delay(KEEPALIVE_WAIT_MS);
    await peer.send("cmd:pongs");
    const pongs = Number(await peer.nextText());
    assert.ok(pings >= 2, `ws saw ${pings} pings`);
    assert.ok(pongs >= 2, `ferry saw ${pongs} pongs`);
    assert.equal(peer.ws.readyState, WebSocket.OPEN);
  });

  test("sub-protocol: ferry picks the client's first offer it supports", T, async () => {
    const peer = await open("/proto", undefined, ["chat.v9", "chat.v1", "chat.v2"]);
    assert.equal(peer.ws.protocol, "chat.v1");
    await peer.send("cmd:protocol");
    assert.equal(await peer.nextText(), "chat.v1");

    const other = await open("/proto", undefined, ["chat.v2"]);
    assert.equal(other.ws.protocol, "chat.v2");

    const none = await open("/proto");
    assert.equal(none.ws.protocol, "", "no offer, no sub-protocol");
    await none.send("cmd:protocol");
    assert.equal(await none.nextText(), "(none)");
  });

  test("sub-protocol: an offer ferry does not speak gets no Sec-WebSocket-Protocol (ws then refuses)", T, async () => {
    const peer = new Peer(server.url("/proto"), ["chat.v9"]);
    peers.push(peer);
    await assert.rejects(peer.opened, /Server sent no subprotocol/);
  });

  test("ws closes with 4000 and a reason: ferry's onClose sees both, ws gets the code echoed", T, async () => {
    const id = newId("ws");
    const peer = await open("/echo", id);
    peer.ws.close(4000, "done here");
    assert.deepEqual(await peer.waitClosed(), { code: 4000, reason: "" });
    assert.deepEqual(await server.closed(id), { code: 4000, reason: "done here" });
  });

  test("ws closes without a code: ferry sees 1005 and echoes an empty close frame", T, async () => {
    const id = newId("ws");
    const peer = await open("/echo", id);
    peer.ws.close();
    assert.deepEqual(await peer.waitClosed(), { code: 1005, reason: "" });
    assert.deepEqual(await server.closed(id), { code: 1005, reason: "" });
  });

  test("ferry returns closeFrame(4001, \"bye\"): ws sees 4001 and \"bye\"", T, async () => {
    const id = newId("ws");
    const peer = await open("/echo", id);
    await peer.send("cmd:close");
    assert.deepEqual(await peer.waitClosed(), { code: 4001, reason: "bye" });
    assert.equal((await server.closed(id)).code, 4001);
  });

  test("caller.close(4002, \"caller bye\"): ws sees it", T, async () => {
    const id = newId("ws");
    const peer = await open("/echo", id);
    await peer.send("cmd:caller-close");
    assert.deepEqual(await peer.waitClosed(), { code: 4002, reason: "caller bye" });
    assert.equal((await server.closed(id)).code, 4002);
  });

  test("close reasons with multi-byte UTF-8, both directions", T, async () => {
    const id = newId("ws");
    const peer = await open("/echo", id);
    peer.ws.close(4000, "tschüß 🚀");
    await peer.waitClosed();
    assert.deepEqual(await server.closed(id), { code: 4000, reason: "tschüß 🚀" });

    const other = await open("/echo");
    await other.send("cmd:close-utf8");
    assert.deepEqual(await other.waitClosed(), { code: 4003, reason: UTF8_CLOSE_REASON });
  });

  test(
    "a returned closeFrame whose reason is over 123 bytes still closes",
    T,
    async () => {
      const peer = await open("/echo");
      await peer.send("cmd:close-long");
      const closed = await withTimeout(peer.closed, "the ws close event", 3_000);
      assert.equal(closed.code, 4004);
      assert.ok(Buffer.byteLength(closed.reason) <= 123 && LONG_CLOSE_REASON.startsWith(closed.reason));
    },
  );

  test("gracefulStop: ws sees 1001", T, async () => {
    const own = await InteropServer.start();
    try {
      const id = newId("ws");
      const peer = new Peer(own.url("/echo", id));
      peers.push(peer);
      await peer.opened;
      await own.opened(id);
      await own.stop();
      assert.equal((await peer.waitClosed()).code, 1001);
      assert.equal((await own.closed(id)).code, 1001);
    } finally {
      await own.stop();
    }
  });

  test("a ws client with an Origin header is refused by the same-origin default (403)", T, async () => {
    const refused = new WebSocket(server.url("/same-origin"), { origin: "http://elsewhere.example" });
    const status = await withTimeout(
      new Promise<number>((resolve, reject) => {
        refused.once("unexpected-response", (_request, response) => {
          resolve(response.statusCode ?? 0);
          refused.terminate();
        });
        refused.once("open", () => reject(new Error("the upgrade was accepted")));
        refused.once("error", reject);
      }),
      "the refusal",
    );
    assert.equal(status, 403);
    const allowed = await Peer.open(server.url("/same-origin"));
    peers.push(allowed);
    await allowed.send("no Origin header");
    assert.equal(await allowed.nextText(), "no Origin header");
  });
});
