import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  type Caller,
  closeFrame,
  CorruptedFrameError,
  InvalidContinuationFrameError,
  NORMAL_CLOSURE,
  PayloadTooLargeError,
  type Service,
  WebSocketError,
} from "../../src/index.ts";
import { FIN } from "../../src/protocol/frame-writer.ts";
import { closed, deferred, delay, nextMessages, openWs, startListener, within } from "../helpers/listener.ts";
import { type RawEvent, RawWebSocket } from "../helpers/raw-ws.ts";

const anyOrigin = { allowedOrigins: ["*"] };

/** A listener with one service at "/" built by `make`. */
async function serve(make: () => Service, config: Record<string, unknown> = {}): Promise<number> {
  const listener = await startListener({ "/": { config: { ...anyOrigin, ...config }, upgrade: make } });
  return listener.port;
}

describe("return values", async () => {
  const port = await serve(() => ({
    onTextMessage(_caller: Caller, text: string): unknown {
      switch (text) {
        case "string":
          return "a string";
        case "bytes":
          return new Uint8Array([1, 2, 3]);
        case "buffer":
          return Buffer.from("buf");
        case "arraybuffer":
          return new Uint8Array([9, 8]).buffer;
        case "object":
          return { a: 1, b: [true, null] };
        case "array":
          return [1, "two"];
        case "number":
          return 42;
        case "null":
          return null;
        case "undefined":
          return undefined;
        case "async":
          return Promise.resolve("resolved later");
        case "plain-close":
          return { status: 1000 };
        case "close":
          return closeFrame(4001, "bye");
        case "constant":
          return NORMAL_CLOSURE;
        case "invalid-close":
          return closeFrame(1005);
        default:
          return `unknown ${text}`;
      }
    },
  }));

  test("text, bytes, JSON; null and undefined send nothing", async () => {
    const ws = await openWs(port, "/");
    for (const m of ["string", "bytes", "buffer", "arraybuffer", "object", "array", "number", "null", "undefined", "async", "plain-close"]) ws.send(m);
    const got = await nextMessages(ws, 9);
    assert.deepEqual(got, [
      "a string",
      Buffer.from([1, 2, 3]),
      Buffer.from("buf"),
      Buffer.from([9, 8]),
      '{"a":1,"b":[true,null]}',
      '[1,"two"]',
      "42",
      "resolved later",
      '{"status":1000}',
    ]);
    ws.close();
  });

  test("a returned close frame closes with its code and reason", async () => {
    const ws = await openWs(port, "/");
    const result = closed(ws);
    ws.send("close");
    assert.deepEqual(await result, { code: 4001, reason: "bye" });
    const other = await openWs(port, "/");
    const second = closed(other);
    other.send("constant");
    assert.equal((await second).code, 1000);
  });

  test("a returned close frame with an invalid code drops TCP: the peer sees 1006", async () => {
    const ws = await openWs(port, "/");
    const result = closed(ws);
    ws.send("invalid-close");
    assert.equal((await result).code, 1006);
  });

  test("... and is logged once, with onClose(1006) and no onError, returned or yielded by a stream", async (t) => {
    const cases: Record<string, () => unknown> = {
      returned: () => closeFrame(999),
      yielded: () =>
        (async function* () {
          yield "first";
          yield closeFrame(999);
        })(),
    };
    for (const [how, reply] of Object.entries(cases)) {
      const log: string[] = [];
      const done = deferred<void>();
      const port = await serve(() => ({
        onTextMessage: reply,
        onError: (_c: Caller, error: WebSocketError) => void log.push(`onError ${error.message}`),
        onClose: (_c: Caller, code: number) => {
          log.push(`onClose ${code}`);
          done.resolve();
        },
      }));
      const previous = process.env["FERRY_LOG"];
      process.env["FERRY_LOG"] = "";
      const logged = t.mock.method(console, "error", () => undefined);
      try {
        const ws = await openWs(port, "/");
        const result = closed(ws);
        ws.send("go");
        assert.equal((await result).code, 1006, how);
        await within(done.promise, 5000, `onClose (${how})`);
        await delay(100);
      } finally {
        process.env["FERRY_LOG"] = previous;
        logged.mock.restore();
      }
      assert.deepEqual(log, ["onClose 1006"], how);
      assert.deepEqual(
        logged.mock.calls.map((call) => String(call.arguments[0])),
        ["ferry: a close frame with the invalid status 999 was written; dropping the connection"],
        how,
      );
    }
  });
});

