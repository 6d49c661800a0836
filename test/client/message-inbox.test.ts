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
    const feed = inbox.open();
    const bytes = Buffer.from([1, 2, 3]);
    assert.equal(inbox.push(feed, "one"), undefined);
    assert.equal(inbox.push(feed, bytes), undefined);
    assert.equal(inbox.push(feed, "three"), undefined);
    assert.equal(await inbox.take(-1), "one");
    assert.equal(await inbox.take(-1), bytes);
    assert.equal(await inbox.take(-1), "three");
  });

  test("reads waiting before the messages are served first come, first served", async () => {
    const inbox = new MessageInbox(1024);
    const feed = inbox.open();
    const reads = [inbox.take(-1), inbox.take(-1), inbox.take(-1)];
    inbox.push(feed, "a");
    inbox.push(feed, "b");
    inbox.push(feed, "c");
    assert.deepEqual(await within(Promise.all(reads)), ["a", "b", "c"]);
  });

  test("a message handed straight to a waiting read does not count against the bound", async () => {
    const inbox = new MessageInbox(4 + HELD_ITEM_COST);
    const feed = inbox.open();
    const read = inbox.take(-1);
    assert.equal(inbox.push(feed, "longer than four bytes"), undefined);
    assert.equal(await read, "longer than four bytes");
    assert.equal(inbox.push(feed, "1234"), undefined);
  });

  test("a read timeout rejects with ReadTimedOutError and leaves the inbox unchanged", async () => {
    const inbox = new MessageInbox(1024);
    const feed = inbox.open();
    const started = Date.now();
    const error = await rejection(inbox.take(0.1));
    assert.ok(error instanceof ReadTimedOutError, String(error));
    assert.ok(Date.now() - started >= 90, "Date.now() - started >= 90");
    // The timed-out read is gone: the next message waits for the next read instead of vanishing.
    inbox.push(feed, "kept");
    assert.equal(await within(inbox.take(0.1)), "kept");
  });

  test("a timed-out read between two waiting reads keeps the others in order", async () => {
    const inbox = new MessageInbox(1024);
    const feed = inbox.open();
    const first = inbox.take(-1);
    const timed = inbox.take(0.05);
    const third = inbox.take(-1);
    assertInstance((await rejection(timed)), ReadTimedOutError);
    inbox.push(feed, "x");
    inbox.push(feed, "y");
    assert.deepEqual(await within(Promise.all([first, third])), ["x", "y"]);
  });

  test("a read that is served in time does not time out later", async () => {
    const inbox = new MessageInbox(1024);
    const feed = inbox.open();
    const read = inbox.take(0.05);
    inbox.push(feed, "in time");
    assert.equal(await read, "in time");
    await sleep(80);
    inbox.push(feed, "next");
    assert.equal(await inbox.take(0), "next");
  });

  test("past maxBytes unread, push returns a promise that settles once reads make room", async () => {
    // Each unread message counts its length and HELD_ITEM_COST.
    const inbox = new MessageInbox(2 * (5 + HELD_ITEM_COST));
    const feed = inbox.open();
    assert.equal(inbox.push(feed, "12345"), undefined);
    assert.equal(inbox.push(feed, "67890"), undefined, "exactly at the bound is fine");
    const full = inbox.push(feed, "x");
    assert.ok(full instanceof Promise, "over the bound: the connection must wait");
    assert.equal(await settled(full), false);
    await inbox.take(-1); // one message fewer: room again
    assert.equal(await settled(full), true);
    assert.deepEqual([await inbox.take(-1), await inbox.take(-1)], ["67890", "x"]);
  });

  test("a flood of empty messages fills the bound too, so the connection stops reading", () => {
    const inbox = new MessageInbox(64 * 1024);
    const feed = inbox.open();
    let pushed = 0;
    while (inbox.push(feed, "") === undefined) {
      pushed++;
      assert.ok(pushed <= 64 * 1024, "empty messages must count against maxBytes");
    }
    assert.equal(pushed, Math.floor((64 * 1024) / HELD_ITEM_COST));
  });

  test("a close frame: waiting reads get \"<reason>: Status code: <code>\", later ones \"Connection already closed\"", async () => {
    const inbox = new MessageInbox(1024);
    const feed = inbox.open();
    const waiting = [inbox.take(-1), inbox.take(5)];
    inbox.finish(feed);
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
    const feed = inbox.open();
    inbox.push(feed, "before close");
    inbox.finish(feed);
    inbox.closeFrame(1000, "");
    assert.equal(inbox.drainedAfterClose, false);
    assert.equal(await inbox.take(-1), "before close");
    assert.equal(inbox.drainedAfterClose, true);
    assert.equal((await rejection(inbox.take(-1))).message, "Connection already closed");
  });

  test("a lost connection: waiting reads get a ConnectionError, and iteration must not end quietly", async () => {
    const inbox = new MessageInbox(1024);
    const feed = inbox.open();
    const waiting = inbox.take(-1);
    inbox.finish(feed);
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
    const feed = inbox.open();
    const waiting = [inbox.take(-1), inbox.take(-1)];
    const tooLarge = new PayloadTooLargeError("Frame of 70000 bytes exceeds maxFrameSize of 65536 bytes");
    inbox.finish(feed);
    inbox.fail(tooLarge, 1009);
    for (const read of waiting) assert.equal(await rejection(read), tooLarge);
    const later = await rejection(inbox.take(-1));
    assertInstance(later, ConnectionClosureError);
    assert.equal(later.closeCode, 1009);
    assert.equal(later.cause, tooLarge);
  });

  test("the first ending wins, and it releases a connection waiting for room", async () => {
    const inbox = new MessageInbox(1);
    const feed = inbox.open();
    const full = inbox.push(feed, "too much");
    assertInstance(full, Promise);
    inbox.closeFrame(1000, "first");
    inbox.fail(undefined, 1006);
    assert.equal(await settled(full), true);
    inbox.finish(feed);
    assert.equal(await inbox.take(-1), "too much");
    assert.equal((await rejection(inbox.take(-1))).message, "Connection already closed");
    assert.equal(inbox.drainedAfterClose, true, "the close frame came first");
  });

  test("an ending clears the timers of waiting reads", async () => {
    const inbox = new MessageInbox(1024);
    inbox.open();
    const read = inbox.take(0.05);
    inbox.closeFrame(1001, "going");
    assert.equal((await rejection(read)).message, "going: Status code: 1001");
    await sleep(80); // a leftover timer would reject again, or keep the process alive
  });
});

