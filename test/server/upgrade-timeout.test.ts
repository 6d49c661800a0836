/**
 * The listener's `timeout` bounds the whole upgrade request, from the TCP accept to the 101
 * (SPEC §2), whatever the peer does or does not send and however long `upgrade()` takes.
 */
import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { describe, test } from "node:test";
import { FrameParser } from "../../src/protocol/frame-parser.ts";
import { FIN, maskedFrame, OP_TEXT, parsedEvents } from "../helpers/raw-peer.ts";
import { delay, openWs, nextMessages, rawHttp, startListener, upgradeRequest } from "../helpers/listener.ts";

const echo = { upgrade: () => ({ onTextMessage: (_caller: unknown, text: string) => text }) };
const never = { upgrade: () => new Promise<never>(() => undefined) };

/** What a raw peer saw: the bytes the server sent and when the connection closed. */
interface Outcome {
  received: string;
  /** Milliseconds from connect to close; undefined if still open when the peer gave up. */
  closedAfter: number | undefined;
}

/** Connects, lets `act` write (or not), and waits up to `giveUpMs` for the server to close. */
function peer(port: number, act: (socket: Socket) => void, giveUpMs = 6000): Promise<Outcome> {
  return new Promise((resolve) => {
    const started = Date.now();
    const socket = connect(port, "127.0.0.1");
    let received = "";
    socket.on("data", (chunk) => (received += chunk.toString("latin1")));
    socket.on("error", () => undefined);
    const giveUp = setTimeout(() => {
      socket.destroy();
      resolve({ received, closedAfter: undefined });
    }, giveUpMs);
    socket.on("close", () => {
      clearTimeout(giveUp);
      resolve({ received, closedAfter: Date.now() - started });
    });
    act(socket);
  });
}

/** Writes `text` one byte at a time, every `everyMs`, while the socket is open. */
function trickle(socket: Socket, text: string, everyMs: number): void {
  let at = 0;
  const timer = setInterval(() => {
    if (socket.destroyed || !socket.writable || at >= text.length) {
      clearInterval(timer);
      return;
    }
    socket.write(text[at++]!);
  }, everyMs);
}

/** The head of an upgrade request to `path`, without its final blank line. */
function headLines(path: string): string {
  return upgradeRequest(path).slice(0, -2);
}

/** Closed with a 408 within about a second of the limit (generous for a loaded machine). */
function assertCutAt(outcome: Outcome, limitMs: number): void {
  assert.match(outcome.received, /^HTTP\/1\.1 408 /);
  assert.ok(outcome.closedAfter !== undefined, "still open");
  assert.ok(outcome.closedAfter >= limitMs - 100, `closed after ${outcome.closedAfter} ms, before the limit`);
  assert.ok(outcome.closedAfter < limitMs + 1200, `closed after ${outcome.closedAfter} ms`);
}