describe("streams", async () => {
  const port = await serve(() => ({
    async *onTextMessage(_caller: Caller, text: string): AsyncGenerator<unknown> {
      if (text === "count") {
        for (let i = 1; i <= 3; i++) {
          await delay(40);
          yield `tick ${i}`;
        }
      } else if (text === "fail") {
        yield "before";
        throw new Error("source broke");
      } else if (text === "close") {
        yield "last";
        yield closeFrame(4002, "stream done");
        yield "never";
      } else {
        yield `quick ${text}`;
      }
    },
    onBinaryMessage(): Generator<unknown> {
      return (function* () {
        yield "sync 1";
        yield { n: 2 };
      })();
    },
  }));

  test("an async generator streams while later messages are handled", async () => {
    const ws = await openWs(port, "/");
    ws.send("count");
    ws.send("other");
    const got = await nextMessages(ws, 4);
    assert.equal(got[0], "quick other", "the later message is answered before the stream ends");
    assert.deepEqual(got.slice(1), ["tick 1", "tick 2", "tick 3"]);
    ws.close();
  });

  test("a sync generator sends one message per element", async () => {
    const ws = await openWs(port, "/");
    ws.send(Buffer.from([0]));
    assert.deepEqual(await nextMessages(ws, 2), ["sync 1", '{"n":2}']);
    ws.close();
  });

  test("an element that throws closes with 1011 streaming failed", async () => {
    const ws = await openWs(port, "/");
    const result = closed(ws);
    ws.send("fail");
    assert.deepEqual(await nextMessages(ws, 1), ["before"]);
    assert.deepEqual(await result, { code: 1011, reason: "streaming failed: source broke" });
  });

  test("a close frame as an element closes", async () => {
    const ws = await openWs(port, "/");
    const result = closed(ws);
    ws.send("close");
    assert.deepEqual(await nextMessages(ws, 1), ["last"]);
    assert.deepEqual(await result, { code: 4002, reason: "stream done" });
  });
});

describe("a returned stream that fails beside later messages", () => {
  test("onError gets what it threw, once the handler then running is done, and before onClose", async () => {
    const log: string[] = [];
    let running = false;
    const port = await serve(() => ({
      async onTextMessage(_caller: Caller, text: string): Promise<unknown> {
        if (text === "stream") {
          return (async function* () {
            yield "first";
            await delay(30);
            throw new Error("source broke");
          })();
        }
        running = true;
        await delay(300);
        running = false;
        log.push("slow handler done");
        return undefined;
      },
      onError(_caller: Caller, error: Error): void {
        log.push(`onError ${error.message}${running ? " while a handler ran" : ""}`);
      },
      onClose(_caller: Caller, code: number): void {
        log.push(`onClose ${code}`);
      },
    }));
    const raw = await RawWebSocket.open(port, "/");
    raw.sendText("stream");
    raw.sendText("slow");
    assert.deepEqual(await raw.event(1), { type: "close", code: 1011, reason: "streaming failed: source broke" });
    raw.sendClose(1011);
    await raw.waitForTcpClose();
    await delay(400);
    assert.deepEqual(log, ["slow handler done", "onError source broke", "onClose 1011"]);
  });

  test("a stream that fails after the connection closed is only logged: onClose stays the last event", async () => {
    const log: string[] = [];
    const failed = deferred<void>();
    const port = await serve(() => ({
      onTextMessage(): unknown {
        return (async function* () {
          yield "a";
          await delay(300);
          failed.resolve();
          throw new Error("source failed");
        })();
      },
      onError(_caller: Caller, error: Error): void {
        log.push(`onError ${error.message}`);
      },
      onClose(_caller: Caller, code: number): void {
        log.push(`onClose ${code}`);
      },
    }));
    const raw = await RawWebSocket.open(port, "/");
    raw.sendText("stream");
    assert.deepEqual(await raw.event(0), { type: "text", data: "a" });
    raw.sendClose(1000);
    await raw.waitForTcpClose();
    await within(failed.promise, 5000, "the stream's failure");
    await delay(200);
    assert.deepEqual(log, ["onClose 1000"]);
  });
});

