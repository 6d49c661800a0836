/**
 * A non-101 answer to the opening handshake (SPEC §10, issue 12 item 4.1): the connect rejects
 * as soon as the status line and headers are in, with InvalidHandshakeError carrying the
 * status, and closes TCP; the message ends with the first line of the body when one comes
 * within 100 ms, and at most 1 KiB of the body is kept. Whatever the body does (no length and
 * the connection kept open, chunked and never finished, promised and never sent) the connect
 * does not wait for it.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { MAX_REFUSAL_BODY } from "../../src/client/handshake-refusal.ts";
import { Client, type ClientConfiguration, InvalidHandshakeError } from "../../src/index.ts";
import { assertInstance, type RawConnection, RawServer, rejection, sleep } from "./raw-server.ts";

/** Far below handShakeTimeout (300 s), which is what the client waited for before; generous for a loaded machine. */
const PROMPT_MS = 1000;

interface Refusal {
  error: InvalidHandshakeError;
  /** Milliseconds from connect() to the rejection. */
  elapsed: number;
  conn: RawConnection;
}

/** Connects to a raw server that answers with `answer` and leaves the socket open; returns the rejection. */
async function refused(answer: (conn: RawConnection) => void, config: ClientConfiguration = {}): Promise<Refusal> {
  const server = await RawServer.start({ onRequest: answer });
  const started = Date.now();
  const error = await rejection(Client.connect(`${server.url}/`, config), 3000, "connect");
  const elapsed = Date.now() - started;
  assertInstance(error, InvalidHandshakeError);
  return { error, elapsed, conn: await server.connection(0) };
}

function head(lines: string[]): string {
  return `${lines.join("\r\n")}\r\n\r\n`;
}

/** The connection ws itself would be refused on: a 200 that looks like an upgrade, no length, kept open. */
const UPGRADE_LIKE_200 = ["HTTP/1.1 200 OK", "Upgrade: websocket", "Connection: Upgrade", "Content-Type: text/plain"];

describe("a non-101 answer rejects at once and closes TCP", () => {
  test("200 with Upgrade/Connection headers, no length, socket kept open, no body: rejected promptly, TCP closed", async () => {
    const { error, elapsed, conn } = await refused((c) => c.write(head(UPGRADE_LIKE_200)));
    assert.equal(error.status, 200);
    assert.equal(error.message, "Invalid handshake response: 200 OK");
    assert.equal(error.body, undefined);
    assert.ok(elapsed < PROMPT_MS, `rejected after ${elapsed} ms`);
    await conn.waitForTcpClose(PROMPT_MS);
  });

  test("the same 200 with a body that starts at once and never ends: its first line ends the message", async () => {
    const { error, elapsed, conn } = await refused((c) => c.write(`${head(UPGRADE_LIKE_200)}This endpoint is not a WebSocket.\nSee /docs.\n`));
    assert.equal(error.status, 200);
    assert.equal(error.message, "Invalid handshake response: 200 OK: This endpoint is not a WebSocket.");
    assert.equal(error.body, "This endpoint is not a WebSocket.\nSee /docs.\n");
    assert.ok(elapsed < PROMPT_MS, `rejected after ${elapsed} ms`);
    await conn.waitForTcpClose(PROMPT_MS);
  });

  test("403 with a Content-Length body: the server's reason is in the message, the body on the error", async () => {
    const body = "Missing or expired token\r\nrequest id: 42";
    const { error, conn } = await refused((c) =>
      c.write(head(["HTTP/1.1 403 Forbidden", "Content-Type: text/plain", `Content-Length: ${Buffer.byteLength(body)}`]) + body),
    );
    assert.equal(error.status, 403);
    assert.equal(error.message, "Invalid handshake response: 403 Forbidden: Missing or expired token");
    assert.equal(error.body, body);
    await conn.waitForTcpClose(PROMPT_MS);
  });

  test("403 with a chunked body that ends: the decoded body's first line", async () => {
    const { error, conn } = await refused((c) =>
      c.write(`${head(["HTTP/1.1 403 Forbidden", "Transfer-Encoding: chunked"])}5\r\nnot a\r\n10\r\nllowed here\nbye\n\r\n0\r\n\r\n`),
    );
    assert.equal(error.message, "Invalid handshake response: 403 Forbidden: not allowed here");
    assert.equal(error.body, "not allowed here\nbye\n");
    await conn.waitForTcpClose(PROMPT_MS);
  });

  test("403 with a chunked body that never ends: rejected promptly with what came", async () => {
    const { error, elapsed, conn } = await refused((c) => c.write(`${head(["HTTP/1.1 403 Forbidden", "Transfer-Encoding: chunked"])}7\r\nno way\n\r\n`));
    assert.equal(error.message, "Invalid handshake response: 403 Forbidden: no way");
    assert.ok(elapsed < PROMPT_MS, `rejected after ${elapsed} ms`);
    await conn.waitForTcpClose(PROMPT_MS);
  });

  test("a body that is promised (Content-Length) but never comes: rejected promptly with the status alone", async () => {
    const { error, elapsed, conn } = await refused((c) => c.write(head(["HTTP/1.1 503 Service Unavailable", "Content-Length: 100"])));
    assert.equal(error.status, 503);
    assert.equal(error.message, "Invalid handshake response: 503 Service Unavailable");
    assert.equal(error.body, undefined);
    assert.ok(elapsed < PROMPT_MS, `rejected after ${elapsed} ms`);
    await conn.waitForTcpClose(PROMPT_MS);
  });

  test("a body that comes later than a moment (1.5 s) is not waited for", async () => {
    const { error, elapsed, conn } = await refused((c) => {
      c.write(head(["HTTP/1.1 401 Unauthorized", "Content-Length: 4"]));
      setTimeout(() => c.socket.destroyed || c.write("late"), 1500);
    });
    assert.equal(error.message, "Invalid handshake response: 401 Unauthorized");
    assert.ok(elapsed < PROMPT_MS, `rejected after ${elapsed} ms: it waited for the late body`);
    await conn.waitForTcpClose(PROMPT_MS);
  });

  test("even with a long handShakeTimeout and retryConfig: one attempt, rejected promptly", async () => {
    const server = await RawServer.start({ onRequest: (c) => c.write(head(UPGRADE_LIKE_200)) });
    const started = Date.now();
    const error = await rejection(Client.connect(`${server.url}/`, { handShakeTimeout: 600, retryConfig: { maxCount: 3, interval: 0.01 } }), 3000);
    assertInstance(error, InvalidHandshakeError);
    assert.ok(Date.now() - started < PROMPT_MS, `rejected after ${Date.now() - started} ms`);
    await sleep(50);
    assert.equal(server.connections.length, 1, "a refusal is not retried");
  });
});

