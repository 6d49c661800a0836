/**
 * The server side of the conformance suite and the checks Autobahn's fuzzingclient makes:
 * an echo service on a ferry Listener (127.0.0.1, any port), and helpers that run one case
 * on a fresh connection and assert the exact frames, close code and TCP closure.
 */
import assert from "node:assert/strict";
import { after, before, describe } from "node:test";
import { Listener } from "../../src/index.ts";
import type { Service, ServiceConfig } from "../../src/index.ts";
import { describeEvent, RawClient, type ServerEvent, WAIT_MS } from "./raw-client.ts";

/** What the service saw of one connection, keyed by the `id` query parameter. */
export interface ServerRecord {
  errors: { name: string; closeCode: number | undefined; message: string }[];
  close: { code: number; reason: string } | undefined;
}

export const MIB = 1024 * 1024;

/** Paths of the echo server, each with its own limits. */
export const PATHS = {
  /** Large limits: frames up to 16 MiB, messages up to the default 16 MiB. */
  echo: "/",
  /** maxFrameSize 1000: inbound frames over 1000 bytes fail with 1009; replies fragment at 1000. */
  smallFrames: "/small-frames",
  /** maxMessageSize 4096 across fragments. */
  smallMessages: "/small-messages",
  /**
   * The same echo with async handlers (each reply one event-loop turn later) and a small
   * maxQueuedBytes, so that messages queue behind a busy handler and reading pauses.
   */
  asyncEcho: "/async",
} as const;

/** maxQueuedBytes of the async echo. */
export const ASYNC_QUEUE_LIMIT = 64 * 1024;

export const SMALL_FRAME_LIMIT = 1000;
export const SMALL_MESSAGE_LIMIT = 4096;

export interface EchoServer {
  port: number;
  records: Map<string, ServerRecord>;
}

let nextId = 1;

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function echoService(config: ServiceConfig, records: Map<string, ServerRecord>, async = false) {
  return {
    config: { allowedOrigins: ["*"], ...config },
    upgrade(request: { query: URLSearchParams }): Service {
      const record: ServerRecord = { errors: [], close: undefined };
      const id = request.query.get("id");
      if (id !== null) records.set(id, record);
      if (async) {
        return {
          onTextMessage: async (_caller, text: string) => {
            await nextTurn();
            return text;
          },
          onBinaryMessage: async (_caller, data: Uint8Array) => {
            await nextTurn();
            return data;
          },
          onError: (_caller, error) => {
            record.errors.push({ name: error.name, closeCode: error.closeCode, message: error.message });
          },
          onClose: (_caller, code: number, reason: string) => {
            record.close = { code, reason };
          },
        };
      }
      return {
        onTextMessage: (_caller, text: string) => text,
        onBinaryMessage: (_caller, data: Uint8Array) => data,
        onError: (_caller, error) => {
          record.errors.push({ name: error.name, closeCode: error.closeCode, message: error.message });
        },
        onClose: (_caller, code: number, reason: string) => {
          record.close = { code, reason };
        },
      };
    },
  };
}

/**
 * Starts the echo server before the file's tests and stops it after them. The returned object
 * is filled in once `before` ran.
 */
export function useEchoServer(): EchoServer {
  const server: EchoServer = { port: 0, records: new Map() };
  let listener: Listener | undefined;
  before(async () => {
    listener = new Listener(0, { host: "127.0.0.1" });
    listener.attach(PATHS.echo, echoService({ maxFrameSize: 16 * MIB }, server.records));
    listener.attach(PATHS.smallFrames, echoService({ maxFrameSize: SMALL_FRAME_LIMIT }, server.records));
    listener.attach(PATHS.smallMessages, echoService({ maxFrameSize: 16 * MIB, maxMessageSize: SMALL_MESSAGE_LIMIT }, server.records));
    listener.attach(PATHS.asyncEcho, echoService({ maxFrameSize: 16 * MIB, maxQueuedBytes: ASYNC_QUEUE_LIMIT }, server.records, true));
    await listener.start();
    server.port = listener.port;
  });
  after(() => stopWithin(listener));
  return server;
}