describe("order and pings", () => {
  test("events are handled one at a time, in order, even with async handlers", async () => {
    let running = 0;
    let overlap = false;
    const port = await serve(() => ({
      async onTextMessage(_caller: Caller, text: string): Promise<string> {
        running++;
        if (running > 1) overlap = true;
        await delay(Math.random() * 10);
        running--;
        return text;
      },
    }));
    const ws = await openWs(port, "/");
    const sent = Array.from({ length: 30 }, (_, i) => `m${i}`);
    for (const m of sent) ws.send(m);
    assert.deepEqual(await nextMessages(ws, 30), sent);
    assert.equal(overlap, false);
    ws.close();
  });

  test("automatic pongs do not wait behind a busy handler", async () => {
    const release = deferred<void>();
    const port = await serve(() => ({
      async onTextMessage(): Promise<string> {
        await release.promise;
        return "done";
      },
    }));
    const ws = await openWs(port, "/");
    ws.send("block");
    const pong = new Promise<Buffer>((resolve) => ws.once("pong", resolve));
    ws.ping(Buffer.from("are you there"));
    assert.equal((await within(pong, 2000, "pong")).toString(), "are you there");
    release.resolve();
    assert.deepEqual(await nextMessages(ws, 1), ["done"]);
    ws.close();
  });

  test("with onPing the service answers: the returned bytes are the pong", async () => {
    const pings: string[] = [];
    const port = await serve(() => ({
      onPing(_caller: Caller, data: Uint8Array): Uint8Array {
        pings.push(Buffer.from(data).toString());
        return Buffer.from(`re: ${Buffer.from(data).toString()}`);
      },
    }));
    const ws = await openWs(port, "/");
    const pong = new Promise<Buffer>((resolve) => ws.once("pong", resolve));
    ws.ping(Buffer.from("p1"));
    assert.equal((await within(pong, 2000, "pong")).toString(), "re: p1");
    assert.deepEqual(pings, ["p1"]);
    ws.close();
  });

  test("onPing may answer with caller.pong(); onPong receives pongs", async () => {
    const pongs = deferred<string>();
    const port = await serve(() => ({
      async onPing(caller: Caller, data: Uint8Array): Promise<void> {
        await caller.pong(data);
      },
      onPong(_caller: Caller, data: Uint8Array): void {
        pongs.resolve(Buffer.from(data).toString());
      },
    }));
    const ws = await openWs(port, "/");
    const pong = new Promise<Buffer>((resolve) => ws.once("pong", resolve));
    ws.ping(Buffer.from("x"));
    assert.equal((await within(pong, 2000, "pong")).toString(), "x");
    ws.pong(Buffer.from("unsolicited"));
    assert.equal(await within(pongs.promise, 2000, "onPong"), "unsolicited");
    ws.close();
  });
});

describe("onPing and the automatic pong", () => {
  /** Pings with `payload`, then waits for the answer to a text sent after it: every pong has come by then. */
  async function pongsFor(onPing: Service["onPing"], payload = "ping data"): Promise<RawEvent[]> {
    const port = await serve(() => ({ onPing, onTextMessage: (_c: Caller, text: string) => text }));
    const raw = await RawWebSocket.open(port, "/");
    raw.sendFrame(FIN | 0x9, payload);
    raw.sendText("after");
    await raw.until(() => raw.events.some((event) => event.type === "text"), 5000, "the echo");
    raw.destroy();
    return raw.events.filter((event) => event.type === "pong");
  }

  test("an onPing that only logs: the automatic pong, with the ping's payload, goes out when it settles", async () => {
    const seen: string[] = [];
    assert.deepEqual(await pongsFor((_c, data) => void seen.push(Buffer.from(data).toString())), [{ type: "pong", data: Buffer.from("ping data") }]);
    assert.deepEqual(
      await pongsFor(async () => {
        await delay(50);
      }),
      [{ type: "pong", data: Buffer.from("ping data") }],
    );
    assert.deepEqual(seen, ["ping data"]);
  });

  test("an onPing that throws: the automatic pong still goes out", async () => {
    assert.deepEqual(
      await pongsFor(() => {
        throw new Error("ping handler broke");
      }),
      [{ type: "pong", data: Buffer.from("ping data") }],
    );
  });

  test("an onPing that returns bytes: exactly one pong, with those bytes", async () => {
    assert.deepEqual(await pongsFor(() => Buffer.from("mine")), [{ type: "pong", data: Buffer.from("mine") }]);
    assert.deepEqual(await pongsFor(async () => Buffer.from("mine later")), [{ type: "pong", data: Buffer.from("mine later") }]);
  });

  test("an onPing that calls caller.pong(x): exactly one pong, x", async () => {
    assert.deepEqual(await pongsFor((caller) => void caller.pong(Buffer.from("x"))), [{ type: "pong", data: Buffer.from("x") }]);
    assert.deepEqual(
      await pongsFor(async (caller) => {
        await delay(20);
        await caller.pong(Buffer.from("x later"));
      }),
      [{ type: "pong", data: Buffer.from("x later") }],
    );
  });

  test("an onPing whose answer is over 125 bytes: the automatic pong goes out, and onError gets the CorruptedFrameError", async () => {
    const tooBig = Buffer.alloc(126, 0x61);
    const answers: Record<string, Service["onPing"]> = {
      returned: () => tooBig,
      "passed to pong()": async (caller) => {
        await caller.pong(tooBig).catch(() => undefined);
      },
    };
    for (const [how, onPing] of Object.entries(answers)) {
      const errors: unknown[] = [];
      const port = await serve(() => ({
        onPing,
        onTextMessage: (_c: Caller, text: string) => text,
        onError: (_c: Caller, error: WebSocketError) => void errors.push(error),
      }));
      const raw = await RawWebSocket.open(port, "/");
      raw.sendFrame(FIN | 0x9, "ping data");
      raw.sendText("after");
      await raw.until(() => raw.events.some((event) => event.type === "text"), 5000, "the echo");
      raw.destroy();
      assert.deepEqual(
        raw.events.filter((event) => event.type === "pong"),
        [{ type: "pong", data: Buffer.from("ping data") }],
        how,
      );
      if (how === "returned") {
        assert.equal(errors.length, 1, how);
        assert.ok(errors[0] instanceof CorruptedFrameError, how);
      }
    }
  });
});

