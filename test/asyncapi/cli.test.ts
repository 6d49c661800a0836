import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test, type TestContext } from "node:test";
import { asyncapiCommand } from "../../src/cli/asyncapi-command.ts";
import type { AsyncAPIDocument } from "../../src/index.ts";
import { type FerryRun, runFerry } from "../helpers/ferry-command.ts";
import { parseValid } from "./validate.ts";

/** Runs `ferry …` with stdin closed. */
function ferry(...args: string[]): Promise<FerryRun> {
  return runFerry(args);
}

// Each run starts node and tsx (about a second): the tests run side by side.
describe("ferry asyncapi", { concurrency: true }, () => {
  test("prints the document of a module's default export", async () => {
    const run = await ferry("asyncapi", "test/asyncapi/fixtures/gql-service.ts", "--title", "GQL", "--server", "local=ws://127.0.0.1:4000");
    assert.equal(run.code, 0, run.stderr);
    const document = JSON.parse(run.stdout) as AsyncAPIDocument;
    await parseValid(document);
    assert.equal(document.info.title, "GQL");
    assert.deepEqual(document.servers, { local: { host: "127.0.0.1:4000", protocol: "ws" } });
    assert.equal(document.channels["graphql"]?.address, "/graphql");
    assert.ok(Object.values(document.operations).some((operation) => operation["x-ferry-method"] === "onSubscribe" && operation.reply !== undefined));
  });

  test("--output writes a file; a `listener` function export is called, and a started listener does not keep it running", async () => {
    const directory = await mkdtemp(join(tmpdir(), "ferry-asyncapi-"));
    after(() => rm(directory, { recursive: true, force: true }));
    const output = join(directory, "asyncapi.json");
    const run = await ferry("asyncapi", "test/asyncapi/fixtures/started-listener.ts", "--output", output);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, "");
    const document = JSON.parse(await readFile(output, "utf8")) as AsyncAPIDocument;
    await parseValid(document);
    assert.deepEqual(Object.keys(document.channels["echo.channel"]?.parameters ?? {}), ["channel"]);
  });

  test("a module that is not there: exit code 1 and a message", async () => {
    const missing = await ferry("asyncapi", "test/asyncapi/fixtures/nothing-here.ts");
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no module at .*nothing-here\.ts/);
  });
});

// The same command in this process, for the cases that need no fresh node.
describe("asyncapiCommand", () => {
  async function run(args: string[], t: TestContext): Promise<{ code: number; stderr: string }> {
    let stderr = "";
    t.mock.method(process.stderr, "write", (chunk: string, callback?: (error?: Error | null) => void) => {
      stderr += chunk;
      callback?.(null);
      return true;
    });
    const code = await asyncapiCommand(args);
    t.mock.restoreAll();
    return { code, stderr };
  }

  test("a module without a listener export: exit code 1", async (t) => {
    const { code, stderr } = await run(["test/asyncapi/validate.ts"], t);
    assert.equal(code, 1);
    assert.match(stderr, /has no export "default" or "listener"/);
  });

  test("--export names an export that is not a listener: exit code 1", async (t) => {
    const { code, stderr } = await run(["test/asyncapi/fixtures/gql-service.ts", "--export", "ticks"], t);
    assert.equal(code, 1);
    assert.match(stderr, /the export "ticks" of .* is not a Listener/);
  });

  test("no module, or an unknown option: usage and exit code 2", async (t) => {
    assert.deepEqual(await run([], t).then((r) => [r.code, /give one module/.test(r.stderr)]), [2, true]);
    assert.deepEqual(await run(["x.ts", "--nope"], t).then((r) => [r.code, /Unknown option '--nope'/.test(r.stderr)]), [2, true]);
  });
});
