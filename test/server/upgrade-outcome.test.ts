/**
 * What `upgrade()` returns decides the answer (SPEC §3): any service object is accepted,
 * whatever fields it has; only an Error refuses.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Caller, UpgradeService } from "../../src/index.ts";
import { nextMessages, openWs, rawHttp, startListener, upgradeRequest } from "../helpers/listener.ts";

/** A service whose state happens to be called status and body, like an HTTP answer. */
class Draft {
  status = 200;
  body = "draft";
  onTextMessage(_caller: Caller, text: string): string {
    this.body = text;
    return `${this.status} ${this.body}`;
  }
}

describe("upgrade outcomes", async () => {
  const listener = await startListener({
    "/document": { upgrade: () => new Draft() },
    "/literal": { upgrade: () => ({ status: 403, body: "not a refusal", onTextMessage: () => "served" }) },
    // A JavaScript caller can return anything at all.
    "/nothing": { upgrade: () => undefined } as unknown as UpgradeService,
  });

  test("a service with status and body fields is a service, not a refusal", async () => {
    const ws = await openWs(listener.port, "/document");
    ws.send("final");
    assert.deepEqual(await nextMessages(ws, 1), ["200 final"]);
    ws.close();
    const literal = await openWs(listener.port, "/literal");
    literal.send("hi");
    assert.deepEqual(await nextMessages(literal, 1), ["served"]);
    literal.close();
  });

  test("an upgrade() that returns neither a service nor an Error gets 500, and the listener keeps serving", async () => {
    assert.equal((await rawHttp(listener.port, upgradeRequest("/nothing"))).status, 500);
    const ws = await openWs(listener.port, "/document");
    ws.close();
  });
});