describe("the body kept and the line shown", () => {
  test("a body over 1 KiB: at most 1 KiB kept, rejected without waiting for the rest", async () => {
    const line = `${"x".repeat(200)}\n`;
    const { error, elapsed, conn } = await refused((c) => {
      c.write(head(["HTTP/1.1 400 Bad Request", `Content-Length: ${line.length * 10_000}`]));
      for (let i = 0; i < 20; i++) c.write(line);
    });
    assert.ok(error.body !== undefined && error.body.length <= MAX_REFUSAL_BODY, `kept ${error.body?.length} characters`);
    assert.equal(MAX_REFUSAL_BODY, 1024);
    assert.ok(error.body.startsWith(line));
    assert.equal(error.message, `Invalid handshake response: 400 Bad Request: ${"x".repeat(200)}`);
    assert.ok(elapsed < PROMPT_MS, `rejected after ${elapsed} ms`);
    await conn.waitForTcpClose(PROMPT_MS);
  });

  test("a code point cut by the 1 KiB bound is dropped, not shown as a replacement character", async () => {
    const body = `${"a".repeat(MAX_REFUSAL_BODY - 1)}é and more`;
    const { error } = await refused((c) => c.write(head(["HTTP/1.1 400 Bad Request", `Content-Length: ${Buffer.byteLength(body)}`]) + body));
    assert.equal(error.body, "a".repeat(MAX_REFUSAL_BODY - 1));
  });

  test("leading blank lines are skipped; control characters in the line are replaced", async () => {
    const body = "\r\n\n  \u001b[31mred\u0007 alert\u001b[0m\ttabbed\nsecond line";
    const { error } = await refused((c) => c.write(head(["HTTP/1.1 429 Too Many Requests", `Content-Length: ${Buffer.byteLength(body)}`]) + body));
    assert.equal(error.message, "Invalid handshake response: 429 Too Many Requests: \ufffd[31mred\ufffd alert\ufffd[0m\ttabbed");
    assert.equal(error.body, body);
  });

  test("an empty reason phrase: the status alone, then the line", async () => {
    const { error } = await refused((c) => c.write(`${head(["HTTP/1.1 404 ", "Content-Length: 9"])}not here\n`));
    assert.equal(error.message, "Invalid handshake response: 404: not here");
  });
});
