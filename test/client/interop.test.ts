/**
 * Interop of the ferry client with other servers over real sockets on 127.0.0.1: the `ws`
 * package's WebSocketServer, Python's `websockets` (Debian's python3-websockets, run by
 * /usr/bin/python3, not whatever python3 is first on PATH), and ferry's own Listener.
 * Each: text (with every UTF-8 width), binary, 1 MiB messages both ways, pings, and close
 * codes both ways.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";
import { WebSocketServer, type WebSocket as WsSocket } from "ws";
import { type Caller, Client, type ClientConfiguration, closeFrame, ConnectionClosureError, InvalidHandshakeError, Listener } from "../../src/index.ts";
import { assertInstance, eventually, rejection, sleep, within } from "./raw-server.ts";

const MIB = 1024 * 1024;
const UTF8 = "héllo wörld — ñ ß Ω Ж שלום 中文 日本語 🚀🎉 👩‍👩‍👧 𝄞 e\u0301";
/** 1 MiB of text mixing 1- to 4-byte code points (so any fragmentation must respect them). */
const BIG_TEXT = "ferry é € 😀 字 ok|".repeat(Math.ceil(MIB / 30)).slice(0, MIB / 2);
const BIG_BINARY = Uint8Array.from({ length: MIB }, (_, i) => (i * 7 + (i >> 8)) & 255);
/** Receiving a peer's unfragmented 1 MiB frame needs a larger inbound frame limit. */
const BIG: ClientConfiguration = { maxFrameSize: 2 * MIB };

interface Peer {
  url: string;
  /** The close codes and reasons the server saw, in order. */
  closes: { code: number; reason: string }[];
}

/** Waits (bounded) until the server saw a close with exactly this code and reason. */
async function serverSaw(peer: Peer, code: number, reason: string): Promise<void> {
  await eventually(
    () => peer.closes.some((c) => c.code === code && c.reason === reason),
    5000,
    `the server to see close ${code} ${JSON.stringify(reason)} (it saw ${JSON.stringify(peer.closes)})`,
  );
}

/** The shared checks, run against each server. */
function conformsAsPeer(name: string, peer: () => Peer): void {
  test(`${name}: text, including every UTF-8 width, and binary`, async () => {
    const client = await within(Client.connect(peer().url, BIG));
    await client.writeTextMessage(UTF8);
    await client.writeTextMessage("");
    await client.writeBinaryMessage(new Uint8Array([0, 1, 2, 253, 254, 255]));
    await client.writeMessage({ json: ["ok", 1] });
    assert.equal(await within(client.readTextMessage()), UTF8);
    assert.equal(await within(client.readTextMessage()), "");
    assert.deepEqual([...(await within(client.readBinaryMessage()))], [0, 1, 2, 253, 254, 255]);
    assert.deepEqual(await within(client.readMessage("json")), { json: ["ok", 1] });
    await within(client.close(1000, "done", 5));
    await serverSaw(peer(), 1000, "done");
  });

  test(`${name}: 1 MiB text and binary both ways`, async () => {
    const client = await within(Client.connect(peer().url, BIG));
    await client.writeTextMessage(BIG_TEXT);
    await client.writeBinaryMessage(BIG_BINARY);
    const text = await within(client.readTextMessage(), 10_000);
    assert.equal(text.length, BIG_TEXT.length);
    assert.ok(text === BIG_TEXT, "the 1 MiB text came back changed");
    const bytes = await within(client.readBinaryMessage(), 10_000);
    assert.ok(Buffer.from(bytes).equals(Buffer.from(BIG_BINARY)), "the 1 MiB binary came back changed");
    await within(client.close(1000, "", 5));
  });

  test(`${name}: many messages in flight keep their order`, async () => {
    const client = await within(Client.connect(peer().url, BIG));
    const sent = Array.from({ length: 300 }, (_, i) => `#${i} ${"x".repeat(i * 13)}`);
    await Promise.all(sent.map((m) => client.writeTextMessage(m)));
    const got: string[] = [];
    for (let i = 0; i < sent.length; i++) got.push(await within(client.readTextMessage()));
    assert.deepEqual(got, sent);
    await within(client.close(1000, "", 5));
  });

  test(`${name}: the server's close code reaches the client; iteration ends quietly`, async () => {
    const client = await within(Client.connect(peer().url, BIG));
    await client.writeTextMessage("before");
    await client.writeTextMessage("close:4001:server closes");
    const seen: unknown[] = [];
    await within(
      (async () => {
        for await (const message of client) seen.push(message);
      })(),
      5000,
      "iteration",
    );
    assert.deepEqual(seen, ["before"]);
    const after = await rejection(client.readTextMessage());
    assertInstance(after, ConnectionClosureError);
    assert.equal(after.message, "Connection already closed");
    assert.equal(after.closeCode, 4001);
    assert.equal(client.isOpen(), false);
  });

  test(`${name}: a pending read gets the server's close as "<reason>: Status code: <code>"`, async () => {
    const client = await within(Client.connect(peer().url, BIG));
    await client.writeTextMessage("close:4002:bye from the server");
    const error = await rejection(client.readTextMessage());
    assert.ok(error instanceof ConnectionClosureError, String(error));
    assert.equal(error.message, "bye from the server: Status code: 4002");
  });

  test(`${name}: the client's close code and reason reach the server`, async () => {
    const client = await within(Client.connect(peer().url, BIG));
    await within(client.close(4003, "client leaves — ünïcode", 5));
    await serverSaw(peer(), 4003, "client leaves — ünïcode");
  });
}

