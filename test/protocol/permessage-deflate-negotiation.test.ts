import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { resolveCompression } from "../../src/connection/compression.ts";
import { parseExtensionHeader } from "../../src/protocol/extension-header.ts";
import {
  acceptDeflateOffer,
  acceptDeflateResponse,
  type DeflateParameters,
  type DeflateRequest,
  deflateOffer,
} from "../../src/protocol/permessage-deflate-negotiation.ts";

const SERVER_DEFAULT = resolveCompression({}, "server").request;
const CLIENT_DEFAULT = resolveCompression({}, "client").request;
/** A server that imposes nothing: what RFC 7692 alone requires. */
const PLAIN: DeflateRequest = { serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: undefined, clientMaxWindowBits: undefined };

function params(s: boolean, c: boolean, sBits = 15, cBits = 15): DeflateParameters {
  return { serverNoContextTakeover: s, clientNoContextTakeover: c, serverMaxWindowBits: sBits, clientMaxWindowBits: cBits };
}

function accept(header: string, policy: DeflateRequest): { parameters: DeflateParameters; response: string } | undefined {
  const offers = parseExtensionHeader(header);
  assert.ok(offers !== undefined, `"${header}" parses`);
  return acceptDeflateOffer(offers, policy);
}

describe("server: accepting offers", () => {
  const cases: [name: string, offer: string, policy: DeflateRequest, response: string, agreed: DeflateParameters][] = [
    // What real clients offer, against ferry's defaults: no context takeover either way.
    ["Chromium, Firefox, ws and Python websockets", "permessage-deflate; client_max_window_bits", SERVER_DEFAULT, "permessage-deflate; server_no_context_takeover; client_no_context_takeover", params(true, true)],
    ["a bare offer", "permessage-deflate", SERVER_DEFAULT, "permessage-deflate; server_no_context_takeover; client_no_context_takeover", params(true, true)],
    // Against a server that imposes nothing.
    ["bare, nothing imposed", "permessage-deflate", PLAIN, "permessage-deflate", params(false, false)],
    ["valueless client_max_window_bits, no limit to give", "permessage-deflate; client_max_window_bits", PLAIN, "permessage-deflate", params(false, false)],
    ["the client's own client limit is confirmed", "permessage-deflate; client_max_window_bits=10", PLAIN, "permessage-deflate; client_max_window_bits=10", params(false, false, 15, 10)],
    ["server_no_context_takeover asked", "permessage-deflate; server_no_context_takeover", PLAIN, "permessage-deflate; server_no_context_takeover", params(true, false)],
    ["client_no_context_takeover offered", "permessage-deflate; client_no_context_takeover", PLAIN, "permessage-deflate; client_no_context_takeover", params(false, true)],
    ["server_max_window_bits asked", "permessage-deflate; server_max_window_bits=10", PLAIN, "permessage-deflate; server_max_window_bits=10", params(false, false, 10)],
    ["server_max_window_bits=8 is honoured (Huffman-only output)", "permessage-deflate; server_max_window_bits=8", PLAIN, "permessage-deflate; server_max_window_bits=8", params(false, false, 8)],
    ["client_max_window_bits=8", "permessage-deflate; client_max_window_bits=8", PLAIN, "permessage-deflate; client_max_window_bits=8", params(false, false, 15, 8)],
    ["a quoted value", 'permessage-deflate; server_max_window_bits="12"', PLAIN, "permessage-deflate; server_max_window_bits=12", params(false, false, 12)],
    // Autobahn 13.x offers (client_no_context_takeover and client_max_window_bits accepted, server terms requested).
    ["Autobahn 13.1", "permessage-deflate; client_no_context_takeover; client_max_window_bits", PLAIN, "permessage-deflate; client_no_context_takeover", params(false, true)],
    ["Autobahn 13.2", "permessage-deflate; client_no_context_takeover; client_max_window_bits; server_no_context_takeover", PLAIN, "permessage-deflate; server_no_context_takeover; client_no_context_takeover", params(true, true)],
    ["Autobahn 13.3", "permessage-deflate; client_no_context_takeover; client_max_window_bits; server_max_window_bits=8", PLAIN, "permessage-deflate; client_no_context_takeover; server_max_window_bits=8", params(false, true, 8)],
    ["Autobahn 13.4", "permessage-deflate; client_no_context_takeover; client_max_window_bits; server_max_window_bits=15", PLAIN, "permessage-deflate; client_no_context_takeover; server_max_window_bits=15", params(false, true, 15)],
    ["Autobahn 13.5", "permessage-deflate; client_no_context_takeover; client_max_window_bits; server_no_context_takeover; server_max_window_bits=8", PLAIN, "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=8", params(true, true, 8)],
    // Server limits.
    ["the server's own window limit, stated unasked", "permessage-deflate", { ...PLAIN, serverMaxWindowBits: 10 }, "permessage-deflate; server_max_window_bits=10", params(false, false, 10)],
    ["the smaller of the client's and the server's window", "permessage-deflate; server_max_window_bits=12", { ...PLAIN, serverMaxWindowBits: 10 }, "permessage-deflate; server_max_window_bits=10", params(false, false, 10)],
    ["the client's smaller window wins", "permessage-deflate; server_max_window_bits=9", { ...PLAIN, serverMaxWindowBits: 10 }, "permessage-deflate; server_max_window_bits=9", params(false, false, 9)],
    ["a client limit for a client that allows one", "permessage-deflate; client_max_window_bits", { ...PLAIN, clientMaxWindowBits: 11 }, "permessage-deflate; client_max_window_bits=11", params(false, false, 15, 11)],
    ["the smaller client limit", "permessage-deflate; client_max_window_bits=9", { ...PLAIN, clientMaxWindowBits: 11 }, "permessage-deflate; client_max_window_bits=9", params(false, false, 15, 9)],
    // RFC 7692 §7.1.2.2: no client_max_window_bits in the answer to an offer without it.
    ["no client limit for a client that did not offer one", "permessage-deflate", { ...PLAIN, clientMaxWindowBits: 11 }, "permessage-deflate", params(false, false, 15, 15)],
  ];
  for (const [name, offer, policy, response, agreed] of cases) {
    test(name, () => {
      const accepted = accept(offer, policy);
      assert.ok(accepted !== undefined, "accepted");
      assert.equal(accepted.response, response);
      assert.deepEqual(accepted.parameters, agreed);
      // The answer must be one the client side accepts, for the offer it answers.
      assert.ok(parseExtensionHeader(accepted.response) !== undefined, accepted.response);
    });
  }

  test("the first offer that can be honoured wins; invalid ones are skipped", () => {
    const accepted = accept("permessage-deflate; server_max_window_bits=16, permessage-deflate; server_max_window_bits=11, permessage-deflate", PLAIN);
    assert.equal(accepted?.response, "permessage-deflate; server_max_window_bits=11");
  });

  test("Autobahn 13.7: several offers, the first taken", () => {
    const accepted = accept(
      "permessage-deflate; client_no_context_takeover; client_max_window_bits; server_no_context_takeover; server_max_window_bits=8, " +
        "permessage-deflate; client_no_context_takeover; client_max_window_bits; server_no_context_takeover, " +
        "permessage-deflate; client_no_context_takeover; client_max_window_bits",
      PLAIN,
    );
    assert.deepEqual(accepted?.parameters, params(true, true, 8));
  });

  test("other extensions are ignored", () => {
    assert.equal(accept("x-webkit-deflate-frame, permessage-deflate", PLAIN)?.response, "permessage-deflate");
    assert.equal(accept("x-webkit-deflate-frame; max_window_bits=10", PLAIN), undefined);
    assert.equal(accept("", PLAIN), undefined);
  });

  const declined: [string, string][] = [
    ["an unknown parameter", "permessage-deflate; foo"],
    ["an unknown parameter with a value", "permessage-deflate; foo=1"],
    ["a repeated server_no_context_takeover", "permessage-deflate; server_no_context_takeover; server_no_context_takeover"],
    ["a repeated client_no_context_takeover", "permessage-deflate; client_no_context_takeover; client_no_context_takeover"],
    ["a repeated server_max_window_bits", "permessage-deflate; server_max_window_bits=10; server_max_window_bits=10"],
    ["a repeated client_max_window_bits", "permessage-deflate; client_max_window_bits; client_max_window_bits=10"],
    ["server_no_context_takeover with a value", "permessage-deflate; server_no_context_takeover=1"],
    ["client_no_context_takeover with a value", "permessage-deflate; client_no_context_takeover=true"],
    ["server_max_window_bits without a value", "permessage-deflate; server_max_window_bits"],
    ["server_max_window_bits=7", "permessage-deflate; server_max_window_bits=7"],
    ["server_max_window_bits=16", "permessage-deflate; server_max_window_bits=16"],
    ["server_max_window_bits=0", "permessage-deflate; server_max_window_bits=0"],
    ["server_max_window_bits with a leading zero", "permessage-deflate; server_max_window_bits=09"],
    ["server_max_window_bits not a number", "permessage-deflate; server_max_window_bits=abc"],
    ["client_max_window_bits=7", "permessage-deflate; client_max_window_bits=7"],
    ["client_max_window_bits=16", "permessage-deflate; client_max_window_bits=16"],
    ["client_max_window_bits=1.5", "permessage-deflate; client_max_window_bits=1.5"],
    ["client_max_window_bits=-10", "permessage-deflate; client_max_window_bits=-10"],
    ["a quoted invalid value", 'permessage-deflate; client_max_window_bits="16"'],
    ["parameter names are case-sensitive", "permessage-deflate; Server_No_Context_Takeover"],
  ];
  for (const [name, offer] of declined) {
    test(`declined: ${name}`, () => {
      assert.equal(accept(offer, SERVER_DEFAULT), undefined);
      // …and a valid offer after it is still taken.
      assert.ok(accept(`${offer}, permessage-deflate`, SERVER_DEFAULT) !== undefined, "the valid offer after it");
    });
  }
});

