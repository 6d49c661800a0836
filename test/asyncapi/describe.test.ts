/**
 * `describe` takes a service or a class with a no-argument constructor; a class that needs
 * arguments is a type error, and at run time (JavaScript) a clear error from toAsyncAPI.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { type Caller, Listener, toAsyncAPI, type UpgradeService } from "../../src/index.ts";

class Room {
  private readonly name: string;
  constructor(name: string) {
    this.name = name.toUpperCase();
  }
  onTextMessage(_caller: Caller, text: string): string {
    return `${this.name}: ${text}`;
  }
}

function listenerWith(path: string, service: UpgradeService): Listener {
  const listener = new Listener(0, { host: "127.0.0.1" });
  listener.attach(path, service);
  return listener;
}

test("a describe class whose constructor needs arguments is a type error", () => {
  // @ts-expect-error Room needs a name: pass an instance
  const service: UpgradeService = { upgrade: () => new Room("lobby"), describe: Room };
  assert.ok(service);
});

test("toAsyncAPI says what to pass instead of crashing inside the constructor", () => {
  const listener = listenerWith("/rooms/{room}", { upgrade: () => new Room("lobby"), describe: Room } as unknown as UpgradeService);
  assert.throws(
    () => toAsyncAPI(listener),
    (error: Error) => {
      assert.match(error.message, /^toAsyncAPI: describe for \/rooms\/\{room\} could not construct Room without arguments/);
      assert.match(error.message, /pass an instance instead, e\.g\. describe: new Room\(…\)/);
      assert.ok(error.cause instanceof TypeError, "the constructor's own error is the cause");
      return true;
    },
  );
});

test("an instance of such a class describes the path", () => {
  const document = toAsyncAPI(listenerWith("/rooms/{room}", { upgrade: () => new Room("lobby"), describe: new Room("example") }));
  assert.deepEqual(Object.keys(document.channels["rooms.room"]?.messages ?? {}), ["textMessage"]);
});