describe("MessageInbox held during a reconnect's onReconnect", () => {
  test("reads that were waiting are held; priority reads get what the new feed brings; release hands the rest over in order", async () => {
    const inbox = new MessageInbox(1024);
    const old = inbox.open();
    const waiting = [inbox.take(-1), inbox.take(-1)];
    inbox.hold();
    inbox.finish(old);
    const fresh = inbox.open();
    const hookRead = inbox.take(-1, true);
    inbox.push(fresh, "for the hook");
    inbox.push(fresh, "for the first waiting read");
    inbox.push(fresh, "for the second");
    assert.equal(await within(hookRead), "for the hook");
    assert.equal(await settled(waiting[0]!), false, "a waiting read went on during the hold");
    const later = inbox.take(-1);
    inbox.release();
    assert.deepEqual(await within(Promise.all(waiting)), ["for the first waiting read", "for the second"]);
    inbox.push(fresh, "after");
    assert.equal(await within(later), "after");
  });

  test("the old feed's messages go to ordinary reads, even those it hands over during the hold; priority reads get the new feed's", async () => {
    const inbox = new MessageInbox(1024);
    const old = inbox.open();
    inbox.push(old, "old");
    inbox.hold();
    const fresh = inbox.open();
    inbox.push(fresh, "new");
    inbox.push(old, "older, late");
    inbox.finish(old);
    assert.equal(await inbox.take(-1, true), "new");
    assert.equal(await inbox.take(-1), "old");
    assert.equal(await inbox.take(-1), "older, late");
    const held = inbox.take(-1);
    inbox.push(fresh, "newer");
    assert.equal(await settled(held), false);
    inbox.release();
    assert.equal(await within(held), "newer");
  });

  test("a read that times out while held loses no message after the release", async () => {
    const inbox = new MessageInbox(1024);
    inbox.hold();
    const feed = inbox.open();
    const timedOut = inbox.take(0.05);
    const hookRead = inbox.take(0.05, true);
    assertInstance(await rejection(timedOut), ReadTimedOutError);
    assertInstance(await rejection(hookRead), ReadTimedOutError);
    inbox.release();
    inbox.push(feed, "kept");
    assert.equal(await within(inbox.take(-1)), "kept");
  });

  test("failPriority fails only the priority reads; an ending fails all and ends the hold", async () => {
    const inbox = new MessageInbox(1024);
    inbox.finish(inbox.open());
    const waiting = inbox.take(-1);
    inbox.hold();
    const feed = inbox.open();
    const hookRead = inbox.take(-1, true);
    const lost = new ConnectionError("lost");
    inbox.failPriority(lost);
    assert.equal(await rejection(hookRead), lost);
    assert.equal(await settled(waiting), false);
    inbox.push(feed, "arrived while held");
    inbox.finish(feed);
    inbox.closeFrame(1000, "bye");
    assert.equal((await rejection(waiting)).message, "bye: Status code: 1000");
    assert.equal(await inbox.take(-1), "arrived while held");
  });

  test("the new feed has a bound of its own while held: the hook reads on although the old feed is full", async () => {
    const inbox = new MessageInbox(2 * (3 + HELD_ITEM_COST));
    const old = inbox.open();
    inbox.push(old, "o-0");
    inbox.push(old, "o-1");
    const oldFull = inbox.push(old, "o-2");
    assertInstance(oldFull, Promise);
    inbox.hold();
    const fresh = inbox.open();
    assert.equal(inbox.push(fresh, "n-0"), undefined, "the new feed waited for the old one's reads");
    assert.equal(await inbox.take(-1, true), "n-0");
    assert.equal(await settled(oldFull), false);
    inbox.release();
    assert.equal(await inbox.take(-1), "o-0");
    assert.equal(await settled(oldFull), true);
  });
});

