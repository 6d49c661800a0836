import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  acceptKey,
  generateKey,
  hasToken,
  headerTokens,
  headerTokensPreservingCase,
  isValidKey,
  selectSubProtocol,
  WEBSOCKET_VERSION,
} from "../../src/protocol/handshake.ts";

describe("acceptKey", () => {
  it("computes the RFC 6455 §1.3 sample", () => {
    assert.equal(acceptKey("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  });

  it("computes the widely published MDN sample and differs per key", () => {
    assert.equal(acceptKey("x3JJHMbDL1EzLkh9GBhXDw=="), "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
    assert.notEqual(acceptKey("AAAAAAAAAAAAAAAAAAAAAA=="), acceptKey("AAAAAAAAAAAAAAAAAAAAAQ=="));
  });
});

describe("generateKey", () => {
  it("returns base64 of 16 fresh random bytes, accepted by isValidKey", () => {
    const keys = new Set<string>();
    for (let i = 0; i < 100; i++) {
      const key = generateKey();
      assert.equal(Buffer.from(key, "base64").length, 16);
      assert.ok(isValidKey(key), key);
      keys.add(key);
    }
    assert.equal(keys.size, 100);
  });
});

describe("isValidKey", () => {
  const valid = [
    "dGhlIHNhbXBsZSBub25jZQ==",
    "AAAAAAAAAAAAAAAAAAAAAA==",
    "/////////////////////w==",
    "+++++++++++++++++++++g==",
    Buffer.alloc(16, 0xab).toString("base64"),
  ];
  const invalid: [string, string | undefined][] = [
    ["missing", undefined],
    ["empty", ""],
    ["base64 of 15 bytes", Buffer.alloc(15, 1).toString("base64")],
    ["base64 of 17 bytes", Buffer.alloc(17, 1).toString("base64")],
    ["base64 of 32 bytes", Buffer.alloc(32, 1).toString("base64")],
    ["without padding", "dGhlIHNhbXBsZSBub25jZQ"],
    ["with one '='", "dGhlIHNhbXBsZSBub25jZQ="],
    ["non-zero trailing bits", "dGhlIHNhbXBsZSBub25jZR=="],
    ["URL-safe alphabet", "dGhlIHNhbXBsZSBub25-ZQ=="],
    ["a character outside base64", "dGhlIHNhbXBsZSBub25j*Q=="],
    ["surrounding whitespace", " dGhlIHNhbXBsZSBub25jZQ=="],
    ["a trailing newline", "dGhlIHNhbXBsZSBub25jZQ==\n"],
    ["plain text", "not a websocket key"],
  ];
  for (const key of valid) {
    it(`accepts ${key}`, () => assert.equal(isValidKey(key), true));
  }
  for (const [name, key] of invalid) {
    it(`rejects ${name}`, () => assert.equal(isValidKey(key), false));
  }
});

describe("headerTokens and hasToken", () => {
  it("splits on commas, trims and lower-cases", () => {
    assert.deepEqual(headerTokens(undefined), []);
    assert.deepEqual(headerTokens(""), []);
    assert.deepEqual(headerTokens("Upgrade"), ["upgrade"]);
    assert.deepEqual(headerTokens("keep-alive, Upgrade"), ["keep-alive", "upgrade"]);
    assert.deepEqual(headerTokens(" , a ,,\tB\t, "), ["a", "b"]);
  });

  it("finds a token case-insensitively, as a whole token only", () => {
    assert.equal(hasToken("keep-alive, Upgrade", "upgrade"), true);
    assert.equal(hasToken("UPGRADE", "upgrade"), true);
    assert.equal(hasToken("WebSocket", "websocket"), true);
    assert.equal(hasToken("websocket", "WebSocket"), true);
    assert.equal(hasToken("keep-alive", "upgrade"), false);
    assert.equal(hasToken("upgraded", "upgrade"), false);
    assert.equal(hasToken("keep-alive upgrade", "upgrade"), false);
    assert.equal(hasToken(undefined, "upgrade"), false);
    assert.equal(hasToken("", "upgrade"), false);
  });

  it("keeps the case of sub-protocol tokens", () => {
    assert.deepEqual(headerTokensPreservingCase(undefined), []);
    assert.deepEqual(headerTokensPreservingCase(" Chat.V1 ,, mqtt "), ["Chat.V1", "mqtt"]);
  });
});

describe("selectSubProtocol", () => {
  it("picks the first protocol in the client's order that the server supports", () => {
    assert.equal(selectSubProtocol("b, a", ["a", "b"]), "b");
    assert.equal(selectSubProtocol("x, a, b", ["b", "a"]), "a");
    assert.equal(selectSubProtocol("chat.v2,chat.v1", ["chat.v1"]), "chat.v1");
  });

  it("compares case-sensitively", () => {
    assert.equal(selectSubProtocol("Chat", ["chat"]), undefined);
    assert.equal(selectSubProtocol("Chat, chat", ["chat"]), "chat");
    assert.equal(selectSubProtocol("CHAT, Chat", ["Chat", "CHAT"]), "CHAT");
  });

  it("returns undefined when nothing matches, nothing is offered or nothing is supported", () => {
    assert.equal(selectSubProtocol("x, y", ["a"]), undefined);
    assert.equal(selectSubProtocol(undefined, ["a"]), undefined);
    assert.equal(selectSubProtocol("", ["a"]), undefined);
    assert.equal(selectSubProtocol("a", []), undefined);
  });

  it("ignores whitespace and empty entries in the offer", () => {
    assert.equal(selectSubProtocol("  ,  a  ", ["a"]), "a");
  });
});

describe("WEBSOCKET_VERSION", () => {
  it("is 13", () => assert.equal(WEBSOCKET_VERSION, "13"));
});
