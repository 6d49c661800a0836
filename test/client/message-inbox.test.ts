/**
 * MessageInbox: the client's unread messages and waiting reads (SPEC §10): first come, first
 * served on both sides, read timeouts that leave it unchanged, a bound in bytes that holds the
 * connection back, and the endings (close frame, lost connection, protocol error).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { MessageInbox } from "../../src/client/message-inbox.ts";
import { HELD_ITEM_COST } from "../../src/connection/connection.ts";
import { ConnectionClosureError, ConnectionError, PayloadTooLargeError, ReadTimedOutError } from "../../src/errors.ts";
import { rejection, settled, sleep, within, assertInstance } from "./raw-server.ts";

describe("MessageInbox", () => {
  test("messages pushed before any read come out in order, text and binary as they came", async () => {
    const inbox = new MessageInbox(1024);
    const bytes = Buffer.from([1, 2, 3]);
    assert.equal(inbox.push("one"), undefined);
    assert.equal(inbox.push(bytes), undefined);
    assert.equal(inbox.push("three"), undefined);
    assert.equal(await inbox.take(-1), "one");
    assert.equal(await inbox.take(-1), bytes);
    assert.equal(await inbox.take(-1), "three");
  });

  test("reads waiting before the messages are served first come, first served", async () => {
    const inbox = new MessageInbox(1024);
    const reads = [inbox.take(-1), inbox.take(-1), inbox.take(-1)];
    inbox.push("a");
    inbox.push("b");
    inbox.push("c");
    assert.deepEqual(await within(Promise.all(reads)), ["a", "b", "c"]);
  });

  test("a message handed straight to a waiting read does not count against the bound", async () => {
    const inbox = new MessageInbox(4 + HELD_ITEM_COST);
    const read = inbox.take(-1);
    assert.equal(inbox.push("longer than four bytes"), undefined);
    assert.equal(await read, "longer than four bytes");
    assert.equal(inbox.push("1234"), undefined);
  });

  test("a read timeout rejects with ReadTimedOutError and leaves the inbox unchanged", async () => {
    const inbox = new MessageInbox(1024);
    const started = Date.now();
    const error = await rejection(inbox.take(0.1));
    assert.ok(error instanceof ReadTimedOutError, String(error));
    assert.ok(Date.now() - started >= 90, "Date.now() - started >= 90");
    // The timed-out read is gone: the next message waits for the next read instead of vanishing.
    inbox.push("kept");
    assert.equal(await within(inbox.take(0.1)), "kept");
  });

  test("a timed-out read between two waiting reads keeps the others in order", async () => {
    const inbox = new MessageInbox(1024);
    const first = inbox.take(-1);
    const timed = inbox.take(0.05);
    const third = inbox.take(-1);
    assertInstance((await rejection(timed)), ReadTimedOutError);
    inbox.push("x");
    inbox.push("y");
    assert.deepEqual(await within(Promise.all([first, third])), ["x", "y"]);
  });

  test("a read that is served in time does not time out later", async () => {
    const inbox = new MessageInbox(1024);
    const read = inbox.take(0.05);
    inbox.push("in time");
    assert.equal(await read, "in time");
    await sleep(80);
    inbox.push("next");
    assert.equal(await inbox.take(0), "next");
  });

  test("past maxBytes unread, push returns a promise that settles once reads make room", async () => {
    // Each unread message counts its length and HELD_ITEM_COST.
    const inbox = new MessageInbox(2 * (5 + HELD_ITEM_COST));
    assert.equal(inbox.push("12345"), undefined);
    assert.equal(inbox.push("67890"), undefined, "exactly at the bound is fine");
    const full = inbox.push("x");
    assert.ok(full instanceof Promise, "over the bound: the connection must wait");
    assert.equal(await settled(full), false);
    await inbox.take(-1); // one message fewer: room again
    assert.equal(await settled(full), true);
    assert.deepEqual([await inbox.take(-1), await inbox.take(-1)], ["67890", "x"]);
  });

  test("a flood of empty messages fills the bound too, so the connection stops reading", () => {
    const inbox = new MessageInbox(64 * 1024);
    let pushed = 0;
    while (inbox.push("") === undefined) {
      pushed++;
      assert.ok(pushed <= 64 * 1024, "empty messages must count against maxBytes");
    }
    assert.equal(pushed, Math.floor((64 * 1024) / HELD_ITEM_COST));
  });

  test("a close frame: waiting reads get \"<reason>: Status code: <code>\", later ones \"Connection already closed\"", async () => {
    const inbox = new MessageInbox(1024);
    const waiting = [inbox.take(-1), inbox.take(5)];
    inbox.closeFrame(4001, "bye now");
    for (const read of waiting) {
      const error = await rejection(read);
      assertInstance(error, ConnectionClosureError);
      assert.equal(error.message, "bye now: Status code: 4001");
      assert.equal(error.closeCode, 4001);
    }
    const later = await rejection(inbox.take(-1));
    assertInstance(later, ConnectionClosureError);
    assert.equal(later.message, "Connection already closed");
    assert.equal(inbox.ended, true);
    assert.equal(inbox.drainedAfterClose, true);
  });

  test("messages that came before the close frame are still read first", async () => {
    const inbox = new MessageInbox(1024);
    inbox.push("before close");
    inbox.closeFrame(1000, "");
    assert.equal(inbox.drainedAfterClose, false);
    assert.equal(await inbox.take(-1), "before close");
    assert.equal(inbox.drainedAfterClose, true);
    assert.equal((await rejection(inbox.take(-1))).message, "Connection already closed");
  });

  test("a lost connection: waiting reads get a ConnectionError, and iteration must not end quietly", async () => {
    const inbox = new MessageInbox(1024);
    const waiting = inbox.take(-1);
    inbox.fail(undefined, 1006);
    const error = await rejection(waiting);
    assertInstance(error, ConnectionError);
    assert.ok(!(error instanceof ConnectionClosureError), "no close frame came: not a closure");
    assert.match(error.message, /1006/);
    assert.equal(inbox.drainedAfterClose, false);
    const later = await rejection(inbox.take(-1));
    assert.equal(later.message, "Connection already closed");
    assert.equal(later.cause, error);
  });

  test("a protocol error: waiting reads get that very error", async () => {
    const inbox = new MessageInbox(1024);
    const waiting = [inbox.take(-1), inbox.take(-1)];
    const tooLarge = new PayloadTooLargeError("Frame of 70000 bytes exceeds maxFrameSize of 65536 bytes");
    inbox.fail(tooLarge, 1009);
    for (const read of waiting) assert.equal(await rejection(read), tooLarge);
    const later = await rejection(inbox.take(-1));
    assertInstance(later, ConnectionClosureError);
    assert.equal(later.closeCode, 1009);
    assert.equal(later.cause, tooLarge);
  });

  test("the first ending wins, and it releases a connection waiting for room", async () => {
    const inbox = new MessageInbox(1);
    const full = inbox.push("too much");
    assertInstance(full, Promise);
    inbox.closeFrame(1000, "first");
    inbox.fail(undefined, 1006);
    assert.equal(await settled(full), true);
    assert.equal(await inbox.take(-1), "too much");
    assert.equal((await rejection(inbox.take(-1))).message, "Connection already closed");
    assert.equal(inbox.drainedAfterClose, true, "the close frame came first");
  });

  test("an ending clears the timers of waiting reads", async () => {
    const inbox = new MessageInbox(1024);
    const read = inbox.take(0.05);
    inbox.closeFrame(1001, "going");
    assert.equal((await rejection(read)).message, "going: Status code: 1001");
    await sleep(80); // a leftover timer would reject again, or keep the process alive
  });
});

describe("MessageInbox held during a reconnect's onReconnect", () => {
  test("reads that were waiting are held; priority reads get what arrives; release hands the rest over in order", async () => {
    const inbox = new MessageInbox(1024);
    const waiting = [inbox.take(-1), inbox.take(-1)];
    inbox.hold();
    const hookRead = inbox.take(-1, true);
    inbox.push("for the hook");
    inbox.push("for the first waiting read");
    inbox.push("for the second");
    assert.equal(await within(hookRead), "for the hook");
    assert.equal(await settled(waiting[0]!), false, "a waiting read went on during the hold");
    const later = inbox.take(-1);
    inbox.release();
    assert.deepEqual(await within(Promise.all(waiting)), ["for the first waiting read", "for the second"]);
    inbox.push("after");
    assert.equal(await within(later), "after");
  });

  test("messages from before the hold go to ordinary reads, not to priority ones", async () => {
    const inbox = new MessageInbox(1024);
    inbox.push("old");
    inbox.hold();
    inbox.push("new");
    assert.equal(await inbox.take(-1, true), "new");
    assert.equal(await inbox.take(-1), "old");
    const held = inbox.take(-1);
    inbox.push("newer");
    assert.equal(await settled(held), false);
    inbox.release();
    assert.equal(await within(held), "newer");
  });

  test("a read that times out while held loses no message after the release", async () => {
    const inbox = new MessageInbox(1024);
    inbox.hold();
    const timedOut = inbox.take(0.05);
    const hookRead = inbox.take(0.05, true);
    assertInstance(await rejection(timedOut), ReadTimedOutError);
    assertInstance(await rejection(hookRead), ReadTimedOutError);
    inbox.release();
    inbox.push("kept");
    assert.equal(await within(inbox.take(-1)), "kept");
  });

  test("failPriority fails only the priority reads; an ending fails all and ends the hold", async () => {
    const inbox = new MessageInbox(1024);
    const waiting = inbox.take(-1);
    inbox.hold();
    const hookRead = inbox.take(-1, true);
    const lost = new ConnectionError("lost");
    inbox.failPriority(lost);
    assert.equal(await rejection(hookRead), lost);
    assert.equal(await settled(waiting), false);
    inbox.push("arrived while held");
    inbox.closeFrame(1000, "bye");
    assert.equal((await rejection(waiting)).message, "bye: Status code: 1000");
    assert.equal(await inbox.take(-1), "arrived while held");
  });
});
