import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import type { AddressInfo } from "node:net";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { WebSocketServer } from "ws";

const run = promisify(execFile);
const FERRY = fileURLToPath(new URL("../../src/index.ts", import.meta.url));

/**
 * A ferry Client in a fresh process keeping 4 messages of 64 KiB in flight on each of 16
 * connections; prints the page faults per message echoed over two seconds. Without
 * raiseMallocThresholds this took 6 to 18 faults per message on the development machine.
 */
const CLIENT = `
import { readFileSync } from "node:fs";
import { Client } from ${JSON.stringify(FERRY)};
const faults = () => Number(readFileSync("/proc/self/stat", "utf8").split(") ")[1].split(" ")[7]);
const payload = Buffer.alloc(64 * 1024, 0x61);
const clients = await Promise.all(Array.from({ length: 16 }, () => Client.connect(process.argv[1])));
let messages = 0;
let stop = false;
const loops = clients.map(async (client) => {
  for (let i = 0; i < 4; i++) void client.writeBinaryMessage(payload);
  while (!stop) {
    await client.readBinaryMessage();
    messages++;
    if (!stop) void client.writeBinaryMessage(payload);
  }
});
await new Promise((resolve) => setTimeout(resolve, 1000));
const [firstFaults, firstMessages] = [faults(), messages];
await new Promise((resolve) => setTimeout(resolve, 2000));
console.log((faults() - firstFaults) / (messages - firstMessages));
stop = true;
process.exit(0);
`;

const glibc =
  process.platform === "linux" &&
  (process.report.getReport() as { header: { glibcVersionRuntime?: string } }).header.glibcVersionRuntime !== undefined;

describe("raiseMallocThresholds", { skip: glibc ? false : "glibc's malloc only" }, () => {
  it("keeps a process receiving 64 KiB messages from faulting their pages in again after each collection", async () => {
    const server = new WebSocketServer({ host: "127.0.0.1", port: 0, perMessageDeflate: false });
    server.on("connection", (socket) => socket.on("message", (data, isBinary) => socket.send(data, { binary: isBinary })));
    await new Promise((resolve) => server.once("listening", resolve));
    try {
      const environment = { ...process.env };
      delete environment.MALLOC_MMAP_THRESHOLD_;
      delete environment.MALLOC_TRIM_THRESHOLD_;
      const { port } = server.address() as AddressInfo;
      const { stdout } = await run(
        process.execPath,
        ["--import", "tsx", "--input-type=module", "-e", CLIENT, `ws://127.0.0.1:${port}/`],
        { env: environment },
      );
      const faultsPerMessage = Number(stdout.trim());
      // A 64 KiB message spans 16 pages; the rest of the process faults now and then.
      assert.ok(faultsPerMessage < 1, `${faultsPerMessage} page faults per message`);
    } finally {
      for (const client of server.clients) client.terminate();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