describe("closing", () => {
  function recordingService(log: unknown[][]): () => Service {
    return () => ({
      onOpen: () => void log.push(["open"]),
      onTextMessage: (_c: Caller, text: string) => void log.push(["text", text]),
      onClose: (_c: Caller, code: number, reason: string) => void log.push(["close", code, reason]),
      onError: (_c: Caller, error: WebSocketError) => void log.push(["error", error]),
    });
  }

  test("a close frame with a code: onClose sees it, the echo carries the code with no reason, TCP closes", async () => {
    const log: unknown[][] = [];
    const port = await serve(recordingService(log));
    const raw = await RawWebSocket.open(port, "/");
    raw.sendText("hello");
    raw.sendClose(4100, "see you");
    assert.deepEqual(await raw.event(0), { type: "close", code: 4100, reason: "" });
    await raw.waitForTcpClose();
    await delay(20);
    assert.deepEqual(log, [["open"], ["text", "hello"], ["close", 4100, "see you"]]);
  });

  test("a close frame without a code: onClose gets 1005, the echo is empty", async () => {
    const log: unknown[][] = [];
    const port = await serve(recordingService(log));
    const raw = await RawWebSocket.open(port, "/");
    raw.sendClose();
    await raw.waitForTcpClose();
    const echo = raw.frames.at(-1)!;
    assert.equal(echo.first, FIN | 0x8);
    assert.equal(echo.length, 0);
    await delay(20);
    assert.deepEqual(log.at(-1), ["close", 1005, ""]);
  });

  test("a TCP drop gives onClose 1006", async () => {
    const log: unknown[][] = [];
    const port = await serve(recordingService(log));
    const raw = await RawWebSocket.open(port, "/");
    raw.destroy();
    await delay(100);
    assert.deepEqual(log.at(-1), ["close", 1006, ""]);
  });

  test("protocol violations: the close frame first, then onError with the typed error", async () => {
    const log: unknown[][] = [];
    const port = await serve(recordingService(log), { maxFrameSize: 100 });
    const cases: [(raw: RawWebSocket) => void, number, new (...args: never[]) => Error][] = [
      [(raw) => raw.sendFrame(FIN | 0x3), 1002, CorruptedFrameError],
      [(raw) => raw.sendFrame(0x0, "orphan"), 1002, InvalidContinuationFrameError],
      [(raw) => raw.sendFrame(FIN | 0x1, Buffer.from([0xc0, 0x80])), 1007, CorruptedFrameError],
      [(raw) => raw.sendFrame(FIN | 0x2, Buffer.alloc(101)), 1009, PayloadTooLargeError],
    ];
    for (const [send, code, type] of cases) {
      log.length = 0;
      const raw = await RawWebSocket.open(port, "/");
      send(raw);
      const event = await raw.event(0);
      assert.equal(event.type, "close");
      assert.equal((event as { code: number }).code, code);
      await raw.waitForTcpClose();
      await delay(20);
      const error = log.find((entry) => entry[0] === "error")?.[1];
      assert.ok(error instanceof type, `${type.name} for ${code}`);
      assert.equal((error as WebSocketError).closeCode, code);
      assert.deepEqual(log.at(-1)?.slice(0, 2), ["close", code]);
    }
  });

  test("maxMessageSize across fragments → 1009", async () => {
    const port = await serve(() => ({}), { maxMessageSize: 1000 });
    const raw = await RawWebSocket.open(port, "/");
    raw.sendFrame(0x2, Buffer.alloc(600));
    raw.sendFrame(FIN | 0x0, Buffer.alloc(600));
    assert.deepEqual(await raw.event(0), { type: "close", code: 1009, reason: "Message exceeds maxMessageSize of 1000 bytes" });
  });
});