/** Stops a listener, but does not let a stop that never finishes hang the suite. */
export async function stopWithin(listener: Listener | undefined, timeoutMs = 5000): Promise<void> {
  if (listener === undefined) return;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`listener.immediateStop() did not finish within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    await Promise.race([listener.immediateStop(), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

export interface Connected {
  client: RawClient;
  /** What the service recorded for this connection. */
  record(): ServerRecord;
}

/** One of the echo services the Autobahn cases run against. */
export interface Echo {
  /** "sync echo" or "async echo". */
  label: string;
  /** Handlers return promises: replies may trail a close or failure that comes right after. */
  async: boolean;
  /** Runs `body` on a fresh connection to this service; `early` goes out with the upgrade request. */
  connect(body: (c: Connected) => Promise<void>, options?: { early?: Uint8Array }): Promise<void>;
}

/**
 * Declares the cases of `cases` once per echo service (sync handlers, async handlers), each
 * set in a suite of its own.
 */
export function forEachEcho(server: EchoServer, cases: (echo: Echo) => void): void {
  for (const [label, path, async] of [
    ["sync echo", PATHS.echo, false],
    ["async echo", PATHS.asyncEcho, true],
  ] as const) {
    describe(label, () => cases({ label, async, connect: (body, options) => withClient(server, body, path, options) }));
  }
}

/** Runs `body` on a fresh connection, which is always destroyed afterwards. */
export async function withClient(
  server: EchoServer,
  body: (c: Connected) => Promise<void>,
  path: string = PATHS.echo,
  options: { early?: Uint8Array } = {},
): Promise<void> {
  const id = String(nextId++);
  const client = await RawClient.connect(server.port, { path: `${path}?id=${id}`, ...options });
  try {
    await body({
      client,
      record: () => {
        const record = server.records.get(id);
        assert.ok(record !== undefined, "the service never saw this connection");
        return record;
      },
    });
  } finally {
    client.destroy();
    server.records.delete(id);
  }
}

// ---- expected events ----

export const text = (value: string): ServerEvent => ({ type: "text", text: value });
export const binary = (value: Uint8Array | string): ServerEvent => ({ type: "binary", data: Buffer.from(value as Uint8Array) });
export const pong = (value: Uint8Array | string = ""): ServerEvent => ({ type: "pong", data: Buffer.from(value as Uint8Array) });

function eventBytes(event: ServerEvent): Buffer {
  switch (event.type) {
    case "text":
      return Buffer.from(event.text, "utf8");
    case "close":
      return Buffer.from(`${event.code}:${event.reason}`);
    default:
      return event.data;
  }
}

/** Asserts that `actual` is exactly `expected`: same kinds, same payloads, in order. */
export function assertEvents(actual: readonly ServerEvent[], expected: readonly ServerEvent[]): void {
  const summary = (events: readonly ServerEvent[]): string => `[${events.map(describeEvent).join(", ")}]`;
  assert.equal(actual.length, expected.length, `expected ${summary(expected)}, got ${summary(actual)}`);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    assert.equal(a.type, e.type, `event ${i}: expected ${describeEvent(e)}, got ${describeEvent(a)}`);
    const aBytes = eventBytes(a);
    const eBytes = eventBytes(e);
    if (!aBytes.equals(eBytes)) {
      let at = 0;
      while (at < aBytes.length && at < eBytes.length && aBytes[at] === eBytes[at]) at++;
      assert.fail(`event ${i}: payload differs at byte ${at} (got ${aBytes.length} bytes, expected ${eBytes.length}): expected ${describeEvent(e)}, got ${describeEvent(a)}`);
    }
  }
}

/**
 * Autobahn's "clean close with normal code" after the case: once `expected` came in, we send
 * close 1000; nothing else may come before the server's close, which echoes 1000 without a
 * reason; nothing follows it, and the server closes TCP.
 */
export async function closeNormally(client: RawClient, expected: readonly ServerEvent[], timeoutMs = WAIT_MS): Promise<void> {
  // As Autobahn does (Case.finishWhenDone): close once the expected events are in.
  const deadline = Date.now() + timeoutMs;
  const received: ServerEvent[] = [];
  while (received.length < expected.length) {
    const event = await client.nextEvent(Math.max(1, deadline - Date.now()));
    if (event.type === "close") {
      assert.fail(`the server closed (${describeEvent(event)}) before sending what was expected; got ${received.map(describeEvent).join(", ")}`);
    }
    received.push(event);
  }
  await client.sendClose(1000);
  const { before, close } = await client.untilClose(Math.max(1, deadline - Date.now()));
  assertEvents([...received, ...before], expected);
  assert.equal(close.code, 1000, `expected the close code 1000 echoed, got ${close.code}`);
  assert.equal(close.reason, "");
  await assertServerClosedTcp(client);
}

/**
 * Autobahn's "the connection is failed": the server sends exactly `expected`, then a close
 * frame with `code`, and closes TCP. Nothing follows the close frame. `nonStrict`, when given,
 * is Autobahn's NON-STRICT alternative to `expected`, accepted as well.
 */
export async function expectFailure(
  client: RawClient,
  code: number,
  expected: readonly ServerEvent[] = [],
  { timeoutMs = WAIT_MS, nonStrict }: { timeoutMs?: number; nonStrict?: readonly ServerEvent[] | undefined } = {},
): Promise<void> {
  const { before, close } = await client.untilClose(timeoutMs);
  if (nonStrict !== undefined && before.length === nonStrict.length) assertEvents(before, nonStrict);
  else assertEvents(before, expected);
  assert.equal(close.code, code, `expected the server to fail the connection with ${code}, got ${close.code} ${JSON.stringify(close.reason)}`);
  await assertServerClosedTcp(client);
}

/** After the server's close frame: TCP closes soon, nothing else was sent, and every frame was valid. */
export async function assertServerClosedTcp(client: RawClient, timeoutMs = 2000): Promise<void> {
  await client.waitForTcpClose(timeoutMs);
  assert.equal(client.bytesAfterClose, 0, "the server sent bytes after its close frame");
  assert.deepEqual(client.protocolErrors, [], "the server sent frames a client must reject");
  for (const frame of client.frames) {
    assert.equal(frame.masked, false, "server frames must not be masked");
    assert.equal(frame.rsv, 0, "server frames must have RSV bits clear (no extension negotiated)");
  }
}

/** Waits (bounded) until the service's onClose ran, and returns what it saw. */
export async function serverClose(c: Connected, timeoutMs = 1000): Promise<{ code: number; reason: string }> {
  const deadline = Date.now() + timeoutMs;
  while (c.record().close === undefined) {
    if (Date.now() > deadline) assert.fail("onClose was not called on the server");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return c.record().close!;
}

/** Asserts that the service's onError got exactly one error of this class with this close code. */
export async function assertServerError(c: Connected, name: string, closeCode: number): Promise<void> {
  await serverClose(c);
  const errors = c.record().errors;
  assert.equal(errors.length, 1, `expected one onError call, got ${JSON.stringify(errors)}`);
  assert.equal(errors[0]!.name, name);
  assert.equal(errors[0]!.closeCode, closeCode);
}
