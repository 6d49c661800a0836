import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import WebSocket from "ws";
import { hashPassword } from "../../src/auth/scrypt-phc.ts";
import { Listener, type UpgradeRequest, type UpgradeService, WebSocketError } from "../../src/index.ts";
import { closed, nextMessages, openWs, rawHttp, startListener, upgradeRequest } from "../helpers/listener.ts";

const CHALLENGE = 'Basic realm="ferry", charset="UTF-8"';
const dir = mkdtempSync(join(tmpdir(), "ferry-auth-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function usersFile(name: string, users: { username: string; password: string; scopes?: string[] }[]): string {
  const path = join(dir, name);
  writeFileSync(path, users.map((u) => `[[users]]\nusername = ${JSON.stringify(u.username)}\npassword = ${JSON.stringify(u.password)}\nscopes = ${JSON.stringify(u.scopes ?? [])}\n`).join("\n"));
  return path;
}

const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`, "utf8").toString("base64")}`;

const first = usersFile("first.toml", [
  { username: "alice", password: await hashPassword("wonderland"), scopes: ["write", "update"] },
  { username: "dave", password: "plain-dave", scopes: ["read"] },
  { username: "erin", password: "erin-in-first", scopes: ["read"] },
]);
const second = usersFile("second.toml", [
  { username: "bob", password: "builder", scopes: ["read"] },
  { username: "erin", password: "erin-in-second", scopes: ["admin"] },
]);

/** The principals upgrade() saw, per path: it must never run for a refused request. */
const seen: Record<string, (UpgradeRequest["principal"] | "called")[]> = {};

function service(path: string, auth: NonNullable<UpgradeService["config"]>["auth"]): UpgradeService {
  seen[path] = [];
  return {
    config: { allowedOrigins: ["*"], auth },
    upgrade: (req) => {
      seen[path]!.push(req.principal ?? "called");
      return { onOpen: (caller: { writeTextMessage(text: string): Promise<void> }) => caller.writeTextMessage(JSON.stringify(req.principal ?? null)) };
    },
  };
}

describe("auth on the upgrade (file user store)", { timeout: 60_000 }, async () => {
  const listener = await startListener({
    "/one": service("/one", [{ fileUserStoreConfig: { path: first } }]),
    "/scoped": service("/scoped", [{ fileUserStoreConfig: { path: first }, scopes: ["write", "admin"] }]),
    "/single-scope": service("/single-scope", [{ fileUserStoreConfig: { path: first }, scopes: "update" }]),
    "/two": service("/two", [{ fileUserStoreConfig: { path: first } }, { fileUserStoreConfig: { path: second }, scopes: ["admin"] }]),
    "/open": service("/open", undefined),
  });
  after(() => listener.immediateStop());
  const port = listener.port;

  async function refused(path: string, headers: string[], status: number): Promise<void> {
    const before = seen[path]!.length;
    const response = await rawHttp(port, upgradeRequest(path, headers));
    assert.equal(response.status, status, `${path} ${headers.join(" ")}: ${response.raw}`);
    if (status === 401) assert.equal(response.headers["www-authenticate"], CHALLENGE);
    else assert.equal(response.headers["www-authenticate"], undefined);
    assert.equal(seen[path]!.length, before, "upgrade() must not run for a refused request");
  }

  async function accepted(path: string, authorization: string): Promise<unknown> {
    const ws = await openWs(port, path, { headers: { Authorization: authorization } });
    const [principal] = await nextMessages(ws, 1);
    ws.close();
    await closed(ws);
    return JSON.parse(String(principal));
  }

  test("no Authorization header: 401 with the Basic challenge, exactly", () => refused("/one", [], 401));

  test("wrong password, unknown user: 401", async () => {
    await refused("/one", [`Authorization: ${basic("alice", "wonderlan")}`], 401);
    await refused("/one", [`Authorization: ${basic("dave", "plain-dav")}`], 401);
    await refused("/one", [`Authorization: ${basic("mallory", "wonderland")}`], 401);
  });

  test("right password (PHC and plain): 101, and upgrade() sees req.principal", async () => {
    assert.deepEqual(await accepted("/one", basic("alice", "wonderland")), { name: "alice", scopes: ["write", "update"] });
    assert.deepEqual(await accepted("/one", basic("dave", "plain-dave")), { name: "dave", scopes: ["read"] });
    assert.deepEqual(seen["/one"]!.slice(-2), [
      { name: "alice", scopes: ["write", "update"] },
      { name: "dave", scopes: ["read"] },
    ]);
  });

  test("the scheme name is case-insensitive (RFC 7235)", async () => {
    assert.deepEqual(await accepted("/one", basic("dave", "plain-dave").replace("Basic", "bAsIc")), { name: "dave", scopes: ["read"] });
  });

  test("scopes are any-of: one held is enough, none held is 403", async () => {
    assert.deepEqual(await accepted("/scoped", basic("alice", "wonderland")), { name: "alice", scopes: ["write", "update"] });
    await refused("/scoped", [`Authorization: ${basic("dave", "plain-dave")}`], 403);
    assert.deepEqual(await accepted("/single-scope", basic("alice", "wonderland")), { name: "alice", scopes: ["write", "update"] });
    await refused("/single-scope", [`Authorization: ${basic("dave", "plain-dave")}`], 403);
  });

  test("a bad password on a scoped service is 401, not 403", () => refused("/scoped", [`Authorization: ${basic("dave", "nope")}`], 401));

  test("stores are tried in list order; the first success wins, and its scopes decide at once", async () => {
    // erin is in both files with different passwords: whichever store knows the password answers.
    assert.deepEqual(await accepted("/two", basic("erin", "erin-in-first")), { name: "erin", scopes: ["read"] });
    assert.deepEqual(await accepted("/two", basic("erin", "erin-in-second")), { name: "erin", scopes: ["admin"] });
    assert.deepEqual(await accepted("/two", basic("alice", "wonderland")), { name: "alice", scopes: ["write", "update"] });
    // bob logs in at the second store, whose entry wants admin: 403, not a 401 after more tries.
    await refused("/two", [`Authorization: ${basic("bob", "builder")}`], 403);
    await refused("/two", [`Authorization: ${basic("bob", "wrong")}`], 401);
  });

  test("Bearer, Digest and a lone scheme against user stores only: 401 with only the Basic challenge", async () => {
    await refused("/one", ["Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig"], 401);
    await refused("/one", ['Authorization: Digest username="alice"'], 401);
    await refused("/one", ["Authorization: Basic"], 401);
  });

  test("malformed Basic credentials are 401, never a 500 or a crash", async () => {
    const bad = [
      "Basic !!!notbase64!!!",
      "Basic YWxpY2U=", // "alice": no colon
      `Basic ${Buffer.from([0x61, 0x3a, 0xff, 0xfe]).toString("base64")}`, // not UTF-8
      "Basic YWxpY2U6d29uZGVybGFuZA", // unpadded
      `Basic ${basic("alice", "wonderland").slice(6)} extra`,
      "Basic  ",
    ];
    for (const value of bad) await refused("/one", [`Authorization: ${value}`], 401);
    assert.deepEqual(await accepted("/one", basic("alice", "wonderland")), { name: "alice", scopes: ["write", "update"] }, "still serving");
  });

  test("a password with a colon and non-ASCII text", async () => {
    const path = usersFile("colon.toml", [{ username: "zoë", password: "a:b:ç" }]);
    const colon = await startListener({ "/c": service("/c", [{ fileUserStoreConfig: { path } }]) });
    try {
      const ws = await openWs(colon.port, "/c", { headers: { Authorization: basic("zoë", "a:b:ç") } });
      assert.deepEqual(JSON.parse(String((await nextMessages(ws, 1))[0])), { name: "zoë", scopes: [] });
      ws.close();
      await closed(ws);
    } finally {
      await colon.immediateStop();
    }
  });

  test("a service without auth still sees no principal", async () => {
    const ws = await openWs(port, "/open");
    await nextMessages(ws, 1);
    ws.close();
    await closed(ws);
    assert.deepEqual(seen["/open"], ["called"]);
  });

  test("ws reports the 401 as an unexpected response", async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/one`);
    ws.on("error", () => {});
    const status = await new Promise<number>((resolve) => ws.on("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0)));
    ws.terminate();
    assert.equal(status, 401);
  });
});

describe("auth files are read at attach", () => {
  test("a missing user store file throws WebSocketError naming path and the file", () => {
    const listener = new Listener(0, { host: "127.0.0.1" });
    const missing = join(dir, "missing.toml");
    assert.throws(
      () => listener.attach("/x", { config: { auth: [{ fileUserStoreConfig: { path: missing } }] }, upgrade: () => ({}) }),
      (error: unknown) => error instanceof WebSocketError && error.message.includes("fileUserStoreConfig.path") && error.message.includes(missing),
    );
    assert.deepEqual(listener.attachments(), []);
  });

  test("an empty auth list is refused", () => {
    const listener = new Listener(0, { host: "127.0.0.1" });
    assert.throws(() => listener.attach("/x", { config: { auth: [] }, upgrade: () => ({}) }), WebSocketError);
  });
});
