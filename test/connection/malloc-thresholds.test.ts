import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { mapsShowGlibc } from "../../src/connection/malloc-thresholds.ts";

const run = promisify(execFile);
const FERRY = fileURLToPath(new URL("../../src/index.ts", import.meta.url));
const BLOCK_PAGES = (8 * 1024 * 1024) / 4096;

/**
 * A fresh process opens one ferry connection (Listener and Client, with the configuration
 * given as JSON), then allocates, fills and frees an 8 MiB block twice, and prints the page
 * faults of the second fill. With glibc's defaults the second block is a new mapping again
 * (the first one freed only raised the mmap threshold to its own size): every page faults
 * in. With the thresholds raised, it reuses the heap the first one left: almost none do.
 * Page faults per message under load, which depend on the machine and the Node version,
 * are reported by bench/malloc-tuning.ts.
 */
const PROCESS = `
import { readFileSync } from "node:fs";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { Client, Listener } from ${JSON.stringify(FERRY)};
setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc");
const config = JSON.parse(process.argv[1]);
const faults = () => Number(readFileSync("/proc/self/stat", "utf8").split(") ")[1].split(" ")[7]);
const listener = new Listener(0, { host: "127.0.0.1", ...config });
listener.attach("/", { upgrade: () => ({}) });
await listener.start();
const client = await Client.connect("ws://127.0.0.1:" + listener.port + "/", config);
await client.close(1000, "", 5);
await listener.immediateStop();
// In a function of its own: a register of this async frame would keep the block alive.
const fill = () => void Buffer.allocUnsafeSlow(8 * 1024 * 1024).fill(1);
const counts = [];
for (let i = 0; i < 2; i++) {
  gc();
  gc();
  await new Promise((resolve) => setTimeout(resolve, 20));
  const before = faults();
  fill();
  counts.push(faults() - before);
}
console.log(counts[1]);
`;

async function secondFillFaults(config: object, env: Record<string, string> = {}): Promise<number> {
  const environment: NodeJS.ProcessEnv = { ...process.env, ...env };
  for (const name of Object.keys(environment)) {
    if ((name.startsWith("MALLOC_") || name === "FERRY_MALLOC_TUNING" || name === "GLIBC_TUNABLES") && !(name in env)) delete environment[name];
  }
  const { stdout } = await run(process.execPath, ["--import", "tsx", "--input-type=module", "-e", PROCESS, JSON.stringify(config)], {
    env: environment,
    timeout: 30_000,
  });
  return Number(stdout.trim());
}

const glibc =
  process.platform === "linux" &&
  (process.report.getReport() as { header: { glibcVersionRuntime?: string } }).header.glibcVersionRuntime !== undefined;

describe("raiseMallocThresholds", { skip: glibc ? false : "glibc's malloc only" }, () => {
  it("after a ferry connection, freed memory is reused instead of faulting in again", async () => {
    const faults = await secondFillFaults({});
    assert.ok(faults < BLOCK_PAGES / 10, `${faults} page faults refilling an 8 MiB block (${BLOCK_PAGES} pages)`);
  });

  it("mallocTuning: false on the Listener and the Client leaves glibc's defaults", async () => {
    const faults = await secondFillFaults({ mallocTuning: false });
    assert.ok(faults > BLOCK_PAGES / 2, `${faults} page faults refilling an 8 MiB block (${BLOCK_PAGES} pages)`);
  });

  it("FERRY_MALLOC_TUNING=0 leaves glibc's defaults", async () => {
    const faults = await secondFillFaults({}, { FERRY_MALLOC_TUNING: "0" });
    assert.ok(faults > BLOCK_PAGES / 2, `${faults} page faults refilling an 8 MiB block (${BLOCK_PAGES} pages)`);
  });
});

describe("which C library", () => {
  const line = (path: string): string => `7f0c2a400000-7f0c2a428000 r--p 00000000 08:01 1835 ${path}\n`;

  it("finds glibc as 2.34 and later map it, as older ones do (libc-2.31.so), and after an upgrade replaced it on disk", () => {
    for (const path of ["/usr/lib/x86_64-linux-gnu/libc.so.6", "/lib/x86_64-linux-gnu/libc-2.31.so", "/lib64/libc-2.17.so", "/usr/lib/x86_64-linux-gnu/libc.so.6 (deleted)", "/lib/x86_64-linux-gnu/libc-2.31.so (deleted)"]) {
      assert.equal(mapsShowGlibc(line("/usr/lib/libz.so.1") + line(path) + line("[heap]")), true, path);
    }
  });

  it("does not take musl's library, or another library named libc-something, for glibc", () => {
    for (const path of ["/lib/ld-musl-x86_64.so.1", "/usr/lib/libc.so", "/lib/libc.musl-x86_64.so.1", "/usr/lib/libcrypto.so.3", "/usr/lib/libc++.so.1"]) {
      assert.equal(mapsShowGlibc(line(path)), false, path);
    }
  });
});

describe("raiseMallocThresholds and GLIBC_TUNABLES", { skip: glibc ? false : "glibc's malloc only" }, () => {
  for (const tunable of ["glibc.malloc.top_pad=65536", "glibc.malloc.mmap_max=65536", "glibc.malloc.trim_threshold=131072"]) {
    it(`${tunable} (which stops glibc adjusting its thresholds) leaves them alone, as NODE_DEBUG=ferry says`, async () => {
      const environment: NodeJS.ProcessEnv = { ...process.env, GLIBC_TUNABLES: tunable, NODE_DEBUG: "ferry" };
      for (const name of Object.keys(environment)) if (name.startsWith("MALLOC_") || name === "FERRY_MALLOC_TUNING") delete environment[name];
      const { stderr } = await run(process.execPath, ["--import", "tsx", "--input-type=module", "-e", PROCESS, "{}"], { env: environment, timeout: 30_000 });
      assert.match(stderr, /malloc thresholds left alone: GLIBC_TUNABLES is set/);
    });
  }
});