describe("MessageInbox with two connections' feeds (a reconnect)", () => {
  test("a later feed waits until the earlier one has finished, so that nothing is lost or reordered", async () => {
    const bound = 2 * (4 + HELD_ITEM_COST);
    const inbox = new MessageInbox(bound);
    const old = inbox.open();
    assert.equal(inbox.push(old, "old0"), undefined);
    assert.equal(inbox.push(old, "old1"), undefined);
    const oldFull = inbox.push(old, "old2");
    assertInstance(oldFull, Promise);
    const fresh = inbox.open();
    const freshWaits = inbox.push(fresh, "new0");
    assertInstance(freshWaits, Promise);
    assert.equal(await inbox.take(-1), "old0");
    assert.equal(await settled(oldFull), true, "room went to the old feed");
    assert.equal(await settled(freshWaits), false, "the new feed went on before the old one finished");
    const oldFullAgain = inbox.push(old, "old3");
    assertInstance(oldFullAgain, Promise);
    assert.equal(await inbox.take(-1), "old1");
    assert.equal(await settled(oldFullAgain), true);
    inbox.finish(old);
    assert.equal(await settled(freshWaits), false, "over the bound still");
    assert.equal(await inbox.take(-1), "old2");
    assert.equal(await settled(freshWaits), true);
    void inbox.push(fresh, "new1");
    assert.deepEqual([await inbox.take(-1), await inbox.take(-1), await inbox.take(-1)], ["old3", "new0", "new1"]);
  });

  test("a read waiting on an empty earlier feed gets the later feed's messages once the earlier one finishes", async () => {
    const inbox = new MessageInbox(1024);
    const old = inbox.open();
    const read = inbox.take(-1);
    const fresh = inbox.open();
    inbox.push(fresh, "new0");
    assert.equal(await settled(read), false);
    inbox.finish(old);
    assert.equal(await within(read), "new0");
  });

  test("after the end, what a feed still hands over is read in order; a read with nothing there fails", async () => {
    const inbox = new MessageInbox(1);
    const old = inbox.open();
    const full = inbox.push(old, "kept");
    assertInstance(full, Promise);
    inbox.fail(new ConnectionError("gave up"), 1006);
    assert.equal(await settled(full), true, "the ending let the feed go on");
    void inbox.push(old, "late");
    assert.equal(await inbox.take(-1), "kept");
    assert.equal(await inbox.take(-1), "late");
    assert.equal((await rejection(inbox.take(-1))).message, "Connection already closed");
  });
});
