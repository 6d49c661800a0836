import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { once } from "node:events";
import { createServer as createHttpServer, request, type IncomingMessage, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { connect, type AddressInfo, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { isScratch, type OwnReader, SCRATCH, startOwnReads, withOwnReads } from "../../src/connection/own-reads.ts";
import { Client, Listener, type Caller } from "../../src/index.ts";
import { selfSignedCertificate, type TestCertificate } from "../helpers/certificates.ts";
import { buildFrame, OP_BINARY, RawClient } from "../conformance/raw-client.ts";

const UPGRADE = "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n";

/** Collects what is read, into scratch or into one target buffer of its own per read. */
class Recorder implements OwnReader {
  readonly received: Buffer[] = [];
  readonly targets = new Set<Buffer>();
  readonly intoTarget: boolean;
  private waiting: { bytes: number; resolve: () => void } | undefined;

  constructor(intoTarget: boolean) {
    this.intoTarget = intoTarget;
  }

  get length(): number {
    return this.received.reduce((sum, chunk) => sum + chunk.length, 0);
  }

  onRead(n: number, buffer: Buffer): void {
    assert.ok(this.intoTarget ? this.targets.has(buffer) : isScratch(buffer), "read into a buffer nextReadBuffer did not return");
    this.keep(Buffer.from(buffer.subarray(0, n)));
  }

  onData(chunk: Buffer): void {
    assert.fail(`a chunk of ${chunk.length} bytes came through 'data'`);
  }

  private keep(chunk: Buffer): void {
    this.received.push(chunk);
    if (this.waiting !== undefined && this.length >= this.waiting.bytes) this.waiting.resolve();
  }

  nextReadBuffer(): Buffer {
    if (!this.intoTarget) return SCRATCH;
    const target = Buffer.alloc(4096);
    this.targets.add(target);
    return target;
  }

  until(bytes: number): Promise<void> {
    if (this.length >= bytes) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`read ${this.length} of ${bytes} bytes in 5 s`)), 5000);
      this.waiting = { bytes, resolve: () => (clearTimeout(timer), resolve()) };
    });
  }
}

function pattern(length: number): Buffer {
  const bytes = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 7 + (i >> 8)) & 0xff;
  return bytes;
}