// ---- ws ----

describe("ferry client ↔ ws server", () => {
  let wss: WebSocketServer;
  const peer: Peer = { url: "", closes: [] };

  before(async () => {
    wss = new WebSocketServer({ host: "127.0.0.1", port: 0, handleProtocols: (offered) => (offered.has("chat.v1") ? "chat.v1" : false) });
    wss.on("connection", (ws: WsSocket) => {
      ws.on("message", (data: Buffer, isBinary: boolean) => {
        const text = isBinary ? undefined : data.toString("utf8");
        if (text?.startsWith("close:")) {
          const [, code, reason] = text.split(/:(.*?):(.*)/s);
          ws.close(Number(code), reason);
        } else if (text?.startsWith("ping:")) {
          ws.once("pong", (payload: Buffer) => ws.send(`pong:${payload.toString()}`));
          ws.ping(text.slice(5));
        } else if (text === "protocol?") {
          ws.send(ws.protocol);
        } else {
          ws.send(isBinary ? data : text!);
        }
      });
      ws.on("close", (code: number, reason: Buffer) => void peer.closes.push({ code, reason: reason.toString() }));
    });
    await new Promise<void>((resolve) => wss.once("listening", resolve));
    peer.url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/any/path`;
  });
  after(async () => {
    for (const ws of wss.clients) ws.terminate();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  });

  conformsAsPeer("ws", () => peer);

  test("ws: the server's pings are answered with its payload, without a read", async () => {
    const client = await within(Client.connect(peer.url));
    await client.writeTextMessage("ping:are you alive?");
    assert.equal(await within(client.readTextMessage()), "pong:are you alive?");
    await within(client.close(1000, "", 5));
  });

  test("ws: sub-protocol negotiated, and refused when the server picks none", async () => {
    const client = await within(Client.connect(peer.url, { subProtocols: ["x", "chat.v1"] }));
    assert.equal(client.getNegotiatedSubProtocol(), "chat.v1");
    await client.writeTextMessage("protocol?");
    assert.equal(await within(client.readTextMessage()), "chat.v1");
    await within(client.close(1000, "", 5));
    const error = await rejection(Client.connect(peer.url, { subProtocols: ["x"] }));
    assertInstance(error, InvalidHandshakeError);
    assert.match(error.message, /^Invalid subprotocol/);
  });
});

// ---- Python websockets ----

const PYTHON = "/usr/bin/python3";
const SERVER_SCRIPT = fileURLToPath(new URL("./python_echo_server.py", import.meta.url));

describe("ferry client ↔ Python websockets server", () => {
  let child: ChildProcess | undefined;
  let url = "";

  before(async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, PYTHONNOUSERSITE: "1", PYTHONDONTWRITEBYTECODE: "1" };
    delete env["PYTHONPATH"];
    delete env["PYTHONHOME"];
    const proc = spawn(PYTHON, [SERVER_SCRIPT], { stdio: ["pipe", "pipe", "pipe"], env });
    child = proc;
    let stderr = "";
    proc.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    const port = await within(
      new Promise<number>((resolve, reject) => {
        let out = "";
        proc.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
          out += chunk;
          const line = out.split("\n")[0]!;
          if (out.includes("\n")) resolve(Number(line));
        });
        proc.once("error", reject);
        proc.once("exit", (code) => reject(new Error(`python server exited with ${code}: ${stderr}`)));
      }),
      10_000,
      "the python server's port",
    );
    assert.ok(port > 0, "port > 0");
    url = `ws://127.0.0.1:${port}/`;
  });
  after(async () => {
    const proc = child;
    if (proc === undefined || proc.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
    proc.stdin!.end();
    const timer = setTimeout(() => proc.kill("SIGKILL"), 3000);
    await exited;
    clearTimeout(timer);
  });

  test("python: text, including every UTF-8 width, and binary", async () => {
    const client = await within(Client.connect(url, BIG));
    await client.writeTextMessage(UTF8);
    await client.writeBinaryMessage(new Uint8Array([0, 1, 2, 253, 254, 255]));
    assert.equal(await within(client.readTextMessage()), UTF8);
    assert.deepEqual([...(await within(client.readBinaryMessage()))], [0, 1, 2, 253, 254, 255]);
    await within(client.close(1000, "done", 5));
  });

  test("python: 1 MiB text and binary both ways", async () => {
    const client = await within(Client.connect(url, BIG));
    await client.writeTextMessage(BIG_TEXT);
    await client.writeBinaryMessage(BIG_BINARY);
    assert.ok((await within(client.readTextMessage(), 10_000)) === BIG_TEXT, "the 1 MiB text came back changed");
    assert.ok(Buffer.from(await within(client.readBinaryMessage(), 10_000)).equals(Buffer.from(BIG_BINARY)), "Buffer.from(await within(client.readBinaryMessage(), 10_000)).equals(Buffer.from(BIG_BINARY))");
    await within(client.close(1000, "", 5));
  });

  test("python: the server's close code reaches the client; iteration ends quietly", async () => {
    const client = await within(Client.connect(url, BIG));
    await client.writeTextMessage("before");
    await client.writeTextMessage("close:4001:server closes");
    const seen: unknown[] = [];
    await within(
      (async () => {
        for await (const message of client) seen.push(message);
      })(),
      5000,
      "iteration",
    );
    assert.deepEqual(seen, ["before"]);
    assert.equal((await rejection(client.readTextMessage())).message, "Connection already closed");
  });

  test("python: a pending read gets the server's close as \"<reason>: Status code: <code>\"", async () => {
    const client = await within(Client.connect(url, BIG));
    await client.writeTextMessage("close:4002:bye from python");
    const error = await rejection(client.readTextMessage());
    assert.ok(error instanceof ConnectionClosureError, String(error));
    assert.equal(error.message, "bye from python: Status code: 4002");
  });

  test("python: the client's close code and reason reach the server", async () => {
    const client = await within(Client.connect(url, BIG));
    await within(client.close(4003, "client leaves — ünïcode", 5));
    assert.equal(client.isOpen(), false);
    const probe = await within(Client.connect(url));
    let closes: { code: number; reason: string }[] = [];
    for (let i = 0; i < 50 && !closes.some((c) => c.code === 4003); i++) {
      await probe.writeTextMessage("closes?");
      closes = JSON.parse(await within(probe.readTextMessage())) as typeof closes;
      if (!closes.some((c) => c.code === 4003)) await sleep(20);
    }
    assert.deepEqual(
      closes.find((c) => c.code === 4003),
      { code: 4003, reason: "client leaves — ünïcode" },
      `the python server saw ${JSON.stringify(closes)}`,
    );
    await within(probe.close(1000, "", 5));
  });

  test("python: the server's pings are answered with its payload, without a read", async () => {
    const client = await within(Client.connect(url));
    await client.writeTextMessage("ping:are you alive?");
    assert.equal(await within(client.readTextMessage()), "pong:are you alive?");
    await within(client.close(1000, "", 5));
  });

  test("python: sub-protocol negotiated, and refused when the server picks none", async () => {
    const client = await within(Client.connect(url, { subProtocols: ["x", "chat.v1"] }));
    assert.equal(client.getNegotiatedSubProtocol(), "chat.v1");
    await client.writeTextMessage("protocol?");
    assert.equal(await within(client.readTextMessage()), "chat.v1");
    await within(client.close(1000, "", 5));
    const error = await rejection(Client.connect(url, { subProtocols: ["x"] }));
    assertInstance(error, InvalidHandshakeError);
    assert.match(error.message, /^Invalid subprotocol/);
  });
});

// ---- ferry ↔ ferry ----

describe("ferry client ↔ ferry server", () => {
  let listener: Listener;
  const peer: Peer = { url: "", closes: [] };

  before(async () => {
    listener = new Listener(0, { host: "127.0.0.1" });
    listener.attach("/echo", {
      // Like the other peers, it takes (and sends) 1 MiB in one frame.
      config: { allowedOrigins: ["*"], subProtocols: ["chat.v1"], maxFrameSize: 2 * MIB },
      upgrade: () => ({
        onTextMessage: (caller: Caller, text: string) => {
          if (text.startsWith("close:")) {
            const [, code, reason] = text.split(/:(.*?):(.*)/s);
            return closeFrame(Number(code), reason);
          }
          if (text.startsWith("ping:")) {
            void caller.ping(Buffer.from(text.slice(5)));
            return undefined;
          }
          if (text === "protocol?") return caller.getNegotiatedSubProtocol() ?? "";
          return text;
        },
        onBinaryMessage: (_caller: Caller, data: Uint8Array) => data,
        onPong: (caller: Caller, data: Uint8Array) => caller.writeTextMessage(`pong:${Buffer.from(data).toString()}`),
        onClose: (_caller: Caller, code: number, reason: string) => void peer.closes.push({ code, reason }),
      }),
    });
    listener.attach("/defaults", { upgrade: () => ({ onBinaryMessage: (_caller: Caller, data: Uint8Array) => data }) });
    await listener.start();
    peer.url = `ws://127.0.0.1:${listener.port}/echo`;
  });
  after(() => listener.immediateStop());

  conformsAsPeer("ferry", () => peer);

  test("ferry: default limits on both sides carry 1 MiB, fragmented at 64 KiB each way", async () => {
    const client = await within(Client.connect(peer.url.replace("/echo", "/defaults")));
    await client.writeBinaryMessage(BIG_BINARY);
    assert.ok(Buffer.from(await within(client.readBinaryMessage(), 10_000)).equals(Buffer.from(BIG_BINARY)), "Buffer.from(await within(client.readBinaryMessage(), 10_000)).equals(Buffer.from(BIG_BINARY))");
    await within(client.close(1000, "", 5));
  });

  test("ferry: the server's pings are answered with its payload, without a read", async () => {
    const client = await within(Client.connect(peer.url));
    await client.writeTextMessage("ping:are you alive?");
    assert.equal(await within(client.readTextMessage()), "pong:are you alive?");
    await within(client.close(1000, "", 5));
  });

  test("ferry: sub-protocol negotiated", async () => {
    const client = await within(Client.connect(peer.url, { subProtocols: ["x", "chat.v1"] }));
    assert.equal(client.getNegotiatedSubProtocol(), "chat.v1");
    await client.writeTextMessage("protocol?");
    assert.equal(await within(client.readTextMessage()), "chat.v1");
    await within(client.close(1000, "", 5));
  });

  test("ferry: gracefulStop reaches a reading client as 1001", async () => {
    const stopping = new Listener(0, { host: "127.0.0.1" });
    stopping.attach("/", { upgrade: () => ({}) });
    await stopping.start();
    const client = await within(Client.connect(`ws://127.0.0.1:${stopping.port}/`));
    const pending = rejection(client.readTextMessage());
    await stopping.gracefulStop();
    const error = await pending;
    assertInstance(error, ConnectionClosureError);
    assert.match(error.message, /: Status code: 1001$/);
  });
});