describe("client: the offer", () => {
  const cases: [string, Parameters<typeof resolveCompression>[0], string][] = [
    ["defaults", {}, "permessage-deflate; client_max_window_bits"],
    ["no context takeover either way", { serverNoContextTakeover: true, clientNoContextTakeover: true }, "permessage-deflate; server_no_context_takeover; client_no_context_takeover; client_max_window_bits"],
    ["window limits", { serverMaxWindowBits: 10, clientMaxWindowBits: 9 }, "permessage-deflate; server_max_window_bits=10; client_max_window_bits=9"],
    ["8 bits", { serverMaxWindowBits: 8, clientMaxWindowBits: 8 }, "permessage-deflate; server_max_window_bits=8; client_max_window_bits=8"],
  ];
  for (const [name, options, offer] of cases) {
    test(name, () => {
      const request = resolveCompression(options, "client").request;
      assert.equal(deflateOffer(request), offer);
      // ferry's own server accepts every offer ferry's client makes.
      assert.ok(accept(offer, SERVER_DEFAULT) !== undefined, offer);
    });
  }

  test("invalid options are refused at once", () => {
    for (const options of [{ serverMaxWindowBits: 7 }, { clientMaxWindowBits: 16 }, { serverMaxWindowBits: 10.5 }, { threshold: -1 }, { memLevel: 0 }, { memLevel: 10 }, { concurrency: 0 }]) {
      assert.throws(() => resolveCompression(options, "client"), RangeError, JSON.stringify(options));
    }
  });
});

