import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  Caller,
  ConnectionClosureError,
  CorruptedFrameError,
  type Service,
} from "../../src/index.ts";
import { deferred, delay, nextMessages, openWs, startListener, within } from "../helpers/listener.ts";
import { RawWebSocket } from "../helpers/raw-ws.ts";

/** A listener whose service hands its Caller out, so a test can drive it. */
async function callerFor(config: Record<string, unknown> = {}, extra: Service = {}): Promise<{ port: number; callers: Caller[] }> {
  const callers: Caller[] = [];
  const listener = await startListener({
    "/": {
      config: { allowedOrigins: ["*"], subProtocols: ["p1"], ...config },
      upgrade: () => ({ ...extra, onOpen: (caller: Caller) => void callers.push(caller) }),
    },
  });
  return { port: listener.port, callers };
}

async function firstCaller(callers: Caller[]): Promise<Caller> {
  for (let i = 0; i < 100 && callers.length === 0; i++) await delay(10);
  return callers.at(-1)!;
}

describe("Caller", () => {
  test("is not constructible by users", () => {
    assert.throws(() => new (Caller as unknown as new (key: symbol, init: object) => Caller)(Symbol("x"), {}), TypeError);
  });

  test("identity, sub-protocol, security, address, attributes", async () => {
    const { port, callers } = await callerFor();
    const a = await openWs(port, "/", { protocols: ["p1"] });
    const callerA = await firstCaller(callers);
    const b = await openWs(port, "/");
    for (let i = 0; i < 100 && callers.length < 2; i++) await delay(10);
    const callerB = callers[1]!;
    assert.ok(callerA instanceof Caller);
    assert.notEqual(callerA.getConnectionId(), callerB.getConnectionId());
    assert.equal(callerA.getNegotiatedSubProtocol(), "p1");
    assert.equal(callerB.getNegotiatedSubProtocol(), undefined);
    assert.equal(callerA.isSecure(), false);
    assert.equal(callerA.isOpen(), true);
    assert.equal(callerA.remoteAddress.host, "127.0.0.1");
    assert.equal(callerA.remoteAddress.port, (a as unknown as { _socket: { localPort: number } })._socket.localPort);
    callerA.setAttribute("user", { id: 7 });
    assert.deepEqual(callerA.getAttribute("user"), { id: 7 });
    callerA.removeAttribute("user");
    callerA.removeAttribute("never-set");
    assert.equal(callerA.getAttribute("user"), undefined);
    a.close();
    b.close();
  });

  test("writes: text, binary, JSON via writeMessage, streams", async () => {
    const { port, callers } = await callerFor();
    const ws = await openWs(port, "/");
    const caller = await firstCaller(callers);
    await caller.writeTextMessage("t");
    await caller.writeBinaryMessage(new Uint8Array([1]));
    await caller.writeMessage({ k: "v" });
    await caller.writeMessage(new Uint8Array([2]).buffer);
    await caller.writeMessage(
      (async function* () {
        yield "s1";
        yield "s2";
      })(),
    );
    assert.deepEqual(await nextMessages(ws, 6), ["t", Buffer.from([1]), '{"k":"v"}', Buffer.from([2]), "s1", "s2"]);
    ws.close();
  });

  test("ping and pong over 125 bytes → CorruptedFrameError", async () => {
    const { port, callers } = await callerFor();
    const ws = await openWs(port, "/");
    const caller = await firstCaller(callers);
    await assert.rejects(caller.ping(new Uint8Array(126)), CorruptedFrameError);
    await assert.rejects(caller.pong(new Uint8Array(200)), CorruptedFrameError);
    const pong = new Promise<Buffer>((resolve) => ws.once("ping", resolve));
    await caller.ping(Buffer.from("x".repeat(125)));
    assert.equal((await within(pong, 2000, "ping")).length, 125);
    ws.close();
  });

  test("close: code validation with exact messages", async () => {
    const { port, callers } = await callerFor();
    const ws = await openWs(port, "/");
    const caller = await firstCaller(callers);
    for (const code of [999, 1004, 1005, 1006, 1015, 2999, 5000]) {
      await assert.rejects(caller.close(code), (error: unknown) => {
        assert.ok(error instanceof ConnectionClosureError);
        assert.equal(error.message, `Failed to execute close. Invalid status code: ${code}`);
        return true;
      });
    }
    await assert.rejects(caller.close(1000, "", -2), ConnectionClosureError);
    assert.equal(caller.isOpen(), true, "refused closes leave the connection open");
    ws.close();
  });

  test("close: a timeout beyond Node's longest timer (2147483.647 s) is refused, not turned into 1 ms", async () => {
    const { port, callers } = await callerFor();
    const ws = await openWs(port, "/");
    const caller = await firstCaller(callers);
    for (const timeout of [2.5e6, Infinity, NaN]) {
      await assert.rejects(caller.close(1000, "", timeout), (error: unknown) => {
        assert.ok(error instanceof ConnectionClosureError);
        assert.match(error.message, new RegExp(`^Failed to execute close\\. Invalid timeout: ${timeout} `));
        return true;
      });
    }
    assert.equal(caller.isOpen(), true, "refused closes leave the connection open");
    ws.close();
  });

  test("close: resolves once the peer answered; a second close and later writes fail", async () => {
    const { port, callers } = await callerFor();
    const ws = await openWs(port, "/");
    const caller = await firstCaller(callers);
    const peerSaw = new Promise<[number, string]>((resolve) => ws.once("close", (code, reason) => resolve([code, reason.toString()])));
    await within(caller.close(3000, "bye now"), 2000, "close");
    assert.deepEqual(await peerSaw, [3000, "bye now"]);
    assert.equal(caller.isOpen(), false);
    await assert.rejects(caller.close(), (error: unknown) => error instanceof ConnectionClosureError && error.message === "Close frame already sent");
    await assert.rejects(caller.writeTextMessage("late"), ConnectionClosureError);
  });

  test("close with timeout -1 waits for the peer as long as it takes", async () => {
    const { port, callers } = await callerFor({ connectionClosureTimeout: 0.05 });
    const raw = await RawWebSocket.open(port, "/");
    const caller = await firstCaller(callers);
    const done = deferred<string>();
    caller.close(1000, "", -1).then(() => done.resolve("resolved"), () => done.resolve("rejected"));
    await raw.event(0);
    await delay(200);
    raw.sendClose(1000);
    assert.equal(await within(done.promise, 2000, "close"), "resolved");
  });

  test("outbound messages are fragmented at maxFrameSize on code-point boundaries", async () => {
    const { port, callers } = await callerFor({ maxFrameSize: 10 });
    const raw = await RawWebSocket.open(port, "/");
    const caller = await firstCaller(callers);
    const text = "aé€😀".repeat(5);
    await caller.writeTextMessage(text);
    await caller.writeBinaryMessage(new Uint8Array(25));
    await raw.until(() => raw.events.length === 2);
    assert.deepEqual(raw.events[0], { type: "text", data: text });
    assert.equal((raw.events[1] as { data: Buffer }).data.length, 25);
    const textFrames = raw.frames.slice(0, raw.frames.length - 3);
    assert.ok(textFrames.length > 1);
    for (const frame of raw.frames) assert.ok(frame.length <= 10, `frame of ${frame.length} bytes`);
    assert.deepEqual(raw.frames.slice(-3).map((f) => f.length), [10, 10, 5]);
    assert.deepEqual(raw.frames.slice(-3).map((f) => f.first), [0x02, 0x00, 0x80]);
    raw.destroy();
  });

  test("each text fragment is valid UTF-8 on its own", async () => {
    const { port, callers } = await callerFor({ maxFrameSize: 7 });
    const raw = await RawWebSocket.open(port, "/");
    const caller = await firstCaller(callers);
    const bytes: Buffer[] = [];
    raw.socket.on("data", (chunk: Buffer) => bytes.push(chunk));
    await caller.writeTextMessage("😀😀é😀ab€€");
    await raw.event(0);
    const all = Buffer.concat(bytes);
    let offset = 0;
    const fragments: string[] = [];
    while (offset < all.length) {
      const length = all[offset + 1]! & 0x7f;
      const payload = all.subarray(offset + 2, offset + 2 + length);
      fragments.push(new TextDecoder("utf-8", { fatal: true }).decode(payload));
      offset += 2 + length;
    }
    assert.deepEqual(fragments, ["😀", "😀é", "😀ab", "€€"]);
    raw.destroy();
  });
});
