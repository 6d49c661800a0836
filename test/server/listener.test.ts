import assert from "node:assert/strict";
import { createServer } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { connect, type Socket } from "node:net";
import { describe, test } from "node:test";
import WebSocket from "ws";
import { AuthnError, AuthzError, Listener, UpgradeError, type UpgradeRequest } from "../../src/index.ts";
import { FrameParser } from "../../src/protocol/frame-parser.ts";
import { acceptKey, generateKey } from "../../src/protocol/handshake.ts";
import { selfSignedCertificate } from "../helpers/certificates.ts";
import { FIN, maskedFrame, OP_BINARY, OP_PING, OP_TEXT, onHttpHead, parsedEvents, type ParsedEvent, Waiters } from "../helpers/raw-peer.ts";
import { RawWebSocket } from "../helpers/raw-ws.ts";
import {
  closed,
  deferred,
  delay,
  nextMessages,
  openWs,
  rawHttp,
  startListener,
  upgradeRequest,
  within,
} from "../helpers/listener.ts";

const echo = {
  config: { allowedOrigins: ["*"] },
  upgrade: () => ({ onTextMessage: (_c: unknown, text: string) => text }),
};

describe("HTTP outcomes of the upgrade", async () => {
  const listener = await startListener(
    {
      "/ws": echo,
      "/refuse": {
        upgrade: (req) => {
          const how = req.query.get("how");
          if (how === "upgrade") return new UpgradeError("go away", { status: 409, headers: { "X-Why": "busy" } });
          if (how === "odd-status") return new UpgradeError("odd", { status: 302 });
          if (how === "authn") throw new AuthnError("who are you");
          if (how === "authz") return new AuthzError("not you");
          if (how === "plain") return new Error("plain refusal");
          if (how === "throw-upgrade") throw new UpgradeError("thrown refusal", { status: 451 });
          throw new TypeError("service bug");
        },
      },
    },
    { requestLimits: { maxUriLength: 200, maxHeaderSize: 2048, maxEntityBodySize: 10 }, server: "ferry-test" },
  );
  const port = listener.port;

  test("101 with the RFC 6455 accept key and the Server header", async () => {
    const res = await rawHttp(port, upgradeRequest("/ws"), 300);
    assert.equal(res.status, 101);
    assert.equal(res.headers["sec-websocket-accept"], "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert.equal(res.headers["upgrade"], "websocket");
    assert.equal(res.headers["server"], "ferry-test");
    assert.equal(res.headers["sec-websocket-protocol"], undefined);
  });

  test("404 with its body for an unknown path", async () => {
    const res = await rawHttp(port, upgradeRequest("/nope"));
    assert.equal(res.status, 404);
    assert.equal(res.body, "No service found to handle the service request");
  });

  test("400 for a method other than GET", async () => {
    const res = await rawHttp(port, upgradeRequest("/ws").replace("GET", "POST"));
    assert.equal(res.status, 400);
  });

  test("400 when Connection does not list upgrade", async () => {
    const res = await rawHttp(port, upgradeRequest("/ws").replace("Connection: Upgrade", "Connection: keep-alive"));
    assert.equal(res.status, 400);
    assert.match(res.body, /Connection/);
  });

  test("400 for a key that is not base64 of 16 bytes", async () => {
    for (const key of ["short", "dGhlIHNhbXBsZSBub25jZQ", "dGhlIHNhbXBsZSBub25jZSE="]) {
      const res = await rawHttp(port, upgradeRequest("/ws", [], key));
      assert.equal(res.status, 400, key);
    }
  });

  test("426 with Sec-WebSocket-Version: 13 for another version", async () => {
    const res = await rawHttp(port, upgradeRequest("/ws").replace("Version: 13", "Version: 8"));
    assert.equal(res.status, 426);
    assert.equal(res.headers["sec-websocket-version"], "13");
  });

  test("426 with Upgrade: websocket for a plain request", async () => {
    const res = await fetch(`http://127.0.0.1:${port}/ws`);
    assert.equal(res.status, 426);
    assert.equal(res.headers.get("upgrade"), "websocket");
    assert.equal(res.headers.get("server"), "ferry-test");
  });

  test("413 for a declared body over maxEntityBodySize", async () => {
    const res = await rawHttp(port, upgradeRequest("/ws", ["Content-Length: 11"]));
    assert.equal(res.status, 413);
  });

  test("414 for a URI over maxUriLength", async () => {
    const res = await rawHttp(port, upgradeRequest(`/ws?${"a".repeat(300)}`));
    assert.equal(res.status, 414);
  });

  test("431 for headers over maxHeaderSize", async () => {
    const res = await rawHttp(port, upgradeRequest("/ws", [`X-Big: ${"b".repeat(3000)}`]));
    assert.equal(res.status, 431);
  });

  test("UpgradeError: its status, headers and message", async () => {
    const res = await rawHttp(port, upgradeRequest("/refuse?how=upgrade"));
    assert.equal(res.status, 409);
    assert.equal(res.headers["x-why"], "busy");
    assert.equal(res.body, "go away");
    assert.equal((await rawHttp(port, upgradeRequest("/refuse?how=throw-upgrade"))).status, 451);
  });

  test("UpgradeError with a status outside 400–599 → 400", async () => {
    assert.equal((await rawHttp(port, upgradeRequest("/refuse?how=odd-status"))).status, 400);
  });

  test("AuthnError → 401, AuthzError → 403, thrown or returned", async () => {
    assert.equal((await rawHttp(port, upgradeRequest("/refuse?how=authn"))).status, 401);
    assert.equal((await rawHttp(port, upgradeRequest("/refuse?how=authz"))).status, 403);
  });

  test("another returned error → 400 with its message", async () => {
    const res = await rawHttp(port, upgradeRequest("/refuse?how=plain"));
    assert.equal(res.status, 400);
    assert.equal(res.body, "plain refusal");
  });

  test("anything else thrown → 500, and the listener keeps serving", async () => {
    assert.equal((await rawHttp(port, upgradeRequest("/refuse?how=bug"))).status, 500);
    const ws = await openWs(port, "/ws");
    ws.send("still here");
    assert.deepEqual(await nextMessages(ws, 1), ["still here"]);
    ws.close();
  });
});

describe("Listener configuration", () => {
  test("a negative timeout fails at construction", () => {
    assert.throws(() => new Listener(0, { timeout: -1 }), RangeError);
  });

  test("a timeout beyond Node's longest timer (2147483.647 s) fails at construction: it would fire after 1 ms", () => {
    for (const timeout of [2.5e6, Infinity, NaN]) {
      assert.throws(() => new Listener(0, { timeout }), /ListenerConfiguration\.timeout must be 0 \(no limit\) to 2147483\.647 seconds/);
      assert.throws(() => new Listener(createServer(), { timeout }), RangeError);
    }
    assert.doesNotThrow(() => new Listener(0, { timeout: 2147483.647 }));
  });

  test("so do a service's idleTimeout, pingInterval and connectionClosureTimeout", () => {
    const listener = new Listener(0);
    const upgrade = (): object => ({});
    for (const key of ["idleTimeout", "pingInterval", "connectionClosureTimeout"]) {
      for (const value of [2.5e6, Infinity, NaN]) {
        assert.throws(() => listener.attach("/", { config: { [key]: value }, upgrade }), new RegExp(`ServiceConfig\\.${key} must be 0`));
      }
      listener.attach(`/${key}`, { config: { [key]: 2147483.647 }, upgrade });
    }
    listener.attach("/forever", { config: { connectionClosureTimeout: -1 }, upgrade });
  });

  test("port is the bound port after start", async () => {
    const listener = await startListener({ "/ws": echo });
    assert.ok(listener.port > 0);
  });
});

describe("routing", async () => {
  const seen: UpgradeRequest[] = [];
  const capture = (name: string) => ({
    config: { allowedOrigins: ["*"] },
    upgrade: (req: UpgradeRequest) => {
      seen.push(req);
      return { onOpen: (caller: { writeTextMessage(t: string): Promise<void> }) => caller.writeTextMessage(name) };
    },
  });
  const listener = await startListener({
    "/chat/{room}": capture("template"),
    "/chat/lobby": capture("literal"),
    "/a/{x}/b/{y}": capture("two"),
    "/": capture("root"),
  });

  async function served(path: string, headers?: Record<string, string>): Promise<string> {
    const ws = await openWs(listener.port, path, headers === undefined ? {} : { headers });
    const [name] = await nextMessages(ws, 1);
    ws.close();
    return name as string;
  }

  test("a literal path wins over a template", async () => {
    assert.equal(await served("/chat/lobby"), "literal");
    assert.equal(await served("/chat/kitchen"), "template");
  });

  test("path params, query, trailing slash", async () => {
    assert.equal(await served("/chat/garden/?x=1&y=two"), "template");
    const req = seen.at(-1)!;
    assert.deepEqual(req.params, { room: "garden" });
    assert.equal(req.path, "/chat/garden/");
    assert.equal(req.query.get("y"), "two");
    assert.equal(await served("/a/1/b/%C3%A9"), "two");
    assert.deepEqual(seen.at(-1)!.params, { x: "1", y: "é" });
    assert.equal(await served("/"), "root");
  });

  test("UpgradeRequest carries method, headers, cookies, remote address", async () => {
    await served("/chat/x", { Cookie: "session=abc; theme=dark", "X-Custom": "yes" });
    const req = seen.at(-1)!;
    assert.equal(req.method, "GET");
    assert.equal(req.headers.get("x-custom"), "yes");
    assert.equal(req.cookies.get("session"), "abc");
    assert.equal(req.cookies.get("theme"), "dark");
    assert.equal(req.remoteAddress.host, "127.0.0.1");
    assert.ok(req.remoteAddress.port > 0);
    assert.equal(req.secure, false);
    assert.equal(req.peerCertificate, undefined);
    assert.equal(req.principal, undefined);
  });

  test("cookies from several Cookie lines all count; headers, cookies and query stay readable after the upgrade", async () => {
    const res = await rawHttp(listener.port, upgradeRequest("/chat/y?a=1", ["Cookie: first=1", "Cookie: second=2; first=ignored", "X-Twice: a", "X-Twice: b"]));
    assert.equal(res.status, 101);
    const req = seen.at(-1)!;
    assert.equal(req.cookies.get("first"), "1");
    assert.equal(req.cookies.get("second"), "2");
    assert.equal(req.headers.get("x-twice"), "a, b");
    assert.equal(req.query.get("a"), "1");
    assert.equal(req.headers, req.headers, "the same Headers object every time");
  });

  test("attach after start, detach keeps open connections", async () => {
    listener.attach("/late", capture("late"));
    const ws = await openWs(listener.port, "/late");
    assert.deepEqual(await nextMessages(ws, 1), ["late"]);
    listener.detach("/late");
    assert.equal((await rawHttp(listener.port, upgradeRequest("/late"))).status, 404);
    ws.send("ping?");
    ws.ping();
    const pong = await within(new Promise((r) => ws.once("pong", r)), 2000, "pong");
    assert.ok(pong);
    ws.close();
  });
});

describe("upgrade services", async () => {
  const listener = await startListener({
    "/proto": {
      config: { subProtocols: ["chat.v2", "chat.v1"] },
      upgrade: () => ({
        customHeaders: { "X-Room": "blue", "Set-Cookie": "seen=1" },
        onOpen: (caller) => caller.writeTextMessage(String(caller.getNegotiatedSubProtocol())),
      }),
    },
    "/same-origin": echo.upgrade === undefined ? echo : { upgrade: echo.upgrade },
    "/listed": { config: { allowedOrigins: ["https://app.example"] }, upgrade: echo.upgrade },
    "/slow": {
      upgrade: async () => {
        await delay(50);
        return { onOpen: (caller) => caller.writeTextMessage("async ok") };
      },
    },
  });
  const port = listener.port;

  test("custom headers on the 101", async () => {
    const res = await rawHttp(port, upgradeRequest("/proto"), 300);
    assert.equal(res.status, 101);
    assert.equal(res.headers["x-room"], "blue");
    assert.equal(res.headers["set-cookie"], "seen=1");
  });

  test("the first offered sub-protocol that is supported wins; none → no header", async () => {
    const ws = await openWs(port, "/proto", { protocols: ["chat.v3", "chat.v1", "chat.v2"] });
    assert.equal(ws.protocol, "chat.v1");
    assert.deepEqual(await nextMessages(ws, 1), ["chat.v1"]);
    ws.close();
    const res = await rawHttp(port, upgradeRequest("/proto", ["Sec-WebSocket-Protocol: other"]), 300);
    assert.equal(res.status, 101);
    assert.equal(res.headers["sec-websocket-protocol"], undefined);
    const plain = await openWs(port, "/proto");
    assert.deepEqual(await nextMessages(plain, 1), ["undefined"]);
    plain.close();
  });

  test("allowedOrigins: same origin or none by default, listed ones, others 403", async () => {
    const host = `127.0.0.1:${port}`;
    const withOrigin = (path: string, origin: string) => rawHttp(port, upgradeRequest(path, [`Origin: ${origin}`]).replace("Host: 127.0.0.1", `Host: ${host}`), 300);
    assert.equal((await withOrigin("/same-origin", `http://${host}`)).status, 101);
    assert.equal((await withOrigin("/same-origin", "https://evil.example")).status, 403);
    assert.equal((await rawHttp(port, upgradeRequest("/same-origin"), 300)).status, 101);
    assert.equal((await withOrigin("/listed", "https://app.example")).status, 101);
    assert.equal((await withOrigin("/listed", "https://other.example")).status, 403);
    assert.equal((await withOrigin("/proto", "https://other.example")).status, 403);
  });

  test("upgrade() may be async", async () => {
    const ws = await openWs(port, "/slow");
    assert.deepEqual(await nextMessages(ws, 1), ["async ok"]);
    ws.close();
  });
});

describe("sharing an http.Server", () => {
  test("ferry takes only its paths; other requests and upgrade listeners are untouched", async () => {
    const server = createServer((_req, res) => res.end("plain http"));
    server.on("upgrade", (req, socket) => {
      if (req.url === "/other") socket.end("HTTP/1.1 418 I'm a teapot\r\nContent-Length: 0\r\n\r\n");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as { port: number }).port;
    const listener = new Listener(server);
    listener.attach("/ws", echo);
    await listener.start();

    assert.equal(await (await fetch(`http://127.0.0.1:${port}/page`)).text(), "plain http");
    assert.equal((await rawHttp(port, upgradeRequest("/other"))).status, 418);
    const ws = await openWs(port, "/ws");
    ws.send("shared");
    assert.deepEqual(await nextMessages(ws, 1), ["shared"]);

    const wsClosed = closed(ws);
    await within(listener.gracefulStop(), 3000, "gracefulStop");
    assert.equal((await wsClosed).code, 1001);
    assert.ok(server.listening, "the owner's server keeps running");
    assert.equal(await (await fetch(`http://127.0.0.1:${port}/page`)).text(), "plain http");
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
});

describe("stopping", () => {
  test("gracefulStop sends 1001 to every connection, waits for them, and stops accepting", async () => {
    const listener = new Listener(0, { host: "127.0.0.1" });
    const closedOnServer = deferred<number>();
    listener.attach("/ws", { upgrade: () => ({ onClose: (_c, code: number) => closedOnServer.resolve(code) }) });
    await listener.start();
    const port = listener.port;
    const clients = await Promise.all([openWs(port, "/ws"), openWs(port, "/ws")]);
    const codes = clients.map((ws) => closed(ws));
    await within(listener.gracefulStop(), 3000, "gracefulStop");
    assert.deepEqual((await Promise.all(codes)).map((c) => c.code), [1001, 1001]);
    assert.equal(await closedOnServer.promise, 1001);
    await assert.rejects(openWs(port, "/ws"));
  });

  test("immediateStop drops connections without close frames: peers see 1006", async () => {
    const listener = new Listener(0, { host: "127.0.0.1" });
    listener.attach("/ws", echo);
    await listener.start();
    const ws = await openWs(listener.port, "/ws");
    const result = closed(ws);
    await within(listener.immediateStop(), 3000, "immediateStop");
    assert.equal((await result).code, 1006);
  });

  test("a stopped listener can start again", async () => {
    const listener = new Listener(0, { host: "127.0.0.1" });
    listener.attach("/ws", echo);
    await listener.start();
    await listener.gracefulStop();
    await listener.start();
    const ws = new WebSocket(`ws://127.0.0.1:${listener.port}/ws`);
    await within(new Promise((r) => ws.once("open", r)), 2000, "open");
    ws.terminate();
    await listener.immediateStop();
  });
});

describe("http1Settings", () => {
  test("keepAlive NEVER closes plain HTTP connections after the answer", async () => {
    const listener = await startListener({ "/ws": echo }, { http1Settings: { keepAlive: "NEVER" } });
    const res = await rawHttp(listener.port, "GET /ws HTTP/1.1\r\nHost: x\r\n\r\n");
    assert.equal(res.status, 426);
    assert.equal(res.headers["connection"], "close");
  });

  test("keepAlive AUTO keeps an HTTP/1.1 connection open for the next request", async () => {
    const listener = await startListener({ "/ws": echo });
    const answers = await new Promise<string>((resolve) => {
      const socket = connect(listener.port, "127.0.0.1");
      let data = "";
      socket.on("data", (chunk) => {
        data += chunk.toString("latin1");
        if (data.split("HTTP/1.1 426").length === 3) {
          socket.destroy();
          resolve(data);
        }
      });
      socket.on("close", () => resolve(data));
      socket.write("GET /ws HTTP/1.1\r\nHost: x\r\n\r\n");
      setTimeout(() => socket.write("GET /ws HTTP/1.1\r\nHost: x\r\n\r\n"), 50);
    });
    assert.equal(answers.split("HTTP/1.1 426").length, 3, "two answers on one connection");
  });
});

describe("origin rules", () => {
  test("same origin means the same scheme too", async () => {
    const listener = await startListener({ "/ws": { upgrade: echo.upgrade } });
    const host = `127.0.0.1:${listener.port}`;
    const withOrigin = (origin: string) =>
      rawHttp(listener.port, upgradeRequest("/ws", [`Origin: ${origin}`]).replace("Host: 127.0.0.1", `Host: ${host}`), 300);
    assert.equal((await withOrigin(`http://${host}`)).status, 101);
    assert.equal((await withOrigin(`https://${host}`)).status, 403, "an https page is another origin than a plain listener");
  });
});

const MIB = 1024 * 1024;

const bigEcho = {
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
  const listener = await startListener({ "/echo": bigEcho });

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

});

test("a shared http server's close() waits for its WebSocket connections", async () => {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const listener = new Listener(server);
  listener.attach("/", bigEcho);
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
  listener.attach("/", bigEcho);
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

describe("a service whose getters throw", async () => {
  const broken = (): never => {
    throw new Error("getter broke");
  };
  const errors: unknown[] = [];
  const listener = await startListener({
    "/getter": {
      upgrade: () => ({
        get onPing(): never {
          return broken();
        },
      }),
    },
    // `await` reads `then`, where a throw was always a 500: the Proxy fails on what comes after.
    "/proxy": { upgrade: () => new Proxy({}, { get: (_target, key) => (key === "then" ? undefined : broken()) }) },
    "/prototype": { upgrade: () => new Proxy({}, { getPrototypeOf: broken }) },
    "/headers": {
      upgrade: () => ({
        get customHeaders(): never {
          return broken();
        },
      }),
    },
    "/later": {
      config: { allowedOrigins: ["*"] },
      upgrade: () => ({
        get onTextMessage(): never {
          return broken();
        },
        onBinaryMessage: (_c: unknown, data: Uint8Array) => data,
        onError: (_c: unknown, error: Error) => void errors.push(error),
      }),
    },
    "/ws": echo,
  });

  test("read on accepting it: 500, and the listener keeps serving", async () => {
    for (const path of ["/getter", "/proxy", "/prototype", "/headers"]) {
      const response = await rawHttp(listener.port, upgradeRequest(path));
      assert.equal(response.status, 500, path);
      assert.equal(response.body, "Internal server error", path);
    }
    const ws = await openWs(listener.port, "/ws");
    ws.send("still here");
    assert.deepEqual(await nextMessages(ws, 1), ["still here"]);
    ws.close();
  });

  test("read for an event: that event fails as a handler that threw, and the connection keeps working", async () => {
    const ws = await openWs(listener.port, "/later");
    ws.send("text");
    ws.send(Buffer.from([7]));
    assert.deepEqual(await nextMessages(ws, 1), [Buffer.from([7])]);
    assert.equal(errors.length, 1);
    assert.equal((errors[0] as Error).message, "getter broke");
    ws.close();
  });
});