describe("handler failures", () => {
  test("a throwing handler goes to onError and the connection keeps working", async () => {
    const errors: unknown[] = [];
    const port = await serve(() => ({
      onTextMessage(_caller: Caller, text: string): string {
        if (text === "throw") throw new RangeError("bad input");
        if (text === "reject") return Promise.reject("not an error") as never;
        return `ok ${text}`;
      },
      onError(_caller: Caller, error: Error): void {
        errors.push(error);
      },
    }));
    const ws = await openWs(port, "/");
    ws.send("throw");
    ws.send("reject");
    ws.send("after");
    assert.deepEqual(await nextMessages(ws, 1), ["ok after"]);
    assert.ok(errors[0] instanceof RangeError);
    assert.ok(errors[1] instanceof WebSocketError);
    assert.equal((errors[1] as WebSocketError).cause, "not an error");
    ws.close();
  });

  test("onError returning a close frame closes", async () => {
    const port = await serve(() => ({
      onTextMessage(): never {
        throw new Error("boom");
      },
      onError: () => closeFrame(4500, "handler failed"),
    }));
    const ws = await openWs(port, "/");
    const result = closed(ws);
    ws.send("x");
    assert.deepEqual(await result, { code: 4500, reason: "handler failed" });
  });
});

describe("timers", () => {
  test("idleTimeout: onIdleTimeout after each idle period; it closes only with a close frame", async () => {
    const idles: number[] = [];
    const started = Date.now();
    const port = await serve(
      () => ({
        onIdleTimeout(): unknown {
          idles.push(Date.now() - started);
          return idles.length === 3 ? closeFrame(4003, "idle") : "ignored";
        },
      }),
      { idleTimeout: 0.2 },
    );
    const ws = await openWs(port, "/");
    const result = await closed(ws, 3000);
    assert.deepEqual(result, { code: 4003, reason: "idle" });
    assert.equal(idles.length, 3);
    assert.ok(idles[0]! >= 180, `first idle at ${idles[0]} ms`);
  });

  test("traffic postpones idleTimeout", async () => {
    let idle = 0;
    const port = await serve(() => ({ onIdleTimeout: () => void idle++, onTextMessage: (_c: Caller, t: string) => t }), { idleTimeout: 0.3 });
    const ws = await openWs(port, "/");
    for (let i = 0; i < 5; i++) {
      ws.send("keep busy");
      await nextMessages(ws, 1);
      await delay(100);
    }
    assert.equal(idle, 0);
    ws.close();
  });

  test("pingInterval: pings go out; a peer that never pongs is closed with 1011", async () => {
    const port = await serve(() => ({}), { pingInterval: 0.15 });
    const raw = await RawWebSocket.open(port, "/");
    const ping = await raw.event(0, 2000);
    assert.equal(ping.type, "ping");
    const close = await raw.event(1, 2000);
    assert.deepEqual(close, { type: "close", code: 1011, reason: "No pong received within pingInterval" });
  });

  test("pingInterval: a peer that pongs stays open", async () => {
    const port = await serve(() => ({ onTextMessage: (_c: Caller, t: string) => t }), { pingInterval: 0.1 });
    const ws = await openWs(port, "/");
    let pings = 0;
    ws.on("ping", () => pings++);
    await delay(450);
    assert.ok(pings >= 3, `${pings} pings`);
    ws.send("still open");
    assert.deepEqual(await nextMessages(ws, 1), ["still open"]);
    ws.close();
  });

  test("caller.close waits connectionClosureTimeout for the echo, then fails and closes TCP", async () => {
    const outcome = deferred<unknown>();
    const port = await serve(
      () => ({
        onTextMessage(caller: Caller): void {
          caller.close(1000, "done").then(
            () => outcome.resolve("resolved"),
            (error: unknown) => outcome.resolve(error),
          );
        },
      }),
      { connectionClosureTimeout: 0.2 },
    );
    const raw = await RawWebSocket.open(port, "/");
    raw.sendText("close please");
    assert.deepEqual(await raw.event(0), { type: "close", code: 1000, reason: "done" });
    const error = await within(outcome.promise, 2000, "close()");
    assert.ok(error instanceof Error && error.name === "ConnectionClosureError", String(error));
    await raw.waitForTcpClose(2000);
  });
});

