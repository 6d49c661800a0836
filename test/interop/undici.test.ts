/**
 * Interop with undici's WHATWG WebSocket client (undici 7) over real sockets against a
 * ferry server. The WHATWG API cannot send fragments or pings; ferry's outbound
 * fragmentation is covered instead.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import { WebSocket } from "undici";
import {
  bigBinary,
  bigText,
  InteropServer,
  KEEPALIVE_WAIT_MS,
  MIB,
  newId,
  randomBytes,
  textOfBytes,
  UTF8_CLOSE_REASON,
  UTF8_SAMPLE,
  withTimeout,
} from "./fixture.ts";

const T = { timeout: 20_000 };

type UndiciWebSocket = InstanceType<typeof WebSocket>;

interface Closed {
  code: number;
  reason: string;
  wasClean: boolean;
}

/** An undici WebSocket whose messages and close are collected as they arrive. */
class Peer {
  readonly ws: UndiciWebSocket;
  private readonly messages: (string | Uint8Array)[] = [];
  private readonly readers: ((message: string | Uint8Array) => void)[] = [];
  readonly opened: Promise<void>;
  readonly closed: Promise<Closed>;
  errored = false;

  constructor(url: string, init?: { protocols?: string[]; headers?: Record<string, string> }) {
    this.ws = new WebSocket(url, init);
    this.ws.binaryType = "arraybuffer";
    this.ws.addEventListener("message", (event) => {
      const data: unknown = event.data;
      const message = typeof data === "string" ? data : new Uint8Array(data as ArrayBuffer);
      const reader = this.readers.shift();
      if (reader !== undefined) reader(message);
      else this.messages.push(message);
    });
    this.ws.addEventListener("error", () => {
      this.errored = true;
    });
    this.closed = new Promise<Closed>((resolve) => {
      this.ws.addEventListener("close", (event) => resolve({ code: event.code, reason: event.reason, wasClean: event.wasClean }));
    });
    this.opened = withTimeout(
      new Promise<void>((resolve, reject) => {
        this.ws.addEventListener("open", () => resolve());
        this.closed.then((closed) => reject(new Error(`closed before open: ${closed.code}`)));
      }),
      `undici open ${url}`,
    );
    this.opened.catch(() => undefined);
  }

  next(what = "a message"): Promise<string | Uint8Array> {
    const queued = this.messages.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return withTimeout(new Promise<string | Uint8Array>((resolve) => this.readers.push(resolve)), what);
  }

  async nextText(): Promise<string> {
    const message = await this.next("a text message");
    assert.equal(typeof message, "string", "expected a text message");
    return message as string;
  }

  async nextBinary(): Promise<Uint8Array> {
    const message = await this.next("a binary message");
    assert.ok(message instanceof Uint8Array, "expected a binary message");
    return message;
  }

  waitClosed(): Promise<Closed> {
    return withTimeout(this.closed, "the undici close event");
  }

  dispose(): void {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close();
  }
}

