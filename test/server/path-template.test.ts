import assert from "node:assert/strict";
import { test } from "node:test";
import { normalizePath, PathRouter } from "../../src/server/path-template.ts";

test("segments match one for one; {name} takes one segment", () => {
  const router = new PathRouter<string>();
  router.add("/chat/{room}", "room");
  router.add("/chat/{room}/users/{user}", "user");
  assert.deepEqual(router.match("/chat/a"), { value: "room", params: { room: "a" } });
  assert.deepEqual(router.match("/chat/a/users/b"), { value: "user", params: { room: "a", user: "b" } });
  assert.equal(router.match("/chat"), undefined);
  assert.equal(router.match("/chat/a/b"), undefined);
});

test("a literal wins over a template at the first place they differ, whatever the attach order", () => {
  const router = new PathRouter<string>();
  router.add("/{a}/x", "template-first");
  router.add("/lit/{b}", "literal-first");
  router.add("/lit/x", "all-literal");
  assert.equal(router.match("/lit/x")?.value, "all-literal");
  assert.equal(router.match("/lit/y")?.value, "literal-first");
  assert.equal(router.match("/other/x")?.value, "template-first");
});

test("trailing slashes are ignored; the same path twice is refused; remove", () => {
  const router = new PathRouter<number>();
  router.add("/a/", 1);
  assert.equal(router.match("/a")?.value, 1);
  assert.equal(router.match("/a/")?.value, 1);
  assert.throws(() => router.add("/a", 2), /already attached/);
  assert.equal(router.remove("a"), true);
  assert.equal(router.remove("/a"), false);
  assert.equal(router.size, 0);
  assert.equal(normalizePath("//x//y/"), "/x/y");
});

test("params are percent-decoded; malformed escapes stay as they came", () => {
  const router = new PathRouter<string>();
  router.add("/u/{name}", "u");
  assert.deepEqual(router.match("/u/J%C3%BCrgen")?.params, { name: "Jürgen" });
  assert.deepEqual(router.match("/u/%E0%A4%A")?.params, { name: "%E0%A4%A" });
});