describe("client: checking the answer", () => {
  function check(response: string, request: DeflateRequest = CLIENT_DEFAULT): DeflateParameters | undefined | string {
    const extensions = parseExtensionHeader(response);
    assert.ok(extensions !== undefined, `"${response}" parses`);
    return acceptDeflateResponse(extensions, request);
  }

  const accepted: [string, string, DeflateRequest, DeflateParameters][] = [
    ["a bare answer", "permessage-deflate", CLIENT_DEFAULT, params(false, false)],
    ["ferry's server defaults", "permessage-deflate; server_no_context_takeover; client_no_context_takeover", CLIENT_DEFAULT, params(true, true)],
    ["Python websockets' server defaults", "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12", CLIENT_DEFAULT, params(false, false, 12, 12)],
    ["server_no_context_takeover unasked", "permessage-deflate; server_no_context_takeover", CLIENT_DEFAULT, params(true, false)],
    ["server_max_window_bits unasked", "permessage-deflate; server_max_window_bits=8", CLIENT_DEFAULT, params(false, false, 8)],
    ["client_max_window_bits=8", "permessage-deflate; client_max_window_bits=8", CLIENT_DEFAULT, params(false, false, 15, 8)],
    ["the client's own no context takeover holds when not repeated", "permessage-deflate", { ...CLIENT_DEFAULT, clientNoContextTakeover: true }, params(false, true)],
    ["the client's own window holds when not repeated", "permessage-deflate", { ...CLIENT_DEFAULT, clientMaxWindowBits: 10 }, params(false, false, 15, 10)],
    ["a smaller client window than offered", "permessage-deflate; client_max_window_bits=9", { ...CLIENT_DEFAULT, clientMaxWindowBits: 10 }, params(false, false, 15, 9)],
    ["server_max_window_bits as offered", "permessage-deflate; server_max_window_bits=10", { ...CLIENT_DEFAULT, serverMaxWindowBits: 10 }, params(false, false, 10)],
    ["a smaller server window than offered", "permessage-deflate; server_max_window_bits=9", { ...CLIENT_DEFAULT, serverMaxWindowBits: 10 }, params(false, false, 9)],
    ["server_no_context_takeover as offered", "permessage-deflate; server_no_context_takeover", { ...CLIENT_DEFAULT, serverNoContextTakeover: true }, params(true, false)],
    ["a quoted value", 'permessage-deflate; server_max_window_bits="10"', CLIENT_DEFAULT, params(false, false, 10)],
  ];
  for (const [name, response, request, agreed] of accepted) {
    test(`accepted: ${name}`, () => assert.deepEqual(check(response, request), agreed));
  }

  test("no extension: no compression", () => assert.equal(acceptDeflateResponse([], CLIENT_DEFAULT), undefined));

  const refused: [string, string, DeflateRequest, RegExp][] = [
    ["an extension that was not offered", "x-webkit-deflate-frame", CLIENT_DEFAULT, /not offered/],
    ["another extension after it", "permessage-deflate, x-foo", CLIENT_DEFAULT, /not offered/],
    ["permessage-deflate twice", "permessage-deflate, permessage-deflate", CLIENT_DEFAULT, /twice/],
    ["an unknown parameter", "permessage-deflate; foo", CLIENT_DEFAULT, /unknown parameter foo/],
    ["a repeated parameter", "permessage-deflate; server_no_context_takeover; server_no_context_takeover", CLIENT_DEFAULT, /repeated/],
    ["a repeated window", "permessage-deflate; client_max_window_bits=10; client_max_window_bits=10", CLIENT_DEFAULT, /repeated/],
    ["client_max_window_bits without a value", "permessage-deflate; client_max_window_bits", CLIENT_DEFAULT, /client_max_window_bits without a value/],
    ["server_max_window_bits without a value", "permessage-deflate; server_max_window_bits", CLIENT_DEFAULT, /server_max_window_bits without a value/],
    ["server_max_window_bits=7", "permessage-deflate; server_max_window_bits=7", CLIENT_DEFAULT, /invalid server_max_window_bits "7"/],
    ["server_max_window_bits=16", "permessage-deflate; server_max_window_bits=16", CLIENT_DEFAULT, /invalid/],
    ["client_max_window_bits=16", "permessage-deflate; client_max_window_bits=16", CLIENT_DEFAULT, /invalid/],
    ["client_max_window_bits=010", "permessage-deflate; client_max_window_bits=010", CLIENT_DEFAULT, /invalid/],
    ["a no-context parameter with a value", "permessage-deflate; client_no_context_takeover=1", CLIENT_DEFAULT, /takes no value/],
    ["server_no_context_takeover offered but not granted", "permessage-deflate", { ...CLIENT_DEFAULT, serverNoContextTakeover: true }, /lacks the server_no_context_takeover/],
    ["server_max_window_bits offered but not answered", "permessage-deflate", { ...CLIENT_DEFAULT, serverMaxWindowBits: 10 }, /lacks the server_max_window_bits/],
    ["a larger server window than offered", "permessage-deflate; server_max_window_bits=11", { ...CLIENT_DEFAULT, serverMaxWindowBits: 10 }, /over the 10 offered/],
    ["a larger client window than offered", "permessage-deflate; client_max_window_bits=11", { ...CLIENT_DEFAULT, clientMaxWindowBits: 10 }, /over the 10 offered/],
  ];
  for (const [name, response, request, message] of refused) {
    test(`refused: ${name}`, () => {
      const outcome = check(response, request);
      assert.equal(typeof outcome, "string", `refused, got ${JSON.stringify(outcome)}`);
      assert.match(outcome as string, message);
    });
  }
});
