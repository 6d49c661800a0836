/**
 * The client's opening handshake (SPEC §10, RFC 6455 §4.1): what it sends, and every way
 * a server's answer can be wrong. A raw node:net server (raw-server.ts) answers exactly what
 * each test needs.
 */
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { describe, test } from "node:test";
import {
  Client,
  type ClientConfiguration,
  ConnectionError,
  HandshakeTimedOutError,
  InvalidHandshakeError,
  Listener,
} from "../../src/index.ts";
import { parseSetCookie } from "../../src/client/opening-handshake.ts";
import { acceptKey } from "../../src/protocol/handshake.ts";
import { type RawConnection, RawServer, rejection, within, WAIT_MS, assertInstance } from "./raw-server.ts";

/** Connects to a raw server that answers with `answer`, and returns the error the connect rejects with. */
async function refusedWith(answer: (conn: RawConnection) => void, config: ClientConfiguration = {}): Promise<{ error: Error; server: RawServer }> {
  const server = await RawServer.start({ onRequest: answer });
  const error = await rejection(Client.connect(`${server.url}/`, config), WAIT_MS, "connect");
  return { error, server };
}

function response(lines: string[], body = ""): string {
  return `${lines.join("\r\n")}\r\n\r\n${body}`;
}

/** A port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe("what the client sends", () => {
  test("GET with the path and query, Host, Upgrade, Connection, version 13 and a fresh 16-byte key", async () => {
    const server = await RawServer.start();
    const a = await within(Client.connect(`${server.url}/chat/room?x=1&y=%20`));
    const b = await within(Client.connect(`${server.url}/chat/room?x=1&y=%20`));
    const [ra, rb] = [(await server.connection(0)).request, (await server.connection(1)).request];
    assert.equal(ra.method, "GET");
    assert.equal(ra.path, "/chat/room?x=1&y=%20");
    assert.equal(ra.headers["host"], `127.0.0.1:${server.port}`);
    assert.equal(ra.headers["upgrade"], "websocket");
    assert.equal(ra.headers["connection"], "Upgrade");
    assert.equal(ra.headers["sec-websocket-version"], "13");
    assert.equal(Buffer.from(ra.headers["sec-websocket-key"]!, "base64").length, 16);
    assert.notEqual(ra.headers["sec-websocket-key"], rb.headers["sec-websocket-key"], "each handshake needs a fresh key");
    assert.equal(ra.headers["sec-websocket-protocol"], undefined, "no sub-protocol offered: no header");
    assert.equal(ra.headers["cookie"], undefined);
    assert.equal(ra.headers["authorization"], undefined);
    await Promise.all([a.close(1000, "", 2), b.close(1000, "", 2)]);
  });

  test("offered sub-protocols, in order, in one header", async () => {
    const server = await RawServer.start();
    const client = await within(Client.connect(`${server.url}/`, { subProtocols: ["chat.v2", "chat.v1"] }));
    assert.equal((await server.connection()).request.headers["sec-websocket-protocol"], "chat.v2, chat.v1");
    assert.equal(client.getNegotiatedSubProtocol(), "chat.v2");
    await client.close(1000, "", 2);
  });

  test("customHeaders are sent; they cannot displace the handshake's own headers", async () => {
    const server = await RawServer.start();
    const client = await within(
      Client.connect(`${server.url}/`, { customHeaders: { "X-Trace-Id": "abc-123", "X-Other": "two words", "Sec-WebSocket-Version": "8" } }),
    );
    const headers = (await server.connection()).request.headers;
    assert.equal(headers["x-trace-id"], "abc-123");
    assert.equal(headers["x-other"], "two words");
    assert.equal(headers["sec-websocket-version"], "13");
    await client.close(1000, "", 2);
  });

  test("customHeaders in other letter cases do not duplicate the handshake's own headers", async () => {
    const server = await RawServer.start();
    const client = await within(Client.connect(`${server.url}/`, { customHeaders: { upgrade: "h2c", connection: "keep-alive", "x-ok": "1" } }));
    const headers = (await server.connection()).request.headers;
    assert.equal(headers["upgrade"], "websocket");
    assert.equal(headers["connection"], "Upgrade");
    assert.equal(headers["x-ok"], "1");
    await client.close(1000, "", 2);
  });

  test("auth { username, password } sends a Basic Authorization header", async () => {
    const server = await RawServer.start();
    const client = await within(Client.connect(`${server.url}/`, { auth: { username: "alice", password: "pä:ss" } }));
    const header = (await server.connection()).request.headers["authorization"]!;
    assert.match(header, /^Basic /);
    assert.equal(Buffer.from(header.slice(6), "base64").toString("utf8"), "alice:pä:ss");
    await client.close(1000, "", 2);
  });

  test("auth { token } sends a Bearer Authorization header", async () => {
    const server = await RawServer.start();
    const client = await within(Client.connect(`${server.url}/`, { auth: { token: "eyJ.token.sig" } }));
    assert.equal((await server.connection()).request.headers["authorization"], "Bearer eyJ.token.sig");
    await client.close(1000, "", 2);
  });

  test("cookies go in one Cookie header, filtered by domain and path", async () => {
    const server = await RawServer.start();
    const cookies = [
      { name: "plain", value: "1" },
      { name: "rootPath", value: "2", path: "/" },
      { name: "chatPath", value: "3", path: "/chat" },
      { name: "chatPathSlash", value: "4", path: "/chat/" },
      { name: "otherPath", value: "5", path: "/other" },
      { name: "prefixOnly", value: "6", path: "/ch" },
      { name: "thisHost", value: "7", domain: "127.0.0.1" },
      { name: "otherHost", value: "8", domain: "example.com" },
      { name: "deeper", value: "9", path: "/chat/room/deeper" },
    ];
    const a = await within(Client.connect(`${server.url}/chat/room`, { cookies }));
    assert.equal((await server.connection(0)).request.headers["cookie"], "plain=1; rootPath=2; chatPath=3; chatPathSlash=4; thisHost=7");
    const b = await within(Client.connect(`${server.url}/chatroom`, { cookies: [{ name: "chatPath", value: "3", path: "/chat" }] }));
    assert.equal((await server.connection(1)).request.headers["cookie"], undefined, "/chat does not cover /chatroom");
    await Promise.all([a.close(1000, "", 2), b.close(1000, "", 2)]);
  });
});

describe("bad handshake responses", () => {
  test("a 404 with a body: InvalidHandshakeError with status and body", async () => {
    const body = "No such path: /nowhere (try /chat) — ünïcödé";
    const { error } = await refusedWith((c) =>
      c.write(response(["HTTP/1.1 404 Not Found", "Content-Type: text/plain; charset=utf-8", `Content-Length: ${Buffer.byteLength(body)}`], body)),
    );
    assert.ok(error instanceof InvalidHandshakeError, String(error));
    assert.equal(error.status, 404);
    assert.equal(error.body, body);
    assert.match(error.message, /404/);
  });

  test("a 401 whose body arrives slowly and ends with the connection: status and whole body", async () => {
    const { error } = await refusedWith((c) => {
      c.write("HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic\r\nConnection: close\r\n\r\nfirst part, ");
      setTimeout(() => {
        c.write("second part");
        c.end();
      }, 30);
    });
    assertInstance(error, InvalidHandshakeError);
    assert.equal(error.status, 401);
    assert.equal(error.body, "first part, second part");
  });

  test("a 200 instead of a 101: InvalidHandshakeError with status 200", async () => {
    const { error } = await refusedWith((c) => c.write(response(["HTTP/1.1 200 OK", "Content-Length: 2"], "hi")));
    assertInstance(error, InvalidHandshakeError);
    assert.equal(error.status, 200);
    assert.equal(error.body, "hi");
  });

  test("a wrong Sec-WebSocket-Accept", async () => {
    const { error } = await refusedWith((c) =>
      c.write(response(["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade", `Sec-WebSocket-Accept: ${acceptKey("dGhlIHNhbXBsZSBub25jZQ==")}`])),
    );
    assert.ok(error instanceof InvalidHandshakeError, String(error));
    assert.match(error.message, /Sec-WebSocket-Accept/);
    assert.equal(error.status, 101);
  });

  test("a missing Sec-WebSocket-Accept", async () => {
    const { error } = await refusedWith((c) => c.write(response(["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade"])));
    assert.ok(error instanceof InvalidHandshakeError, String(error));
    assert.match(error.message, /Sec-WebSocket-Accept/);
  });

  test("a missing Upgrade header", async () => {
    const { error } = await refusedWith((c) =>
      c.write(response(["HTTP/1.1 101 Switching Protocols", "Connection: Upgrade", `Sec-WebSocket-Accept: ${c.expectedAccept}`])),
    );
    assert.ok(error instanceof InvalidHandshakeError, String(error));
    assert.equal(error.status, 101);
    assert.match(error.message, /the Upgrade header is not websocket/);
  });

  test("an Upgrade header that is not websocket", async () => {
    const { error } = await refusedWith((c) =>
      c.write(response(["HTTP/1.1 101 Switching Protocols", "Upgrade: h2c", "Connection: Upgrade", `Sec-WebSocket-Accept: ${c.expectedAccept}`])),
    );
    assert.ok(error instanceof InvalidHandshakeError, String(error));
    assert.match(error.message, /Upgrade/);
  });

  test("a missing Connection header", async () => {
    const { error } = await refusedWith((c) =>
      c.write(response(["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", `Sec-WebSocket-Accept: ${c.expectedAccept}`])),
    );
    assert.ok(error instanceof InvalidHandshakeError, String(error));
    assert.equal(error.status, 101);
    assert.match(error.message, /the Connection header does not list upgrade/);
  });

  test("a sub-protocol that was not offered", async () => {
    const { error } = await refusedWith((c) => c.accept({ protocol: "b" }), { subProtocols: ["a"] });
    assert.ok(error instanceof InvalidHandshakeError, String(error));
    assert.match(error.message, /^Invalid subprotocol/);
    assert.match(error.message, /"b"/);
  });

  test("a sub-protocol when none was offered", async () => {
    const { error } = await refusedWith((c) => c.accept({ protocol: "a" }));
    assert.ok(error instanceof InvalidHandshakeError, String(error));
    assert.match(error.message, /^Invalid subprotocol/);
  });

  test("sub-protocols are case-sensitive: \"A\" is not \"a\"", async () => {
    const { error } = await refusedWith((c) => c.accept({ protocol: "A" }), { subProtocols: ["a"] });
    assert.ok(error instanceof InvalidHandshakeError, String(error));
  });

  test("no sub-protocol when one was offered: \"Invalid subprotocol…\"", async () => {
    const { error } = await refusedWith((c) => c.accept({ protocol: null }), { subProtocols: ["a", "b"] });
    assert.ok(error instanceof InvalidHandshakeError, String(error));
    assert.match(error.message, /^Invalid subprotocol/);
  });

  test("an extension that was not offered", async () => {
    const { error } = await refusedWith((c) => c.accept({ extraHeaders: ["Sec-WebSocket-Extensions: permessage-deflate"] }), { webSocketCompressionEnabled: false });
    assert.ok(error instanceof InvalidHandshakeError, String(error));
    assert.match(error.message, /extension/);
  });

  test("a bad answer closes the socket and is not retried, even with retryConfig", async () => {
    const { error, server } = await refusedWith((c) => c.accept({ protocol: "zzz" }), { subProtocols: ["a"], retryConfig: { maxCount: 3, interval: 0.01 } });
    assertInstance(error, InvalidHandshakeError);
    const conn = await server.connection(0);
    await conn.waitForTcpClose();
    await new Promise((resolve) => setTimeout(resolve, 60));
    assert.equal(server.connections.length, 1);
  });

  test("a server that never answers: HandshakeTimedOutError after handShakeTimeout", async () => {
    const started = Date.now();
    const { error, server } = await refusedWith(() => undefined, { handShakeTimeout: 0.3 });
    const elapsed = Date.now() - started;
    assert.ok(error instanceof HandshakeTimedOutError, String(error));
    assert.ok(elapsed >= 280 && elapsed < 2000, `timed out after ${elapsed} ms`);
    await (await server.connection(0)).waitForTcpClose();
  });

  test("a server that accepts TCP but never sends the request's answer, with retryConfig: still HandshakeTimedOutError", async () => {
    const { error, server } = await refusedWith(() => undefined, { handShakeTimeout: 0.2, retryConfig: { maxCount: 2, interval: 0.01 } });
    assert.ok(error instanceof HandshakeTimedOutError, String(error));
    assert.equal(server.connections.length, 1);
  });
});

describe("bad URLs and unreachable servers", () => {
  test("an http: URL: ConnectionError naming the scheme", async () => {
    const error = await rejection(Client.connect("http://127.0.0.1:1/"));
    assert.ok(error instanceof ConnectionError, String(error));
    assert.match(error.message, /http:/);
    assert.match(error.message, /ws: or wss:/);
  });

  test("a malformed URL: ConnectionError", async () => {
    const error = await rejection(Client.connect("not a url"));
    assert.ok(error instanceof ConnectionError, String(error));
    assert.match(error.message, /Malformed WebSocket URL: not a url/);
  });

  test("a URL with a fragment: ConnectionError", async () => {
    const error = await rejection(Client.connect("ws://127.0.0.1:1/#frag"));
    assert.ok(error instanceof ConnectionError, String(error));
  });

  test("a refused connection (closed port): ConnectionError with the cause", async () => {
    const port = await closedPort();
    const error = await rejection(Client.connect(`ws://127.0.0.1:${port}/`));
    assert.ok(error instanceof ConnectionError, String(error));
    assert.equal((error.cause as NodeJS.ErrnoException).code, "ECONNREFUSED");
  });

  test("a connection reset during the handshake: ConnectionError", async () => {
    const { error } = await refusedWith((c) => c.destroy());
    assert.ok(error instanceof ConnectionError, String(error));
  });

  test("bad configuration values are refused before connecting", async () => {
    await assert.rejects(Client.connect("ws://127.0.0.1:1/", { readTimeout: -2 }), RangeError);
    await assert.rejects(Client.connect("ws://127.0.0.1:1/", { retryConfig: { backOffFactor: 0.5 } }), RangeError);
  });
});

describe("the handshake response", () => {
  test("getHttpResponse(): status 101, headers, and Set-Cookie parsed with attributes", async () => {
    const server = await RawServer.start({
      onRequest: (c) =>
        c.accept({
          extraHeaders: [
            "X-Server: raw",
            "Set-Cookie: sid=abc123; Path=/app; Domain=.example.com; Max-Age=3600; Secure; HttpOnly; SameSite=Lax",
            "Set-Cookie: theme=dark; Expires=Wed, 21 Oct 2037 07:28:00 GMT",
          ],
        }),
    });
    const client = await within(Client.connect(`${server.url}/`));
    const res = client.getHttpResponse();
    assert.equal(res.status, 101);
    assert.equal(res.statusText, "Switching Protocols");
    assertInstance(res.headers, Headers);
    assert.equal(res.headers.get("x-server"), "raw");
    assert.equal(res.headers.get("upgrade"), "websocket");
    assert.deepEqual(res.cookies, [
      { name: "sid", value: "abc123", path: "/app", domain: "example.com", maxAge: 3600, secure: true, httpOnly: true, sameSite: "Lax" },
      { name: "theme", value: "dark", expires: "Wed, 21 Oct 2037 07:28:00 GMT" },
    ]);
    await client.close(1000, "", 2);
  });

  test("frames that arrive in the same write as the 101 are not lost", async () => {
    const server = await RawServer.start({
      onRequest: (c) => c.accept({ frames: [Buffer.from([0x81, 0x05, ...Buffer.from("early")]), Buffer.from([0x82, 0x01, 0x07])] }),
    });
    const client = await within(Client.connect(`${server.url}/`));
    assert.equal(await within(client.readTextMessage()), "early");
    assert.deepEqual([...(await within(client.readBinaryMessage()))], [7]);
    await client.close(1000, "", 2);
  });

  test("against a ferry listener: the chosen sub-protocol and the service's customHeaders", async () => {
    const listener = new Listener(0, { host: "127.0.0.1" });
    listener.attach("/p", {
      config: { subProtocols: ["b", "c"] },
      upgrade: () => ({ customHeaders: { "X-Service": "ferry" }, onTextMessage: (_c: unknown, t: string) => t }),
    });
    await listener.start();
    try {
      const chosen = await within(Client.connect(`ws://127.0.0.1:${listener.port}/p`, { subProtocols: ["a", "c", "b"] }));
      assert.equal(chosen.getNegotiatedSubProtocol(), "c");
      assert.equal(chosen.getHttpResponse().headers.get("x-service"), "ferry");
      assert.equal(chosen.getHttpResponse().headers.get("sec-websocket-protocol"), "c");
      const none = await within(Client.connect(`ws://127.0.0.1:${listener.port}/p`));
      assert.equal(none.getNegotiatedSubProtocol(), undefined);
      const refused = await rejection(Client.connect(`ws://127.0.0.1:${listener.port}/p`, { subProtocols: ["x"] }));
      assertInstance(refused, InvalidHandshakeError);
      assert.match(refused.message, /^Invalid subprotocol/);
      const missing = await rejection(Client.connect(`ws://127.0.0.1:${listener.port}/nothing-here`));
      assertInstance(missing, InvalidHandshakeError);
      assert.equal(missing.status, 404);
      assert.equal(missing.body, "No service found to handle the service request");
      await Promise.all([chosen.close(1000, "", 2), none.close(1000, "", 2)]);
    } finally {
      await listener.immediateStop();
    }
  });
});

describe("parseSetCookie", () => {
  test("name and value, attributes case-insensitively, leading dot of Domain dropped", () => {
    assert.deepEqual(parseSetCookie("a=b; path=/x; DOMAIN=.ex.org; max-age=-1; secure; HTTPONLY; samesite=Strict"), {
      name: "a",
      value: "b",
      path: "/x",
      domain: "ex.org",
      maxAge: -1,
      secure: true,
      httpOnly: true,
      sameSite: "Strict",
    });
  });
  test("a value may contain '='; a non-numeric Max-Age is ignored; unknown attributes too", () => {
    assert.deepEqual(parseSetCookie("token=a=b==; Max-Age=soon; Priority=High"), { name: "token", value: "a=b==" });
  });
  test("no name or no '=': not a cookie", () => {
    assert.equal(parseSetCookie("=value"), undefined);
    assert.equal(parseSetCookie("novalue"), undefined);
  });
});