describe("interop: undici WebSocket ↔ ferry server", () => {
  let server: InteropServer;
  const peers: Peer[] = [];

  async function open(path: string, id?: string, protocols?: string[]): Promise<Peer> {
    const peer = new Peer(server.url(path, id), protocols === undefined ? undefined : { protocols });
    peers.push(peer);
    await peer.opened;
    return peer;
  }

  before(async () => {
    server = await InteropServer.start();
  });

  after(async () => {
    for (const peer of peers) peer.dispose();
    await Promise.all(peers.map((peer) => withTimeout(peer.closed, "undici peers to close").catch(() => undefined)));
    await server?.stop();
  });

  test("text message echo", T, async () => {
    const peer = await open("/echo");
    peer.ws.send("hello ferry");
    assert.equal(await peer.nextText(), "hello ferry");
    peer.ws.send("");
    assert.equal(await peer.nextText(), "", "an empty text message");
  });

  test("binary message echo (ArrayBuffer, typed array view and Blob)", T, async () => {
    const peer = await open("/echo");
    const bytes = Uint8Array.from([0, 1, 2, 127, 128, 254, 255]);
    peer.ws.send(bytes.buffer.slice(0));
    assert.deepEqual(await peer.nextBinary(), bytes);
    const backing = Uint8Array.from([9, 9, 1, 2, 3, 9]);
    peer.ws.send(backing.subarray(2, 5));
    assert.deepEqual(await peer.nextBinary(), Uint8Array.from([1, 2, 3]), "only the view's bytes go out");
    peer.ws.send(new Blob([Uint8Array.from([4, 5, 6])]));
    assert.deepEqual(await peer.nextBinary(), Uint8Array.from([4, 5, 6]));
  });

  test("UTF-8 multi-byte text echo", T, async () => {
    const peer = await open("/echo");
    peer.ws.send(UTF8_SAMPLE);
    assert.equal(await peer.nextText(), UTF8_SAMPLE);
  });

  test("1 MiB text and 1 MiB binary, each direction via echo", T, async () => {
    const peer = await open("/echo");
    const text = textOfBytes(MIB);
    const bytes = randomBytes(MIB, 43);
    peer.ws.send(text);
    peer.ws.send(bytes);
    const echoedText = await peer.nextText();
    assert.equal(Buffer.byteLength(echoedText), MIB);
    assert.ok(echoedText === text, "the 1 MiB text came back unchanged");
    const echoedBytes = await peer.nextBinary();
    assert.equal(echoedBytes.length, MIB);
    assert.ok(Buffer.from(bytes).equals(echoedBytes), "the 1 MiB binary came back unchanged");
  });

  test("ferry fragments large outbound messages (maxFrameSize 1000) and undici reassembles them", T, async () => {
    const peer = await open("/small-frames");
    peer.ws.send("cmd:big:8000");
    assert.ok((await peer.nextText()) === bigText(8000), "the fragmented text reassembles to the original");
    peer.ws.send("cmd:bigbin:150000");
    assert.ok(Buffer.from(bigBinary(150_000)).equals(await peer.nextBinary()));
  });

  test("ferry's keep-alive pings (pingInterval) are answered by undici", T, async () => {
    const peer = await open("/keepalive");
    await delay(KEEPALIVE_WAIT_MS);
    peer.ws.send("cmd:pongs");
    const pongs = Number(await peer.nextText());
    assert.ok(pongs >= 2, `ferry saw ${pongs} pongs`);
    assert.equal(peer.ws.readyState, WebSocket.OPEN);
  });

  test("sub-protocol: ferry picks the client's first offer it supports", T, async () => {
    const peer = await open("/proto", undefined, ["chat.v9", "chat.v1", "chat.v2"]);
    assert.equal(peer.ws.protocol, "chat.v1");
    peer.ws.send("cmd:protocol");
    assert.equal(await peer.nextText(), "chat.v1");

    const other = await open("/proto", undefined, ["chat.v2"]);
    assert.equal(other.ws.protocol, "chat.v2");

    const none = await open("/proto");
    assert.equal(none.ws.protocol, "", "no offer, no sub-protocol");
    none.ws.send("cmd:protocol");
    assert.equal(await none.nextText(), "(none)");
  });

  test("sub-protocol: an offer ferry does not speak gets no Sec-WebSocket-Protocol (undici then fails, 1006)", T, async () => {
    // The WHATWG WebSockets standard makes the client fail when it offered protocols and the
    // response names none (RFC 6455 would let it carry on). undici leaves the TCP connection
    // open when it does so; ferry drops it at connectionClosureTimeout after gracefulStop.
    const peer = new Peer(server.url("/proto"), { protocols: ["chat.v9"] });
    peers.push(peer);
    await assert.rejects(peer.opened, /closed before open: 1006/);
    assert.equal((await peer.waitClosed()).wasClean, false);
  });

  test("undici closes with 4000 and a reason: ferry's onClose sees both, undici gets the code echoed", T, async () => {
    const id = newId("undici");
    const peer = await open("/echo", id);
    peer.ws.close(4000, "done here");
    assert.deepEqual(await peer.waitClosed(), { code: 4000, reason: "", wasClean: true });
    assert.deepEqual(await server.closed(id), { code: 4000, reason: "done here" });
  });

  test("ferry returns closeFrame(4001, \"bye\"): undici sees 4001 and \"bye\"", T, async () => {
    const id = newId("undici");
    const peer = await open("/echo", id);
    peer.ws.send("cmd:close");
    assert.deepEqual(await peer.waitClosed(), { code: 4001, reason: "bye", wasClean: true });
    assert.equal((await server.closed(id)).code, 4001);
  });

  test("caller.close(4002, \"caller bye\"): undici sees it", T, async () => {
    const id = newId("undici");
    const peer = await open("/echo", id);
    peer.ws.send("cmd:caller-close");
    assert.deepEqual(await peer.waitClosed(), { code: 4002, reason: "caller bye", wasClean: true });
  });

  test("close reasons with multi-byte UTF-8, both directions", T, async () => {
    const id = newId("undici");
    const peer = await open("/echo", id);
    peer.ws.close(4000, "tschüß 🚀");
    await peer.waitClosed();
    assert.deepEqual(await server.closed(id), { code: 4000, reason: "tschüß 🚀" });

    const other = await open("/echo");
    other.ws.send("cmd:close-utf8");
    assert.deepEqual(await other.waitClosed(), { code: 4003, reason: UTF8_CLOSE_REASON, wasClean: true });
  });

  test("gracefulStop: undici sees 1001", T, async () => {
    const own = await InteropServer.start();
    try {
      const id = newId("undici");
      const peer = new Peer(own.url("/echo", id));
      peers.push(peer);
      await peer.opened;
      await own.opened(id);
      await own.stop();
      const closed = await peer.waitClosed();
      assert.equal(closed.code, 1001);
      assert.equal(closed.wasClean, true);
    } finally {
      await own.stop();
    }
  });

  test("a cross-origin Origin header is refused by the same-origin default: undici fails with 1006", T, async () => {
    const peer = new Peer(server.url("/same-origin"), { headers: { Origin: "http://elsewhere.example" } });
    peers.push(peer);
    await assert.rejects(peer.opened);
    assert.equal(peer.errored, true, "an error event precedes the close");
    const closed = await peer.waitClosed();
    assert.equal(closed.code, 1006);
    assert.equal(closed.wasClean, false);
  });
});
