import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer as createHttpServer, request, type IncomingMessage, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { connect, type AddressInfo, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { after, before, describe, it } from "node:test";
import { isScratch, type OwnReader, SCRATCH, startOwnReads, withOwnReads } from "../../src/connection/own-reads.ts";
import { selfSignedCertificate, type TestCertificate } from "../helpers/certificates.ts";

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
    this.received.push(Buffer.from(buffer.subarray(0, n)));
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

describe("own reads", () => {
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