describe("the listener's timeout bounds the upgrade request", async () => {
  const listener = await startListener({ "/ws": echo, "/never": never }, { timeout: 1 });
  const port = listener.port;

  test("a peer that sends nothing", async () => {
    assertCutAt(await peer(port, () => undefined), 1000);
  });

  test("a peer that trickles its head, a byte every 200 ms", async () => {
    assertCutAt(await peer(port, (socket) => trickle(socket, headLines("/ws"), 200)), 1000);
  });

  test("a peer that sends its head, then its body slowly", async () => {
    const outcome = await peer(port, (socket) => {
      socket.write(`${headLines("/ws")}Content-Length: 100\r\n\r\n`);
      trickle(socket, "x".repeat(100), 200);
    });
    assertCutAt(outcome, 1000);
  });

  test("an upgrade() that never resolves", async () => {
    assertCutAt(await peer(port, (socket) => socket.write(upgradeRequest("/never"))), 1000);
  });

  test("a kept-alive connection that goes quiet after a plain request", async () => {
    const outcome = await peer(port, (socket) => socket.write("GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
    assert.match(outcome.received, /^HTTP\/1\.1 426 /);
    assert.ok(outcome.closedAfter !== undefined && outcome.closedAfter < 2200, `closed after ${outcome.closedAfter} ms`);
  });

  test("a body that arrives whole is read past: the frames after it are the connection's", async () => {
    const parser = new FrameParser({ role: "client", maxFrameSize: 0, maxMessageSize: 0 });
    const seen = await new Promise<string>((resolve, reject) => {
      const socket = connect(port, "127.0.0.1");
      let received = Buffer.alloc(0);
      socket.on("error", reject);
      socket.on("close", () => reject(new Error(`closed before the echo; received ${JSON.stringify(received.toString("latin1"))}`)));
      socket.on("data", (chunk) => {
        received = Buffer.concat([received, chunk]);
        const end = received.indexOf("\r\n\r\n");
        if (end < 0) return;
        assert.match(received.toString("latin1"), /^HTTP\/1\.1 101 /);
        parser.push(received.subarray(end + 4));
        received = received.subarray(0, end + 4);
        for (const event of parsedEvents(parser)) {
          if (event.type === "text") {
            socket.destroy();
            resolve(event.text);
          }
        }
      });
      socket.write(`${headLines("/ws")}Content-Length: 5\r\n\r\nhello`);
      socket.write(maskedFrame(FIN | OP_TEXT, "after the body"));
    });
    assert.equal(seen, "after the body");
  });

  test("a chunked body is refused with 400", async () => {
    const response = await rawHttp(port, `${headLines("/ws")}Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n`);
    assert.equal(response.status, 400);
  });

  test("an upgraded connection is not cut: the time ends at the 101", async () => {
    const ws = await openWs(port, "/ws");
    await delay(1500);
    ws.send("still here");
    assert.deepEqual(await nextMessages(ws, 1), ["still here"]);
    ws.close();
  });
});

describe("the upgrade time counts from the accept, not from the upgrade event", async () => {
  const listener = await startListener({ "/never": never }, { timeout: 2 });

  test("a head that took 1.6 s leaves upgrade() the remaining 0.4 s", async () => {
    const outcome = await peer(listener.port, (socket) => {
      const lines = upgradeRequest("/never").split(/(?<=\r\n)/);
      lines.forEach((line, i) => setTimeout(() => socket.writable && socket.write(line), (1600 * i) / (lines.length - 1)));
    });
    assertCutAt(outcome, 2000);
  });
});

describe("timeout: 0 is no limit", async () => {
  const slow = { upgrade: async () => (await delay(1200), { onTextMessage: (_caller: unknown, text: string) => text }) };
  const listener = await startListener({ "/slow": slow }, { timeout: 0 });

  test("a silent peer stays connected", async () => {
    const outcome = await peer(listener.port, () => undefined, 1500);
    assert.equal(outcome.closedAfter, undefined);
  });

  test("a slow upgrade() still opens the connection", async () => {
    const ws = await openWs(listener.port, "/slow");
    ws.send("late");
    assert.deepEqual(await nextMessages(ws, 1), ["late"]);
    ws.close();
  });
});

describe("a body that never comes whole", async () => {
  let upgrades = 0;
  const counted = {
    upgrade: () => {
      upgrades++;
      return { onTextMessage: (_caller: unknown, text: string) => text };
    },
  };
  const unlimited = await startListener({ "/ws": counted }, { timeout: 0 });
  const limited = await startListener({ "/ws": counted }, { timeout: 1 });

  test("a peer that half-closes before its declared body is done is dropped, even with no time limit", async () => {
    const before = upgrades;
    const outcome = await peer(unlimited.port, (socket) => {
      socket.write(`${headLines("/ws")}Content-Length: 100\r\n\r\nabc`);
      setTimeout(() => socket.end(), 100);
    }, 3000);
    assert.ok(outcome.closedAfter !== undefined, "the server kept the half-closed socket");
    assert.equal(outcome.received, "");
    assert.equal(upgrades, before);
  });

  test("a body finished after the 408 does not reach upgrade()", async () => {
    const before = upgrades;
    const outcome = await peer(limited.port, (socket) => {
      socket.write(`${headLines("/ws")}Content-Length: 100\r\n\r\nabc`);
      socket.on("data", () => {
        if (socket.writable) socket.write("x".repeat(97));
        setTimeout(() => socket.destroy(), 1000);
      });
    });
    assert.match(outcome.received, /^HTTP\/1\.1 408 /);
    assert.equal(upgrades, before);
  });
});