/** An http.Server whose upgraded sockets (with their head) are handed to the test in turn. */
async function upgradingServer(server: Server = createHttpServer()): Promise<{ port: number; next(): Promise<[Socket, Buffer]> }> {
  const upgrades: [Socket, Buffer][] = [];
  const waiters: ((upgrade: [Socket, Buffer]) => void)[] = [];
  server.on("upgrade", (_request: IncomingMessage, socket: Socket, head: Buffer) => {
    socket.write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n");
    const waiter = waiters.shift();
    if (waiter !== undefined) waiter([socket, head]);
    else upgrades.push([socket, head]);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    port: (server.address() as AddressInfo).port,
    next: () => {
      const ready = upgrades.shift();
      return ready !== undefined ? Promise.resolve(ready) : new Promise((resolve) => waiters.push(resolve));
    },
  };
}

async function rawPeer(port: number, firstWrite = UPGRADE): Promise<Socket> {
  const peer = connect(port, "127.0.0.1");
  peer.write(firstWrite);
  await once(peer, "connect");
  return peer;
}

/** The suite also runs with FERRY_OWN_READS=0 (.ci/run): then only the switches are tested. */
const switchedOff = process.env["FERRY_OWN_READS"] === "0" ? "FERRY_OWN_READS=0 in the environment" : false;

describe("own reads", { skip: switchedOff }, () => {
  let server: Server;
  let upgrades: Awaited<ReturnType<typeof upgradingServer>>;
  const open: Socket[] = [];

  before(async () => {
    server = createHttpServer();
    upgrades = await upgradingServer(server);
  });

  after(() => {
    for (const socket of open) socket.destroy();
    server.close();
  });

  for (const intoTarget of [false, true]) {
    it(`an upgraded http.Server socket reads into ${intoTarget ? "the reader's own buffers" : "the shared scratch buffer"}, and emits no 'data'`, async () => {
      const peer = await rawPeer(upgrades.port);
      open.push(peer);
      const [socket, head] = await upgrades.next();
      const reading = withOwnReads(socket, head);
      assert.equal(reading.ownReads, true);
      assert.equal(reading.head.length, 0);
      const recorder = new Recorder(intoTarget);
      startOwnReads(socket, recorder);
      let dataEvents = 0;
      socket.on("data", () => dataEvents++);
      const sent = pattern(300_000);
      peer.write(sent);
      await recorder.until(sent.length);
      assert.deepEqual(Buffer.concat(recorder.received), sent);
      assert.equal(dataEvents, 0);
      if (intoTarget) assert.ok(recorder.received.length >= sent.length / 4096, "each read is at most one target long");
    });
  }

  it("each socket handed over keeps a 'data' guard until its first own read, and none after it", async () => {
    for (let i = 0; i < 2; i++) {
      const peer = await rawPeer(upgrades.port);
      open.push(peer);
      const [socket, head] = await upgrades.next();
      withOwnReads(socket, head);
      const recorder = new Recorder(false);
      startOwnReads(socket, recorder);
      assert.equal(socket.listenerCount("data"), 1, `socket ${i + 1}: guarded before its first read`);
      peer.write("hello");
      await recorder.until("hello".length);
      assert.equal(socket.listenerCount("data"), 0, `socket ${i + 1}: no guard after its first read`);
    }
  });

  it("keeps the bytes that came with the handshake and those Node read after it", async () => {
    const peer = await rawPeer(upgrades.port, UPGRADE + "first");
    open.push(peer);
    const [socket, head] = await upgrades.next();
    assert.equal(head.toString(), "first");
    // The upgraded socket is not flowing: what arrives now waits in its readable buffer.
    peer.write("second");
    const deadline = Date.now() + 5000;
    while (socket.readableLength < "second".length && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    const reading = withOwnReads(socket, head);
    assert.equal(reading.head.toString(), "firstsecond");
    const recorder = new Recorder(false);
    startOwnReads(socket, recorder);
    peer.write("third");
    await recorder.until("third".length);
    assert.equal(Buffer.concat(recorder.received).toString(), "third");
  });

  it("a paused socket stops reading until resumed", async () => {
    const peer = await rawPeer(upgrades.port);
    open.push(peer);
    const [socket, head] = await upgrades.next();
    withOwnReads(socket, head);
    const recorder = new Recorder(false);
    startOwnReads(socket, recorder);
    socket.pause();
    peer.write("while paused");
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(recorder.length, 0);
    socket.resume();
    await recorder.until("while paused".length);
    assert.equal(Buffer.concat(recorder.received).toString(), "while paused");
  });

  it("the socket of an upgraded http.request reads into ferry's memory too", async () => {
    const pending = upgrades.next();
    const clientRequest = request({ port: upgrades.port, host: "127.0.0.1", headers: { Connection: "Upgrade", Upgrade: "test" } });
    clientRequest.end();
    const [, socket, head] = (await once(clientRequest, "upgrade")) as [IncomingMessage, Socket, Buffer];
    open.push(socket);
    const [serverSide] = await pending;
    open.push(serverSide);
    const reading = withOwnReads(socket, head);
    assert.equal(reading.ownReads, true);
    const recorder = new Recorder(true);
    startOwnReads(socket, recorder);
    const sent = pattern(20_000);
    serverSide.write(sent);
    await recorder.until(sent.length);
    assert.deepEqual(Buffer.concat(recorder.received), sent);
  });

  describe("over TLS", () => {
    let certificate: TestCertificate;
    before(() => (certificate = selfSignedCertificate()));
    after(() => certificate.remove());

    it("a TLS socket keeps Node's reads", async () => {
      const tlsServer = createHttpsServer({ cert: certificate.cert, key: certificate.key });
      const tlsUpgrades = await upgradingServer(tlsServer);
      const peer = tlsConnect({ port: tlsUpgrades.port, host: "127.0.0.1", rejectUnauthorized: false });
      peer.write(UPGRADE + "early");
      const [socket, head] = await tlsUpgrades.next();
      const reading = withOwnReads(socket, head);
      assert.deepEqual(reading, { head, ownReads: false });
      peer.destroy();
      socket.destroy();
      tlsServer.close();
    });
  });
});

const FERRY = fileURLToPath(new URL("../../src/index.ts", import.meta.url));
const run = promisify(execFile);

/** Whether a socket reads into ferry's memory: Node's read callback property is set. */
function readsOwn(socket: Socket): boolean {
  const callback = Object.getOwnPropertySymbols(socket).find((key) => key.description === "kBufferCb");
  return typeof (socket as unknown as Record<symbol, unknown>)[callback!] === "function";
}

/** Runs `body` with every TCP socket the process accepts and connects, as it is created. */
async function watchingSockets<T>(body: (accepted: Socket[], connected: Socket[]) => Promise<T>): Promise<T> {
  const accepted: Socket[] = [];
  const connected: Socket[] = [];
  const onAccepted = (message: unknown): void => void accepted.push((message as { socket: Socket }).socket);
  const onConnected = (message: unknown): void => void connected.push((message as { socket: Socket }).socket);
  subscribe("net.server.socket", onAccepted);
  subscribe("net.client.socket", onConnected);
  try {
    return await body(accepted, connected);
  } finally {
    unsubscribe("net.server.socket", onAccepted);
    unsubscribe("net.client.socket", onConnected);
  }
}

const ECHO = { upgrade: () => ({ onTextMessage: (_caller: Caller, text: string) => text }) };

describe("own reads: the off switches", () => {
  it("withOwnReads leaves a socket to Node when the configuration says ownReads: false", async () => {
    const server = createHttpServer();
    const upgrades = await upgradingServer(server);
    const peer = await rawPeer(upgrades.port, UPGRADE + "early");
    const [socket, head] = await upgrades.next();
    assert.deepEqual(withOwnReads(socket, head, false), { head, ownReads: false });
    peer.destroy();
    socket.destroy();
    server.close();
  });

  for (const ownReads of [true, false]) {
    const title = `ownReads: ${ownReads} on a Listener and a Client: ${ownReads ? "both read into ferry's memory" : "both keep Node's reads"}, and messages flow`;
    it(title, { skip: ownReads && switchedOff }, async () => {
      await watchingSockets(async (accepted, connected) => {
        const listener = new Listener(0, { host: "127.0.0.1", ownReads });
        listener.attach("/", ECHO);
        await listener.start();
        try {
          const client = await Client.connect(`ws://127.0.0.1:${listener.port}/`, { ownReads });
          const text = "x".repeat(200_000);
          await client.writeTextMessage(text);
          assert.equal(await client.readTextMessage(), text);
          assert.deepEqual(
            [accepted.map(readsOwn), connected.map(readsOwn)],
            [[ownReads], [ownReads]],
          );
          await client.close(1000, "", 5);
        } finally {
          await listener.immediateStop();
        }
      });
    });
  }

  /** A Listener and a Client echoing in a fresh process; prints which sockets read into ferry's memory. */
  const ECHO_PROCESS = `
import { subscribe } from "node:diagnostics_channel";
import { Client, Listener } from ${JSON.stringify(FERRY)};
const sockets = [];
subscribe("net.server.socket", ({ socket }) => sockets.push(socket));
subscribe("net.client.socket", ({ socket }) => sockets.push(socket));
const sabotage = process.argv[1] === "sabotage";
if (sabotage) {
  // A Node whose read path no longer consults the properties: the handle ignores the buffer
  // it is given, and the socket's read callback property always reads null.
  subscribe("net.server.socket", ({ socket }) => {
    const key = Object.getOwnPropertySymbols(socket).find((key) => key.description === "kBuffer");
    Object.defineProperty(socket, key, { get: () => null, set: () => undefined });
    socket._handle.useUserBuffer = () => undefined;
  });
}
const listener = new Listener(0, { host: "127.0.0.1" });
listener.attach("/", { upgrade: () => ({ onTextMessage: (_caller, text) => text }) });
await listener.start();
const echoed = [];
for (let i = 0; i < 2; i++) {
  const client = await Client.connect("ws://127.0.0.1:" + listener.port + "/");
  const text = String(i).repeat(100_000);
  await client.writeTextMessage(text);
  echoed.push((await client.readTextMessage()) === text);
  await client.close(1000, "", 5);
}
const own = sockets.map((socket) => typeof socket[Object.getOwnPropertySymbols(socket).find((key) => key.description === "kBufferCb")] === "function");
console.log(JSON.stringify({ echoed, own }));
await listener.immediateStop();
`;

  async function echoProcess(env: Record<string, string>, mode = ""): Promise<{ result: { echoed: boolean[]; own: boolean[] }; stderr: string }> {
    const environment: NodeJS.ProcessEnv = { ...process.env, ...env };
    if (!("FERRY_OWN_READS" in env)) delete environment["FERRY_OWN_READS"];
    const { stdout, stderr } = await run(process.execPath, ["--import", "tsx", "--input-type=module", "-e", ECHO_PROCESS, mode], {
      env: environment,
      timeout: 30_000,
    });
    return { result: JSON.parse(stdout.trim().split("\n").at(-1)!), stderr };
  }

  it("FERRY_OWN_READS=0 keeps Node's reads in the whole process", async () => {
    const { result } = await echoProcess({ FERRY_OWN_READS: "0" });
    assert.deepEqual(result, { echoed: [true, true], own: [false, false, false, false] });
  });

  it("when Node does not read through ferry's callback, the bytes still arrive and later sockets keep Node's reads (said once under NODE_DEBUG=ferry)", async () => {
    const plain = await echoProcess({});
    assert.deepEqual(plain.result, { echoed: [true, true], own: [true, true, true, true] });
    const { result, stderr } = await echoProcess({ NODE_DEBUG: "ferry" }, "sabotage");
    // Sockets in creation order: client 1, server 1 (sabotaged), client 2, server 2.
    assert.deepEqual(result.echoed, [true, true]);
    assert.deepEqual(result.own, [true, true, false, false]);
    assert.equal(stderr.match(/own reads off/g)?.length, 1, stderr);
  });
});

/** Resolves once `condition` holds, or after `ms`. */
async function polled(condition: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
}

describe("own reads and backpressure", { skip: switchedOff }, () => {
  it("a socket paused by the bytes that came with the handshake stays paused when own reads start, and resumes once the handler has room", async () => {
    const MESSAGES = 2000;
    const SIZE = 1024;
    let releaseOpen!: () => void;
    const opened = new Promise<void>((resolve) => (releaseOpen = resolve));
    let received = 0;
    await watchingSockets(async (accepted) => {
      const listener = new Listener(0, { host: "127.0.0.1" });
      listener.attach("/", {
        config: { maxQueuedBytes: 8192 },
        upgrade: () => ({
          onOpen: () => opened,
          onBinaryMessage(): void {
            received++;
          },
        }),
      });
      await listener.start();
      try {
        const frames = Array.from({ length: MESSAGES }, () => buildFrame(OP_BINARY, Buffer.alloc(SIZE, 1)));
        // 16 messages (16 KiB) with the upgrade request: the busy onOpen holds them, over maxQueuedBytes.
        const client = await RawClient.connect(listener.port, { early: Buffer.concat(frames.slice(0, 16)) });
        void client.send(Buffer.concat(frames.slice(16))).catch(() => undefined);
        const server = accepted[0]!;
        await polled(() => server.bytesRead >= MESSAGES * SIZE, 1500);
        assert.ok(server.bytesRead < 256 * 1024, `the server read ${server.bytesRead} bytes while its handler held 16 KiB`);
        releaseOpen();
        await polled(() => received === MESSAGES, 20_000);
        assert.equal(received, MESSAGES);
        client.destroy();
      } finally {
        await listener.immediateStop();
      }
    });
  });
});
