import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { FileUserStore } from "../../src/auth/file-user-store.ts";
import { hashPassword } from "../../src/auth/scrypt-phc.ts";
import { WebSocketError } from "../../src/index.ts";

const dir = mkdtempSync(join(tmpdir(), "ferry-users-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** Asserts a WebSocketError whose message names the field `path`, the file, and what is wrong. */
function assertLoadError(path: string, what: RegExp): void {
  assert.throws(
    () => FileUserStore.load({ path }),
    (error: unknown) => {
      assert.ok(error instanceof WebSocketError);
      assert.match(error.message, /^fileUserStoreConfig\.path /);
      assert.ok(error.message.includes(path), error.message);
      assert.match(error.message, what);
      return true;
    },
  );
}

describe("file user store", () => {
  test("plain and PHC passwords verify; wrong ones and unknown users do not", async () => {
    const phc = await hashPassword("bob's secret");
    const store = FileUserStore.load({
      path: file("users.toml", `[[users]]\nusername = "alice"\npassword = "wonderland"\nscopes = ["write", "update"]\n\n[[users]]\nusername = "bob"\npassword = "${phc}"\n`),
    });
    assert.deepEqual(await store.verify("alice", "wonderland"), { name: "alice", scopes: ["write", "update"] });
    assert.equal(await store.verify("alice", "wonderlan"), undefined);
    assert.equal(await store.verify("alice", "wonderland!"), undefined);
    assert.deepEqual(await store.verify("bob", "bob's secret"), { name: "bob", scopes: [] });
    assert.equal(await store.verify("bob", phc), undefined, "the PHC string itself is not the password");
    assert.equal(await store.verify("carol", "wonderland"), undefined);
  });

  test("a missing file", () => assertLoadError(join(dir, "nope.toml"), /cannot read the file \(ENOENT\)/));
  test("a directory", () => assertLoadError(dir, /cannot read the file \(EISDIR\)/));
  test("bad TOML", () => assertLoadError(file("bad.toml", "[[users]\nusername = "), /is not valid TOML/));
  test("users not an array of tables", () => assertLoadError(file("flat.toml", 'users = "alice"\n'), /`users` must be an array of tables/));
  test("a user without a password", () => assertLoadError(file("nopw.toml", '[[users]]\nusername = "alice"\n'), /users\[0\]\.password must be a string/));
  test("scopes not strings", () =>
    assertLoadError(file("scopes.toml", '[[users]]\nusername = "a"\npassword = "x"\nscopes = [1]\n'), /users\[0\]\.scopes must be an array of strings/));
  test("a user twice", () =>
    assertLoadError(file("twice.toml", '[[users]]\nusername = "a"\npassword = "x"\n[[users]]\nusername = "a"\npassword = "y"\n'), /users\[1\]\.username "a" appears twice/));
  test("a PHC string past the scrypt bounds is refused at load", () =>
    assertLoadError(
      file("costly.toml", '[[users]]\nusername = "a"\npassword = "$scrypt$ln=20,r=32,p=16$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"\n'),
      /users\[0\]\.password: N·r·p must be at most 2\^20/,
    ));
});