describe("backpressure", () => {
  test("a slow reader: writes wait past maxQueuedBytes and the queue stays bounded", async () => {
    const report = deferred<{ maxBuffered: number; waited: boolean }>();
    const port = await serve(
      () => ({
        async onOpen(caller: Caller): Promise<void> {
          const chunk = Buffer.alloc(64 * 1024);
          let maxBuffered = 0;
          let waited = false;
          for (let i = 0; i < 200; i++) {
            const write = caller.writeBinaryMessage(chunk);
            const settledAtOnce = await Promise.race([write.then(() => true), Promise.resolve(false)]);
            if (!settledAtOnce) waited = true;
            await write;
            maxBuffered = Math.max(maxBuffered, caller.bufferedAmount);
          }
          report.resolve({ maxBuffered, waited });
        },
      }),
      { maxQueuedBytes: 256 * 1024, maxFrameSize: 128 * 1024 },
    );
    const raw = await RawWebSocket.open(port, "/");
    raw.socket.pause();
    await delay(300);
    raw.socket.resume();
    const { maxBuffered, waited } = await within(report.promise, 5000, "writes");
    assert.ok(waited, "some writes waited for the queue to drain");
    assert.ok(maxBuffered <= 256 * 1024 + 64 * 1024 + 16, `bufferedAmount peaked at ${maxBuffered}`);
    await raw.until(() => raw.events.length === 200, 5000, "all messages");
    raw.destroy();
  });

  test("a slow handler: the server stops reading, the peer's writes back up, nothing is lost", async () => {
    const release = deferred<void>();
    let handled = 0;
    const port = await serve(
      () => ({
        async onBinaryMessage(): Promise<void> {
          await release.promise;
          handled++;
        },
      }),
      { maxQueuedBytes: 128 * 1024 },
    );
    // Uncompressed, so that what the client holds is what it sent.
    const ws = await openWs(port, "/", { perMessageDeflate: false });
    const message = Buffer.alloc(32 * 1024);
    for (let i = 0; i < 400; i++) ws.send(message);
    await delay(400);
    assert.ok(ws.bufferedAmount > 2 * 1024 * 1024, `the client still holds ${ws.bufferedAmount} bytes`);
    assert.equal(handled, 0);
    release.resolve();
    const deadline = Date.now() + 5000;
    while (handled < 400 && Date.now() < deadline) await delay(20);
    assert.equal(handled, 400);
    ws.close();
  });
});

describe("onOpen", () => {
  test("runs before any message is handled", async () => {
    const port = await serve(() => ({
      async onOpen(caller: Caller): Promise<void> {
        await delay(50);
        caller.setAttribute("ready", true);
      },
      onTextMessage: (caller: Caller) => `ready=${String(caller.getAttribute("ready"))}`,
    }));
    const raw = await RawWebSocket.open(port, "/");
    raw.sendText("now");
    assert.deepEqual(await raw.event(0), { type: "text", data: "ready=true" });
    raw.destroy();
  });
});

describe("a full queue", () => {
  test("pongs still go out at once when held messages exceed maxQueuedBytes", async () => {
    const port = await serve(
      () => ({
        async onBinaryMessage(): Promise<void> {
          await delay(300);
        },
      }),
      { maxQueuedBytes: 1000 },
    );
    const raw = await RawWebSocket.open(port, "/");
    for (let i = 0; i < 3; i++) raw.sendFrame(FIN | 0x2, Buffer.alloc(2000));
    raw.sendFrame(FIN | 0x9, "still there?");
    const started = Date.now();
    const pong = await raw.event(0, 2000);
    assert.deepEqual(pong, { type: "pong", data: Buffer.from("still there?") });
    assert.ok(Date.now() - started < 250, `pong after ${Date.now() - started} ms`);
    raw.destroy();
  });
});
