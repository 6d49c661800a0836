import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseXml } from "../../src/binding/xml.ts";
import { type Caller, closeFrame, ConnectionClosureError, type Service, type WebSocketError } from "../../src/index.ts";
import { deferred, delay, startListener, within } from "../helpers/listener.ts";
import { type RawEvent, RawWebSocket } from "../helpers/raw-ws.ts";

/** What one value did on the wire and to the service. */
interface Outcome {
  /** Messages and the close frame the peer received. */
  events: RawEvent[];
  /** The error the service learnt of: onError's argument, or writeMessage's rejection. */
  error: string | undefined;
  /** Whether the connection still answered afterwards. */
  open: boolean;
  /** Whether a stream the value came from was ended (its `finally` ran). */
  ended: boolean;
}

const circular: Record<string, unknown> = {};
circular["self"] = circular;

/**
 * Each case makes a fresh value: a handler returns it, or passes it to caller.writeMessage,
 * and the two must do the same (SPEC §4: one set of rules).
 */
const cases: Record<string, (caller: Caller, state: { ended: boolean }) => unknown> = {
  text: () => "hello",
  bytes: () => new Uint8Array([1, 2, 3]),
  json: () => ({ a: 1, b: [true, null] }),
  xml: () => parseXml("<order id=\"3\"><item>tea</item></order>"),
  nothing: () => null,
  close: () => closeFrame(4001, "bye"),
  "invalid close": () => closeFrame(1005),
  "long reason": () => closeFrame(4002, "é".repeat(100)),
  stream: () =>
    (async function* () {
      yield "s1";
      yield { s: 2 };
    })(),
  "stream that throws": () =>
    (async function* () {
      yield "before";
      throw new Error("source broke");
    })(),
  "stream that closes": (_caller, state) =>
    (function* () {
      try {
        yield "last";
        yield closeFrame(4003, "stream done");
        yield "never";
      } finally {
        state.ended = true;
      }
    })(),
  "not JSON": () => circular,
};

function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : `non-error ${String(error)}`;
}

/** A service that, for "return <case>" returns the case's value and for "write <case>" writes it. */
function recordingService(): { service: () => Service; last: () => { error: string | undefined; ended: boolean; closed: Promise<void> } } {
  let current: { error: string | undefined; ended: boolean; closed: Promise<void> } | undefined;
  const service = (): Service => {
    const closed = deferred<void>();
    const state = { error: undefined as string | undefined, ended: false, closed: closed.promise };
    current = state;
    return {
      async onTextMessage(caller: Caller, text: string): Promise<unknown> {
        if (text === "probe") return "probe ok";
        const [how, ...rest] = text.split(" ");
        const value = cases[rest.join(" ")]!(caller, state);
        if (how === "return") return value;
        try {
          await caller.writeMessage(value);
        } catch (error) {
          state.error = describeError(error);
        }
        return undefined;
      },
      onError(_caller: Caller, error: WebSocketError): void {
        state.error = describeError(error);
      },
      onClose(): void {
        closed.resolve();
      },
    };
  };
  return { service, last: () => current! };
}

