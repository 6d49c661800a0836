import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { type ExtensionElement, formatExtension, parseExtensionHeader } from "../../src/protocol/extension-header.ts";

const e = (name: string, ...params: [string, string | true][]): ExtensionElement => ({ name, params });

describe("parseExtensionHeader: well-formed values", () => {
  const cases: [string, ExtensionElement[]][] = [
    ["permessage-deflate", [e("permessage-deflate")]],
    ["permessage-deflate; client_max_window_bits", [e("permessage-deflate", ["client_max_window_bits", true])]],
    [
      "permessage-deflate; server_no_context_takeover; client_max_window_bits=10",
      [e("permessage-deflate", ["server_no_context_takeover", true], ["client_max_window_bits", "10"])],
    ],
    // RFC 7692 §5.2's example of two offers, the second a fallback.
    [
      "permessage-deflate; client_max_window_bits; server_max_window_bits=10, permessage-deflate; client_max_window_bits",
      [
        e("permessage-deflate", ["client_max_window_bits", true], ["server_max_window_bits", "10"]),
        e("permessage-deflate", ["client_max_window_bits", true]),
      ],
    ],
    ['permessage-deflate; server_max_window_bits="10"', [e("permessage-deflate", ["server_max_window_bits", "10"])]],
    ['x; a="b\\c"', [e("x", ["a", "bc"])]],
    ["  x  ;  a  =  1  ,  y  ", [e("x", ["a", "1"]), e("y")]],
    ["x;a=1;a=2", [e("x", ["a", "1"], ["a", "2"])]],
    ["\tx\t;\tb", [e("x", ["b", true])]],
    // RFC 7230 §7: empty list elements are ignored; repeated header lines arrive joined by ", ".
    [", x, , y,", [e("x"), e("y")]],
    ["", []],
    ["   ", []],
    ["x-webkit-deflate-frame, permessage-deflate", [e("x-webkit-deflate-frame"), e("permessage-deflate")]],
    ["Permessage-Deflate", [e("Permessage-Deflate")]],
  ];
  for (const [value, expected] of cases) {
    test(JSON.stringify(value), () => assert.deepEqual(parseExtensionHeader(value), expected));
  }
});

describe("parseExtensionHeader: malformed values", () => {
  const cases = [
    "permessage-deflate;",
    "permessage-deflate; ",
    ";permessage-deflate",
    "permessage-deflate;;a",
    "permessage-deflate client_max_window_bits",
    "permessage-deflate; a=",
    "permessage-deflate; a= ;b",
    "permessage-deflate; =10",
    'permessage-deflate; a="10',
    'permessage-deflate; a=""',
    'permessage-deflate; a="1 0"',
    'permessage-deflate; a="1,0"',
    'permessage-deflate; a="\\',
    "permessage-deflate; a=1=2",
    "permessage-deflate; a=b c",
    "perm/essage",
    "per message",
    "permessage-deflate; a=(1)",
    "permessage-déflate",
    'x; a="é"',
    "x; a=1 b",
    '"x"',
    "x;a=1\r\n",
  ];
  for (const value of cases) {
    test(JSON.stringify(value), () => assert.equal(parseExtensionHeader(value), undefined));
  }
});

describe("parseExtensionHeader: cost", () => {
  // Each of these makes a backtracking or quadratic parser crawl (seconds at this size); one
  // pass takes milliseconds. Real headers stop at maxHeaderSize, far below.
  const big = 100_000;
  const cases: [string, string][] = [
    ["many parameters", `x${"; a=1".repeat(big / 6)}`],
    ["many elements", "x, ".repeat(big / 3)],
    ["an unterminated quote", `x; a="${"b".repeat(big)}`],
    ["escapes", `x; a="${"\\b".repeat(big / 2)}"`],
    ["whitespace", `x${" ".repeat(big)};`],
    ["separators", `x${";".repeat(big)}`],
  ];
  for (const [name, value] of cases) {
    test(name, () => {
      const started = performance.now();
      parseExtensionHeader(value);
      const took = performance.now() - started;
      assert.ok(took < 1000, `took ${took.toFixed(0)} ms`);
    });
  }
});

describe("formatExtension", () => {
  test("writes parameters in order, valueless ones bare", () => {
    assert.equal(
      formatExtension(e("permessage-deflate", ["server_no_context_takeover", true], ["client_max_window_bits", "12"])),
      "permessage-deflate; server_no_context_takeover; client_max_window_bits=12",
    );
    assert.equal(formatExtension(e("permessage-deflate")), "permessage-deflate");
  });

  test("what it writes parses back to the same element", () => {
    const token = fc.stringMatching(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,12}$/);
    fc.assert(
      fc.property(token, fc.array(fc.tuple(token, fc.option(token, { nil: undefined })), { maxLength: 6 }), (name, params) => {
        const element = e(name, ...params.map(([p, v]): [string, string | true] => [p, v ?? true]));
        assert.deepEqual(parseExtensionHeader(formatExtension(element)), [element]);
      }),
    );
  });

  test("any string either parses or is refused, never throws", () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(..."ab=;, \t\"\\x1é") }), (value) => {
        const parsed = parseExtensionHeader(value);
        assert.ok(parsed === undefined || Array.isArray(parsed), JSON.stringify(value));
      }),
    );
  });
});
