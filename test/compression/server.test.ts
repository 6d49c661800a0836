// permessage-deflate on the server: negotiation over HTTP, limits, errors, order and
// backpressure with compression in the way, context takeover, windows, memory.
import assert from "node:assert/strict";
import { createHook } from "node:async_hooks";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { describe, test } from "node:test";
import { constants, deflateRawSync } from "node:zlib";
import { type Caller, closeFrame, CorruptedFrameError, PayloadTooLargeError, type ServiceConfig, type WebSocketError } from "../../src/index.ts";
import { deferred, delay, rawHttp, startListener, upgradeRequest } from "../helpers/listener.ts";
import { connectDeflate, describe as describeEvents, FIN, OP_BINARY, OP_CONTINUATION, OP_PING, OP_TEXT, PAYLOADS, RSV1, TestDeflater } from "./deflate-peer.ts";

const MIB = 1024 * 1024;

interface Seen {
  messages: string[];
  errors: WebSocketError[];
  closes: number[];
}

const seen = new Map<string, Seen>();
const gate = { release: deferred<void>() };

function echoService(config: ServiceConfig = {}) {
  return {
    config: { maxFrameSize: 4 * MIB, ...config },
    upgrade(request: { query: URLSearchParams }) {
      const record: Seen = { messages: [], errors: [], closes: [] };
      seen.set(request.query.get("id") ?? "", record);
      return {
        async onTextMessage(caller: Caller, text: string): Promise<unknown> {
          record.messages.push(text.length > 40 ? `${text.slice(0, 20)}…${text.length}` : text);
          if (text === "wait") await gate.release.promise;
          if (text.startsWith("burst")) {
            // Large (compressed through the pool), tiny (plain), small (compressed at once), and a close last.
            await caller.writeTextMessage(PAYLOADS.json(40_000).toString());
            await caller.writeTextMessage("a");
            await caller.writeTextMessage(PAYLOADS.json(2000).toString());
            await caller.writeBinaryMessage(PAYLOADS.random(30_000));
            return closeFrame(4000, "done");
          }
          if (text.startsWith("flood:")) {
            for (let i = 0; i < Number(text.slice(6)); i++) await caller.writeBinaryMessage(Buffer.concat([Buffer.from([i & 0xff]), PAYLOADS.random(64 * 1024)]));
            return "flooded";
          }
          return text;
        },
        onBinaryMessage: (_caller: Caller, data: Uint8Array) => data,
        onError(_caller: Caller, error: WebSocketError) {
          record.errors.push(error);
        },
        onClose(_caller: Caller, code: number) {
          record.closes.push(code);
        },
      };
    },
  };
}

const listener = await startListener({
  "/": echoService(),
  "/plain": echoService({ compression: { serverNoContextTakeover: false, clientNoContextTakeover: false } }),
  "/limits": echoService({ maxMessageSize: MIB }),
  "/bomb": echoService({ maxMessageSize: 2 * MIB }),
  "/plain-bomb": echoService({ maxMessageSize: 2 * MIB, compression: { serverNoContextTakeover: false, clientNoContextTakeover: false } }),
  "/threshold": echoService({ compression: { threshold: 100 } }),
  "/windows": echoService({ compression: { serverMaxWindowBits: 10, clientMaxWindowBits: 9 } }),
  "/queue": echoService({ maxQueuedBytes: 256 * 1024 }),
});
const uncompressed = await startListener({ "/": echoService() }, { webSocketCompressionEnabled: false });

const BROWSER_OFFER = "permessage-deflate; client_max_window_bits";

/** Waits up to 5 s for what the server side does after the peer has seen it happen. */
async function eventually(predicate: () => boolean, what: string): Promise<void> {
  for (const deadline = Date.now() + 5000; !predicate(); await delay(10)) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
  }
}

