import assert from "node:assert/strict";
import { randomBytes, scryptSync } from "node:crypto";
import { describe, test } from "node:test";
import { hashPassword, parseScryptPhc, verifyScryptPhc } from "../../src/auth/scrypt-phc.ts";

const b64 = (bytes: Buffer): string => bytes.toString("base64").replace(/=+$/, "");

/** A PHC string made with node:crypto directly, not with ferry's code. */
function vector(password: string, ln: number, r: number, p: number, keyLength = 32, salt = randomBytes(16)): string {
  const N = 2 ** ln;
  const key = scryptSync(password, salt, keyLength, { N, r, p, maxmem: 256 * N * r + 1024 * 1024 });
  return `$scrypt$ln=${ln},r=${r},p=${p}$${b64(salt)}$${b64(key)}`;
}

describe("scrypt PHC strings", () => {
  test("a vector made with node:crypto verifies with its password and no other", async () => {
    const phc = parseScryptPhc(vector("correct horse", 10, 8, 2, 24));
    assert.equal(phc.hash.length, 24);
    assert.equal(await verifyScryptPhc("correct horse", phc), true);
    assert.equal(await verifyScryptPhc("correct horsf", phc), false);
    assert.equal(await verifyScryptPhc("", phc), false);
  });

  test("the salt is used as its decoded bytes (odd lengths, unpadded)", async () => {
    const text = vector("pässwörd", 12, 4, 1, 17, randomBytes(13));
    assert.equal(await verifyScryptPhc("pässwörd", parseScryptPhc(text)), true);
  });

  test("ln=15, r=8 needs more than Node's default maxmem and still verifies", async () => {
    assert.equal(await verifyScryptPhc("sesame", parseScryptPhc(vector("sesame", 15, 8, 1))), true);
  });

  test("a tampered hash or salt fails", async () => {
    const text = vector("sesame", 10, 8, 1);
    const parts = text.split("$");
    const flip = (s: string): string => (s[0] === "A" ? "B" : "A") + s.slice(1);
    const [, scheme, params, salt, hash] = parts as [string, string, string, string, string];
    assert.equal(await verifyScryptPhc("sesame", parseScryptPhc(["", scheme, params, salt, flip(hash)].join("$"))), false);
    assert.equal(await verifyScryptPhc("sesame", parseScryptPhc(["", scheme, params, flip(salt), hash].join("$"))), false);
  });

  test("hashPassword prints ln=15, r=8, p=1, a 16-byte salt and a 32-byte hash, which verify", async () => {
    const text = await hashPassword("sesame");
    assert.match(text, /^\$scrypt\$ln=15,r=8,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    const phc = parseScryptPhc(text);
    assert.equal(phc.salt.length, 16);
    assert.equal(phc.hash.length, 32);
    assert.equal(await verifyScryptPhc("sesame", phc), true);
    assert.notEqual(await hashPassword("sesame"), text, "a fresh salt each time");
  });

  test("parameters past the bounds are refused before any work", () => {
    const salt = b64(randomBytes(16));
    const hash = b64(randomBytes(32));
    const phc = (params: string): string => `$scrypt$${params}$${salt}$${hash}`;
    assert.throws(() => parseScryptPhc(phc("ln=21,r=1,p=1")), /ln must be 1 to 20/);
    assert.throws(() => parseScryptPhc(phc("ln=0,r=8,p=1")), /ln must be 1 to 20/);
    assert.throws(() => parseScryptPhc(phc("ln=10,r=33,p=1")), /r must be 1 to 32/);
    assert.throws(() => parseScryptPhc(phc("ln=10,r=8,p=17")), /p must be 1 to 16/);
    assert.throws(() => parseScryptPhc(phc("ln=20,r=8,p=1")), /N·r·p must be at most 2\^20/);
    assert.throws(() => parseScryptPhc(phc("ln=15,r=8,p=16")), /N·r·p must be at most 2\^20/);
    assert.doesNotThrow(() => parseScryptPhc(phc("ln=17,r=8,p=1")));
    assert.throws(() => parseScryptPhc(`$scrypt$ln=10,r=8,p=1$${b64(randomBytes(4))}$${hash}`), /salt must be 8 to 64 bytes/);
    assert.throws(() => parseScryptPhc(`$scrypt$ln=10,r=8,p=1$${salt}$${b64(randomBytes(8))}`), /hash must be 16 to 64 bytes/);
  });

  test("malformed strings are refused", () => {
    for (const text of ["$scrypt$", "$scrypt$ln=10,r=8$abc$def", "$scrypt$ln=10,r=8,p=1$c2FsdHNhbHQ=$aGFzaA", "$argon2id$v=19$m=1,t=1,p=1$abc$def", "$scrypt$ln=10,r=8,p=1$abcde$aGFzaGhhc2hoYXNoaGFzaA"]) {
      assert.throws(() => parseScryptPhc(text), RangeError, text);
    }
  });
});
