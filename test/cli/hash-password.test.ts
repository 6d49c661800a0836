import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseScryptPhc, verifyScryptPhc } from "../../src/auth/scrypt-phc.ts";
import { type FerryRun, runFerry } from "../helpers/ferry-command.ts";

/** Runs `ferry hash-password …` with `input` piped to stdin. */
function ferry(args: string[], input: string): Promise<FerryRun> {
  return runFerry(["hash-password", ...args], input);
}

describe("ferry hash-password", () => {
  test("a piped password: prints a PHC string that verifies against it, and nothing else", async () => {
    const run = await ferry([], "correct horse battery staple\nsecond line ignored\n");
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stderr, "");
    assert.match(run.stdout, /^\$scrypt\$ln=15,r=8,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}\n$/);
    const phc = parseScryptPhc(run.stdout.trim());
    assert.equal(await verifyScryptPhc("correct horse battery staple", phc), true);
    assert.equal(await verifyScryptPhc("correct horse battery staple\n", phc), false, "the line ending is not part of it");
  });

  test("a Windows line ending is not part of the password", async () => {
    const run = await ferry([], "sesame\r\n");
    assert.equal(run.code, 0, run.stderr);
    assert.equal(await verifyScryptPhc("sesame", parseScryptPhc(run.stdout.trim())), true);
  });

  test("empty stdin: exit 2 and a message, no output", async () => {
    const run = await ferry([], "");
    assert.equal(run.code, 2);
    assert.equal(run.stdout, "");
    assert.match(run.stderr, /no password given/);
  });

  test("--help: usage on stdout, exit 0", async () => {
    const run = await ferry(["--help"], "");
    assert.equal(run.code, 0);
    assert.match(run.stdout, /^Usage: ferry hash-password/);
  });

  test("a password as an argument is refused (it would stay in the shell's history)", async () => {
    const run = await ferry(["sesame"], "");
    assert.equal(run.code, 2);
    assert.equal(run.stdout, "");
  });
});