describe("one way out: a returned value and the same value passed to writeMessage", async () => {
  const recorder = recordingService();
  const listener = await startListener({ "/": { config: { allowedOrigins: ["*"], connectionClosureTimeout: 2 }, upgrade: recorder.service } });

  /** Sends the case, then a probe: the probe's answer (or the close) says the case is done. */
  async function run(how: "return" | "write", name: string): Promise<Outcome> {
    const raw = await RawWebSocket.open(listener.port, "/");
    const state = recorder.last();
    raw.sendText(`${how} ${name}`);
    raw.sendText("probe");
    const isProbe = (event: RawEvent): boolean => event.type === "text" && event.data === "probe ok";
    await raw.until(() => raw.tcpClosed || raw.events.some((event) => isProbe(event) || event.type === "close"), 5000, name);
    const close = raw.events.find((event) => event.type === "close");
    if (close !== undefined) {
      // Answer the close as a peer does; onClose comes after any report the server still owes.
      raw.sendClose((close as { code: number }).code);
      await within(state.closed, 5000, `onClose for ${name}`);
    }
    raw.destroy();
    const open = close === undefined && !raw.tcpClosed;
    if (raw.tcpClosed && close === undefined) await within(state.closed, 5000, `onClose for ${name}`);
    return { events: raw.events.filter((event) => !isProbe(event)), error: state.error, open, ended: state.ended };
  }

  /**
   * Where the two paths may differ in `error` only, and why. An invalid close frame drops TCP
   * and is logged by the writer (SPEC §7): writeMessage still rejects so that its caller
   * knows, but a returned one has no caller to tell, and onClose(1006) follows, so it does
   * not reach onError as well.
   */
  const errorDiffers: Record<string, string> = {
    "invalid close": "ConnectionClosureError: Failed to execute close. Invalid status code: 1005",
  };

  for (const name of Object.keys(cases)) {
    test(name, async () => {
      const returned = await run("return", name);
      const written = await run("write", name);
      if (name in errorDiffers) {
        assert.equal(returned.error, undefined);
        assert.equal(written.error, errorDiffers[name]);
        assert.deepEqual({ ...returned, error: undefined }, { ...written, error: undefined });
      } else {
        assert.deepEqual(returned, written);
      }
    });
  }

  test("what the rules are", async () => {
    const expected: Record<string, Partial<Outcome>> = {
      text: { events: [{ type: "text", data: "hello" }], error: undefined, open: true },
      bytes: { events: [{ type: "binary", data: Buffer.from([1, 2, 3]) }] },
      json: { events: [{ type: "text", data: '{"a":1,"b":[true,null]}' }] },
      close: { events: [{ type: "close", code: 4001, reason: "bye" }], error: undefined },
      stream: {
        events: [
          { type: "text", data: "s1" },
          { type: "text", data: '{"s":2}' },
        ],
        open: true,
      },
      xml: { events: [{ type: "text", data: '<order id="3"><item>tea</item></order>' }] },
      nothing: { events: [], error: undefined, open: true },
      "invalid close": { events: [], error: undefined, open: false },
      "long reason": { events: [{ type: "close", code: 4002, reason: "é".repeat(61) }] },
      "stream that throws": {
        events: [
          { type: "text", data: "before" },
          { type: "close", code: 1011, reason: "streaming failed: source broke" },
        ],
        error: "Error: source broke",
      },
      "stream that closes": {
        events: [
          { type: "text", data: "last" },
          { type: "close", code: 4003, reason: "stream done" },
        ],
        error: undefined,
        ended: true,
      },
      "not JSON": { events: [], open: true },
    };
    for (const [name, outcome] of Object.entries(expected)) {
      const got = await run("return", name);
      for (const [key, value] of Object.entries(outcome)) assert.deepEqual(got[key as keyof Outcome], value, `${name}: ${key}`);
    }
    const notJson = await run("write", "not JSON");
    assert.match(notJson.error ?? "", /^PayloadBindingError: data binding failed: the value cannot be written as JSON: /);
  });
});

describe("a reply to a closed connection", () => {
  /** The service answers "return" by returning a reply and "write" by writing it, once released. */
  async function serve(closeFirst: boolean): Promise<{ port: number; errors: string[]; rejections: unknown[]; release: () => void }> {
    const errors: string[] = [];
    const rejections: unknown[] = [];
    const released = deferred<void>();
    const listener = await startListener({
      "/": {
        config: { allowedOrigins: ["*"] },
        upgrade: () => ({
          async onTextMessage(caller: Caller, text: string): Promise<unknown> {
            await released.promise;
            if (closeFirst) await caller.close(4000, "", 2);
            if (text === "return") return "late reply";
            await caller.writeMessage("late write").catch((error: unknown) => rejections.push(error));
            return undefined;
          },
          onError(_caller: Caller, error: WebSocketError): void {
            errors.push(describeError(error));
          },
        }),
      },
    });
    return { port: listener.port, errors, rejections, release: () => released.resolve() };
  }

  test("closed by the peer: writeMessage rejects with ConnectionClosureError, the same value returned is dropped quietly", async () => {
    const { port, errors, rejections, release } = await serve(false);
    for (const how of ["return", "write"]) {
      const raw = await RawWebSocket.open(port, "/");
      raw.sendText(how);
      raw.sendClose(1000);
      await raw.waitForTcpClose();
    }
    release();
    await delay(200);
    assert.equal(rejections.length, 1);
    assert.ok(rejections[0] instanceof ConnectionClosureError);
    assert.deepEqual(errors, []);
  });

  test("closed by the service itself: the same, since messages it had not handled yet may still get replies", async () => {
    const { port, errors, rejections, release } = await serve(true);
    release();
    for (const how of ["return", "write"]) {
      const raw = await RawWebSocket.open(port, "/");
      raw.sendText(how);
      assert.equal((await raw.event(0)).type, "close");
      raw.sendClose(4000);
      await raw.waitForTcpClose();
    }
    await delay(200);
    assert.equal(rejections.length, 1);
    assert.ok(rejections[0] instanceof ConnectionClosureError);
    assert.deepEqual(errors, []);
  });
});
