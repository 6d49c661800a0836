/**
 * The package as users get it: `npm pack` (whose prepack builds dist/ from a clean checkout),
 * the tarball installed into an empty project, then imported, type-checked and run from
 * there, with nothing of this repository on the way but @types/node and the compiler.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../", import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The variables `npm test` sets for its own package would leak into the nested npm runs. */
const env = Object.fromEntries(
  Object.entries(process.env).filter(([name]) => !name.startsWith("npm_package_") && !name.startsWith("npm_lifecycle_")),
);

function run(command: string, args: string[], cwd: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill(), 120_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

async function succeed(command: string, args: string[], cwd: string): Promise<Run> {
  const result = await run(command, args, cwd);
  assert.equal(result.code, 0, `${command} ${args.join(" ")} failed:\n${result.stdout}\n${result.stderr}`);
  return result;
}

/** What a user's TypeScript file does with the package: every kind of export, used as documented. */
const SAMPLE = `
import {
  bind, Caller, Client, closeFrame, CorruptedFrameError, Listener, NORMAL_CLOSURE, type Service,
  type UpgradeRequest, UpgradeError, WebSocketError, type WebSocketErrorCode, toAsyncAPI,
} from "ferry";

class Echo implements Service {
  onTextMessage(caller: Caller, text: string): string {
    caller.setAttribute("last", text);
    return text;
  }
  onJoin = bind("json", (_caller: Caller, message) => ({ joined: message }));
  onError(_caller: Caller, error: WebSocketError): void {
    const code: WebSocketErrorCode = error.code;
    if (error instanceof CorruptedFrameError) console.log(code, error.closeCode);
  }
}

export async function main(port: number): Promise<string> {
  const listener = new Listener(port, { host: "127.0.0.1", timeout: 10 });
  listener.attach("/echo", { config: { dispatcherKey: "type" }, upgrade: () => new Echo(), describe: Echo });
  listener.attach("/closed", {
    upgrade: (request: UpgradeRequest) => (request.query.has("ok") ? { onOpen: () => NORMAL_CLOSURE } : new UpgradeError("no", { status: 403 })),
  });
  await listener.start();
  const client = await Client.connect(\`ws://127.0.0.1:\${listener.port}/echo\`, { readTimeout: 10 });
  await client.writeTextMessage("hello");
  const text: string = await client.readTextMessage();
  await client.writeMessage(closeFrame(1000, "done"));
  try {
    await client.close();
  } catch (error) {
    if (!(error instanceof WebSocketError)) throw error;
    switch (error.code) {
      case "ERR_CONNECTION_CLOSURE":
        break;
      default:
        throw error;
    }
  }
  // @ts-expect-error the connection layer is not part of the public types
  void client.connection;
  // @ts-expect-error ferry makes Callers, users receive them
  void new Caller();
  console.log(toAsyncAPI(listener).asyncapi);
  await listener.gracefulStop();
  return text;
}
`;

/** Runs the built package: a listener and a client talking over loopback, and the package.json subpath. */
const RUNTIME = `
import { createRequire } from "node:module";
import { Client, Listener } from "ferry";

const manifest = createRequire(import.meta.url)("ferry/package.json");
const listener = new Listener(0, { host: "127.0.0.1" });
listener.attach("/echo", { upgrade: () => ({ onTextMessage: (_caller, text) => text.toUpperCase() }) });
await listener.start();
const client = await Client.connect(\`ws://127.0.0.1:\${listener.port}/echo\`);
await client.writeTextMessage("hello");
console.log(JSON.stringify({ name: manifest.name, reply: await client.readTextMessage() }));
await client.close();
await listener.gracefulStop();
`;

/** Names of internals that must not appear anywhere in the shipped declarations. */
const INTERNALS =
  /\b(Connection|ConnectionHandler|ConnectionOptions|onRead|nextReadBuffer|FrameParser|FrameWriter|OwnReads|withOwnReads|MessageCompression|PerMessageDeflate|ResolvedCompression|ResolvedServiceConfig|ResolvedClientConfiguration|Handshake|openingHandshake|ServiceSession|OutboundQueue)\b/;

/** Declared by the shipped files but not by the entry point: the base class of Caller and Client. */
const UNNAMED_SUPPORT_TYPES = new Set(["PeerHandle"]);

// One tarball, one install: every test below reads the same project.
describe("the packed package, installed into an empty project", { timeout: 240_000 }, () => {
  let scratch: string;
  let app: string;
  let packedFiles: string[];

  before(async () => {
    scratch = await mkdtemp(join(tmpdir(), "ferry-package-"));
    const packed = await succeed("npm", ["pack", "--json", "--pack-destination", scratch], root);
    const report = JSON.parse(packed.stdout.slice(packed.stdout.indexOf("["))) as { filename: string; files: { path: string }[] }[];
    packedFiles = report[0]!.files.map((file) => file.path);
    app = join(scratch, "app");
    await mkdir(app);
    await writeFile(join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }));
    await succeed("npm", ["install", join(scratch, report[0]!.filename), "--prefer-offline", "--no-audit", "--no-fund"], app);
  });
  after(() => rm(scratch, { recursive: true, force: true }));

  test("ships the built code, its declarations and the licence; no sources, tests or source maps", () => {
    for (const file of ["LICENSE", "README.md", "package.json", "dist/index.js", "dist/index.d.ts", "dist/cli/main.js"]) {
      assert.ok(packedFiles.includes(file), `${file} is missing from ${packedFiles.join(", ")}`);
    }
    const strays = packedFiles.filter((file) => file.endsWith(".map") || (file.endsWith(".ts") && !file.endsWith(".d.ts")) || !/^(dist\/|LICENSE$|README\.md$|package\.json$)/.test(file));
    assert.deepEqual(strays, []);
  });

  test("every export has types, import and default conditions, types first; bufferutil is an optional peer", async () => {
    const manifest = JSON.parse(await readFile(join(app, "node_modules/ferry/package.json"), "utf8")) as {
      exports: Record<string, unknown>;
      peerDependencies?: Record<string, string>;
      peerDependenciesMeta?: Record<string, { optional?: boolean }>;
      dependencies?: Record<string, string>;
    };
    assert.equal(manifest.exports["./package.json"], "./package.json");
    for (const [subpath, target] of Object.entries(manifest.exports)) {
      if (subpath === "./package.json") continue;
      assert.deepEqual(Object.keys(target as object), ["types", "import", "default"], `exports["${subpath}"]`);
    }
    assert.ok(manifest.peerDependencies?.["bufferutil"] !== undefined && manifest.peerDependenciesMeta?.["bufferutil"]?.optional === true);
    assert.equal(manifest.dependencies?.["bufferutil"], undefined);
  });

  test("imports and runs: a listener and a client talk, and ferry/package.json resolves", async () => {
    await writeFile(join(app, "runtime.mjs"), RUNTIME);
    const result = await succeed(process.execPath, ["runtime.mjs"], app);
    assert.deepEqual(JSON.parse(result.stdout), { name: "ferry", reply: "HELLO" });
  });

  for (const [resolution, module] of [["NodeNext", "NodeNext"], ["Bundler", "ESNext"]] as const) {
    test(`type-checks a sample under moduleResolution ${resolution}, skipLibCheck false`, async () => {
      const directory = join(app, resolution);
      await mkdir(directory);
      await writeFile(join(directory, "sample.ts"), SAMPLE);
      const compilerOptions = {
        target: "ES2022",
        lib: ["ES2022"],
        module,
        moduleResolution: resolution,
        strict: true,
        exactOptionalPropertyTypes: true,
        noUncheckedIndexedAccess: true,
        skipLibCheck: false,
        noEmit: true,
        typeRoots: [join(root, "node_modules/@types")],
        types: ["node"],
      };
      await writeFile(join(directory, "tsconfig.json"), JSON.stringify({ compilerOptions, files: ["sample.ts"] }));
      await succeed(process.execPath, [join(root, "node_modules/typescript/bin/tsc"), "-p", directory], app);
    });
  }

  test("the declarations show the public API only, and import .js files", async () => {
    const dist = join(app, "node_modules/ferry/dist");
    const files = (await readdir(dist, { recursive: true, encoding: "utf8" })).filter((file) => file.endsWith(".d.ts"));
    const index = await readFile(join(dist, "index.d.ts"), "utf8");
    const exported = new Set<string>();
    for (const [, names] of index.matchAll(/export (?:type )?\{([^}]*)\}/g)) {
      for (const name of names!.split(",")) if (name.trim() !== "") exported.add(name.trim().split(/\s+as\s+/).pop()!);
    }
    assert.ok(exported.has("Listener") && exported.has("Client") && exported.has("WebSocketError"));
    for (const file of files) {
      const text = await readFile(join(dist, file), "utf8");
      assert.doesNotMatch(text, INTERNALS, `${file} names an internal`);
      assert.doesNotMatch(text, /["']\.{1,2}\/[^"']*\.ts["']/, `${file} imports a .ts path`);
      for (const [, name] of text.matchAll(/^export (?:declare )?(?:abstract )?(?:class|interface|type|function|const|enum) (\w+)/gm)) {
        assert.ok(
          exported.has(name!) || UNNAMED_SUPPORT_TYPES.has(name!),
          `${file} exports ${name}, which the package does not: mark it /** @internal */ or export it from src/index.ts`,
        );
      }
    }
  });

  test("the ferry bin answers --help", async () => {
    const result = await succeed(join(app, "node_modules/.bin/ferry"), ["--help"], app);
    assert.match(result.stdout, /Usage: ferry serve/);
  });
});
