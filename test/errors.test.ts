import assert from "node:assert/strict";
import { test } from "node:test";
import * as ferry from "../src/index.ts";

const expected: [string, string, string][] = [
  ["WebSocketError", "ERR_WEBSOCKET", "Error"],
  ["InvalidHandshakeError", "ERR_INVALID_HANDSHAKE", "WebSocketError"],
  ["PayloadTooLargeError", "ERR_PAYLOAD_TOO_LARGE", "WebSocketError"],
  ["CorruptedFrameError", "ERR_CORRUPTED_FRAME", "WebSocketError"],
  ["InvalidContinuationFrameError", "ERR_INVALID_CONTINUATION_FRAME", "CorruptedFrameError"],
  ["ConnectionError", "ERR_CONNECTION", "WebSocketError"],
  ["ConnectionClosureError", "ERR_CONNECTION_CLOSURE", "ConnectionError"],
  ["UpgradeError", "ERR_UPGRADE", "WebSocketError"],
  ["HandshakeTimedOutError", "ERR_HANDSHAKE_TIMED_OUT", "WebSocketError"],
  ["ReadTimedOutError", "ERR_READ_TIMED_OUT", "WebSocketError"],
  ["WriteTimedOutError", "ERR_WRITE_TIMED_OUT", "WebSocketError"],
  ["AuthError", "ERR_AUTH", "WebSocketError"],
  ["AuthnError", "ERR_AUTHN", "WebSocketError"],
  ["AuthzError", "ERR_AUTHZ", "WebSocketError"],
  ["SslError", "ERR_SSL", "WebSocketError"],
  ["PayloadBindingError", "ERR_PAYLOAD_BINDING", "WebSocketError"],
  ["PayloadValidationError", "ERR_PAYLOAD_VALIDATION", "PayloadBindingError"],
];

test("every error class of SPEC §11: its name, stable code, parent and cause", () => {
  const exports = ferry as unknown as Record<string, new (message: string, options?: object) => ferry.WebSocketError>;
  for (const [name, code, parent] of expected) {
    const ErrorClass = exports[name]!;
    const cause = new Error("root");
    const error = new ErrorClass("message", { cause });
    assert.equal(error.name, name);
    assert.equal(error.code, code);
    assert.equal(error.message, "message");
    assert.equal(error.cause, cause);
    assert.ok(error instanceof (parent === "Error" ? Error : exports[parent]!), `${name} extends ${parent}`);
  }
});

test("close codes and HTTP statuses travel with the errors that have them", () => {
  assert.equal(new ferry.PayloadTooLargeError("big").closeCode, 1009);
  assert.equal(new ferry.AuthnError().status, 401);
  assert.equal(new ferry.AuthzError().status, 403);
  assert.equal(new ferry.UpgradeError("x", { status: 503 }).status, 503);
  assert.equal(new ferry.UpgradeError("x", { status: 200 }).status, 400);
  assert.deepEqual(new ferry.UpgradeError("x", { headers: { "Retry-After": "5" } }).headers, { "Retry-After": "5" });
});