let nextId = 1;
/** `offer` null: no Sec-WebSocket-Extensions at all. */
function open(path: string, offer: string | null = BROWSER_OFFER, port = listener.port) {
  const id = `c${nextId++}`;
  return connectDeflate(port, `${path}?id=${id}`, offer ?? undefined).then((client) => ({ ...client, id, seen: () => seen.get(id)! }));
}

describe("server: negotiation over HTTP", () => {
  const answers: [string, string | undefined, string | undefined][] = [
    ["/", "permessage-deflate; client_max_window_bits", "permessage-deflate; server_no_context_takeover; client_no_context_takeover"],
    ["/plain", "permessage-deflate; client_max_window_bits", "permessage-deflate"],
    ["/plain", "permessage-deflate; client_max_window_bits=12; server_max_window_bits=10", "permessage-deflate; server_max_window_bits=10; client_max_window_bits=12"],
    ["/windows", "permessage-deflate; client_max_window_bits", "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=9"],
    ["/windows", "permessage-deflate", "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10"],
    ["/", "x-webkit-deflate-frame", undefined],
    ["/", "permessage-deflate; server_max_window_bits=7", undefined],
    ["/", "permessage-deflate; mystery", undefined],
    ["/", "permessage-deflate; mystery, permessage-deflate", "permessage-deflate; server_no_context_takeover; client_no_context_takeover"],
    ["/", undefined, undefined],
  ];
  for (const [path, offer, answer] of answers) {
    test(`${path}: ${offer ?? "no offer"} → ${answer ?? "no extension"}`, async () => {
      const response = await rawHttp(listener.port, upgradeRequest(path, offer === undefined ? [] : [`Sec-WebSocket-Extensions: ${offer}`]));
      assert.equal(response.status, 101);
      assert.equal(response.headers["sec-websocket-extensions"], answer);
    });
  }

  test("offers on repeated header lines are read as one list", async () => {
    const response = await rawHttp(listener.port, upgradeRequest("/", ["Sec-WebSocket-Extensions: x-foo", "Sec-WebSocket-Extensions: permessage-deflate"]));
    assert.equal(response.headers["sec-websocket-extensions"], "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
  });

  for (const header of ["permessage-deflate;", "permessage-deflate; a=\"unterminated", "perm essage"]) {
    test(`a header that does not parse (${JSON.stringify(header)}) gets 400`, async () => {
      const response = await rawHttp(listener.port, upgradeRequest("/", [`Sec-WebSocket-Extensions: ${header}`]));
      assert.equal(response.status, 400);
      assert.match(response.body, /Sec-WebSocket-Extensions/);
    });
  }

  test("webSocketCompressionEnabled: false never negotiates, and ignores a malformed header", async () => {
    for (const offer of ["permessage-deflate", "permessage-deflate;"]) {
      const response = await rawHttp(uncompressed.port, upgradeRequest("/", [`Sec-WebSocket-Extensions: ${offer}`]));
      assert.equal(response.status, 101);
      assert.equal(response.headers["sec-websocket-extensions"], undefined);
    }
  });

  test("without compression agreed, RSV1 is a protocol error (1002)", async () => {
    for (const [port, offer] of [[uncompressed.port, "permessage-deflate"], [listener.port, null]] as const) {
      const { peer } = await open("/", offer, port);
      peer.sendFrame(FIN | RSV1 | OP_TEXT, deflateRawSync("hello"));
      assert.equal((await peer.closeEvent()).code, 1002);
    }
  });
});

describe("server: compressed frames", () => {
  test("the threshold: below it plain, at it compressed", async () => {
    const { peer } = await open("/threshold");
    peer.sendText("x".repeat(99));
    peer.sendText("x".repeat(100));
    const [below, at] = await peer.take(2);
    assert.deepEqual([below?.type === "text" && below.compressed, at?.type === "text" && at.compressed], [false, true]);
  });

  test("uncompressed messages between compressed ones, in both directions", async () => {
    const { peer } = await open("/plain");
    const texts = [PAYLOADS.prose(3000), "short", PAYLOADS.html(50_000), PAYLOADS.json(5000)].map(String);
    peer.sendText(texts[0]!);
    peer.sendText(texts[1]!, { compress: false });
    peer.sendText(texts[2]!, { compress: false });
    peer.sendText(texts[3]!);
    const events = await peer.take(4);
    assert.deepEqual(events.map((e) => (e.type === "text" ? e.text : e.type)), texts);
    assert.deepEqual(events.map((e) => e.type === "text" && e.compressed), [true, false, true, true]);
  });

  test("an empty compressed message", async () => {
    const { peer } = await open("/");
    peer.sendFrame(FIN | RSV1 | OP_BINARY, Buffer.from([0x00]));
    peer.sendFrame(FIN | RSV1 | OP_TEXT, Buffer.alloc(0));
    const events = await peer.take(2);
    assert.deepEqual(events.map((e) => e.type), ["binary", "text"]);
  });

  const violations: [string, (peer: Awaited<ReturnType<typeof open>>["peer"]) => void][] = [
    ["RSV1 on a continuation frame", (peer) => {
      const wire = new TestDeflater(true, 15).compress(Buffer.from("hello hello hello"));
      peer.sendFrame(RSV1 | OP_TEXT, wire.subarray(0, 5));
      peer.sendFrame(FIN | RSV1 | OP_CONTINUATION, wire.subarray(5));
    }],
    ["RSV1 on a ping", (peer) => peer.sendFrame(FIN | RSV1 | OP_PING, Buffer.from("x"))],
    ["RSV2 on a compressed frame", (peer) => peer.sendFrame(FIN | RSV1 | 0x20 | OP_TEXT, deflateRawSync("x"))],
  ];
  for (const [name, send] of violations) {
    test(`${name}: 1002`, async () => {
      const { peer, seen } = await open("/");
      send(peer);
      assert.equal((await peer.closeEvent()).code, 1002);
      await peer.waitForTcpClose();
      assert.ok(seen().errors[0] instanceof CorruptedFrameError, String(seen().errors[0]));
    });
  }
});

describe("server: limits and errors", () => {
  function zeroBomb(size: number): Buffer {
    const primer = deflateRawSync(Buffer.alloc(32 * 1024), { finishFlush: constants.Z_SYNC_FLUSH });
    const block = deflateRawSync(Buffer.alloc(MIB), { finishFlush: constants.Z_SYNC_FLUSH, dictionary: Buffer.alloc(32 * 1024) });
    const all = Buffer.concat([primer, ...Array.from({ length: Math.ceil(size / MIB) }, () => block)]);
    return all.subarray(0, all.length - 4);
  }

  for (const path of ["/bomb", "/plain-bomb"]) {
    test(`${path}: a 1 MiB frame that inflates to 1 GiB closes with 1009 and is never held`, async () => {
      const bomb = zeroBomb(1024 * MIB);
      const { peer, seen } = await open(path);
      const peak = process.resourceUsage().maxRSS;
      peer.sendFrame(FIN | RSV1 | OP_BINARY, bomb);
      const close = await peer.closeEvent(10_000);
      assert.equal(close.code, 1009);
      assert.match(close.reason, /inflates to more than maxMessageSize of 2097152 bytes/);
      await peer.waitForTcpClose();
      const grew = (process.resourceUsage().maxRSS - peak) / 1024;
      assert.ok(grew < 128, `peak RSS grew by ${grew.toFixed(0)} MiB`);
      assert.ok(seen().errors[0] instanceof PayloadTooLargeError, String(seen().errors[0]));
      // The service hears of the close when the server's socket closes, which need not come
      // before the peer's own socket closes (on Node 24 it comes just after).
      await eventually(() => seen().closes.length > 0, "onClose");
      assert.deepEqual(seen().closes, [1009]);
    });
  }

  test("a small bomb, inflated at once, closes with 1009 too; a message right at the limit passes", async () => {
    const { peer } = await open("/limits");
    peer.sendBinary(Buffer.alloc(MIB));
    peer.sendBinary(Buffer.alloc(MIB + 1));
    const [echo, close] = await peer.take(2);
    assert.ok(echo?.type === "binary" && echo.data.length === MIB, describeEvents(peer.events));
    assert.equal(close?.type === "close" && close.code, 1009);
  });

  const corrupt: [string, Buffer][] = [
    ["small", Buffer.from([0xff, 0xff, 0xff, 0xff])],
    ["large (inflated through the pool)", Buffer.concat([deflateRawSync(PAYLOADS.random(20_000), { finishFlush: constants.Z_SYNC_FLUSH }), Buffer.from([0xff, 0xff])])],
  ];
  for (const path of ["/", "/plain"]) {
    for (const [name, data] of corrupt) {
      test(`${path}: corrupt compressed data, ${name}: 1007`, async () => {
        const { peer, seen } = await open(path);
        peer.sendText("before");
        peer.sendFrame(FIN | RSV1 | OP_BINARY, data);
        peer.sendText("after: never handled");
        const close = await peer.closeEvent();
        assert.equal(close.code, 1007);
        assert.match(close.reason, /^Invalid compressed data/);
        await peer.waitForTcpClose();
        assert.deepEqual(seen().messages, ["before"]);
        assert.ok(seen().errors[0] instanceof CorruptedFrameError, String(seen().errors[0]));
        assert.equal(seen().errors[0]!.closeCode, 1007);
      });
    }
  }

  for (const [name, size] of [["small", 100], ["large", 30_000]] as const) {
    test(`invalid UTF-8 in a compressed text message (${name}): 1007`, async () => {
      const { peer } = await open("/");
      // Random ASCII: too little redundancy for a large one to inflate at once.
      const ascii = PAYLOADS.random(size).map((b) => 0x21 + (b % 94));
      const bytes = Buffer.concat([ascii, Buffer.from([0xc3, 0x28])]);
      peer.send(OP_TEXT, bytes);
      assert.equal((await peer.closeEvent()).code, 1007);
      assert.deepEqual(peer.events.map((e) => e.type), ["close"]);
    });
  }
});

describe("server: order, pings and closing with compression in the way", () => {
  test("a large compressed message, a plain one and a small compressed one are handled in order", async () => {
    const { peer, seen } = await open("/");
    const big = PAYLOADS.json(200_000).toString();
    peer.sendText(big);
    peer.sendText("plain", { compress: false });
    peer.sendText(PAYLOADS.json(2000).toString());
    peer.sendText("plain again", { compress: false });
    const events = await peer.take(4);
    assert.deepEqual(events.map((e) => (e.type === "text" ? e.text.length : e.type)), [200_000, 5, 2000, 11]);
    assert.deepEqual(seen().messages, [`${big.slice(0, 20)}…200000`, "plain", `${PAYLOADS.json(2000).toString().slice(0, 20)}…2000`, "plain again"]);
  });

  test("a ping behind a large compressed message is answered before its echo", async () => {
    const { peer } = await open("/");
    const frames = [...peer.encode(OP_TEXT, PAYLOADS.json(3 * MIB).toString()), Buffer.from([FIN | OP_PING, 0x80, 0, 0, 0, 0])];
    peer.socket.write(Buffer.concat(frames));
    await peer.take(2, 10_000);
    assert.deepEqual(peer.events.map((e) => e.type), ["pong", "text"]);
  });

  test("pings are answered while a compressed message waits behind a busy handler", async () => {
    gate.release = deferred<void>();
    const { peer, seen } = await open("/");
    peer.sendText("wait");
    peer.sendText(PAYLOADS.json(40_000).toString());
    peer.sendPing(Buffer.from("alive"));
    const [pong] = await peer.take(1);
    assert.deepEqual(pong, { type: "pong", data: Buffer.from("alive") });
    assert.deepEqual(seen().messages, ["wait"]);
    gate.release.resolve();
    const events = await peer.take(3);
    assert.deepEqual(events.slice(1).map((e) => (e.type === "text" ? e.text.length : e.type)), [4, 40_000]);
  });

  test("messages held behind a busy handler stay compressed until their turn", async () => {
    gate.release = deferred<void>();
    const { peer, seen } = await open("/");
    peer.sendText("wait");
    // 1000 messages of ~80 bytes on the wire that inflate to 60 000 each: 60 MB if inflated early.
    const frames = peer.encode(OP_TEXT, "z".repeat(60_000));
    const peak = process.resourceUsage().maxRSS;
    peer.socket.write(Buffer.concat(Array.from({ length: 1000 }, () => frames).flat()));
    peer.sendPing(Buffer.from("sync"));
    await peer.until(() => peer.events.some((e) => e.type === "pong"));
    await delay(100);
    const grew = (process.resourceUsage().maxRSS - peak) / 1024;
    assert.ok(grew < 32, `peak RSS grew by ${grew.toFixed(0)} MiB while messages were held`);
    gate.release.resolve();
    await peer.until(() => seen().messages.length === 1001, 20_000, "every message handled");
  });

  test("a close frame right behind a large compressed message: the message is handled, the close echoed at once", async () => {
    const { peer, seen } = await open("/");
    const frames = [...peer.encode(OP_TEXT, PAYLOADS.json(300_000).toString()), Buffer.from([FIN | 0x8, 0x82, 0, 0, 0, 0, 0x03, 0xe8])];
    peer.closeSent = true;
    peer.socket.write(Buffer.concat(frames));
    assert.equal((await peer.closeEvent()).code, 1000);
    await peer.waitForTcpClose();
    // The message is still being inflated when TCP closes; onClose comes after it all the same.
    await eventually(() => seen().closes.length > 0, "onClose");
    assert.deepEqual(seen().messages, [`${PAYLOADS.json(300_000).toString().slice(0, 20)}…300000`]);
    assert.deepEqual(seen().closes, [1000]);
  });

  for (const path of ["/", "/plain"]) {
    test(`${path}: writes leave in the order made, compressed or not, and the close frame after them`, async () => {
      const { peer } = await open(path);
      peer.sendText("burst", { compress: false });
      const events = await peer.take(5);
      assert.deepEqual(
        events.map((e) => (e.type === "text" || e.type === "binary" ? `${e.type} ${e.type === "text" ? e.text.length : e.data.length} ${e.compressed}` : e.type)),
        ["text 40000 true", "text 1 false", "text 2000 true", "binary 30000 true", "close"],
      );
      assert.deepEqual(events[4], { type: "close", code: 4000, reason: "done" });
      assert.deepEqual(peer.events.filter((e) => e.type === "violation"), []);
    });
  }

  test("backpressure: writes wait while compressed messages pile up, and all arrive in order", async () => {
    const { peer } = await open("/queue");
    peer.socket.pause();
    peer.sendText("flood:60", { compress: false });
    await delay(300);
    peer.socket.resume();
    const events = await peer.take(61, 20_000);
    events.slice(0, 60).forEach((event, i) => assert.ok(event.type === "binary" && event.data[0] === (i & 0xff) && event.data.length === 64 * 1024 + 1, `message ${i}`));
    assert.deepEqual(events[60], { type: "text", text: "flooded", compressed: false, frames: 1, wireBytes: 7 });
  });
});

describe("server: context takeover and windows", () => {
  test("ferry's defaults: every echo compresses on its own", async () => {
    const { peer } = await open("/");
    const text = PAYLOADS.html(20_000).toString();
    peer.sendText(text);
    peer.sendText(text);
    const [first, second] = await peer.take(2);
    assert.ok(first?.type === "text" && second?.type === "text", describeEvents(peer.events));
    assert.equal(second.wireBytes, first.wireBytes);
  });

  test("context takeover allowed: a repeated echo refers back and shrinks", async () => {
    const { peer, terms } = await open("/plain");
    assert.equal(terms?.serverNoContextTakeover, false);
    const text = PAYLOADS.html(20_000).toString();
    for (let i = 0; i < 3; i++) peer.sendText(text);
    const events = await peer.take(3);
    const sizes = events.map((e) => (e.type === "text" && e.text === text ? e.wireBytes : -1));
    assert.ok(sizes[1]! * 4 < sizes[0]! && sizes[2]! * 4 < sizes[0]!, `wire sizes ${sizes.join(", ")}`);
  });

  test("server_max_window_bits=8: Huffman-only echoes that any 256-byte window inflates", async () => {
    const { peer, terms } = await open("/plain", "permessage-deflate; server_max_window_bits=8");
    assert.equal(terms?.serverMaxWindowBits, 8);
    peer.sendText("a".repeat(100_000));
    const [echo] = await peer.take(1);
    assert.ok(echo?.type === "text" && echo.text === "a".repeat(100_000), describeEvents(peer.events));
    assert.ok(echo.wireBytes >= 100_000 / 8, `${echo.wireBytes} bytes: no back-references`);
  });

  test("client_max_window_bits=8 and a client that keeps its context", async () => {
    const { peer, terms } = await open("/plain", "permessage-deflate; client_max_window_bits=8");
    assert.deepEqual(terms, { serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 15, clientMaxWindowBits: 8 });
    const texts = Array.from({ length: 5 }, (_, i) => PAYLOADS.prose(2000 + i).toString());
    for (const text of texts) peer.sendText(text);
    const events = await peer.take(5);
    assert.deepEqual(events.map((e) => e.type === "text" && e.text), texts);
  });

  test("the service's own window limits", async () => {
    const { peer, terms } = await open("/windows");
    assert.deepEqual(terms, { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 10, clientMaxWindowBits: 9 });
    const chunk = PAYLOADS.random(2000);
    const message = Buffer.concat([chunk, chunk]);
    peer.sendBinary(message);
    const [echo] = await peer.take(1);
    assert.ok(echo?.type === "binary" && echo.data.equals(message), describeEvents(peer.events));
    // The repeat is 2000 bytes back, out of a 1024-byte window's reach.
    assert.ok(echo.wireBytes > 3900, `${echo.wireBytes} bytes`);
  });
});

describe("server: memory", () => {
  // How much memory an idle connection costs depends on Node (Buffer.poolSize went from 8 to
  // 64 KiB in Node 24), on V8 and on the allocator: bench/compression.ts reports it. What holds
  // on every Node is that zlib state is lent per message, not kept per connection: counted
  // here as the zlib handles still alive once every connection has gone idle.
  const liveZlibHandles = async (path: string, count: number): Promise<number> => {
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as () => void;
    const live = new Set<number>();
    const hook = createHook({
      init: (id, type) => void (type === "ZLIB" && live.add(id)),
      // Node destroys a closed zlib handle when it is collected.
      destroy: (id) => void live.delete(id),
    }).enable();
    const peers = [];
    try {
      // Random ASCII compresses too little to be inflated at once: both directions use streams.
      const text = Buffer.from(PAYLOADS.random(30_000).map((b) => 0x21 + (b % 94))).toString();
      for (let i = 0; i < count; i++) {
        const { peer } = await open(path);
        peer.sendText(text);
        peers.push(peer);
      }
      for (const peer of peers) assert.ok((await peer.take(1))[0]?.type === "text", describeEvents(peer.events));
      for (let i = 0; i < 3; i++) {
        gc();
        await delay(50);
      }
      return live.size;
    } finally {
      hook.disable();
      for (const peer of peers) peer.destroy();
    }
  };

  test("an idle connection keeps no zlib state once its messages are done", async () => {
    const count = 60;
    const live = await liveZlibHandles("/", count);
    // At most the pools' streams (16 of each kind) stay, however many connections are open.
    assert.ok(live <= 32, `${live} zlib streams alive for ${count} idle connections`);
    // With context takeover each connection keeps its own pair, as it must: what is counted
    // above would show streams held per connection.
    assert.ok((await liveZlibHandles("/plain", count)) >= 2 * count);
  });
});
