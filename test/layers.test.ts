import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

const SRC = join(import.meta.dirname, "..", "src");

/** Lower layers never import upper ones, types included (protocol < connection < binding < peer < server, client). */
const FORBIDDEN: Record<string, string[]> = {
  protocol: ["connection", "binding", "peer", "server", "client"],
  connection: ["binding", "peer", "server", "client"],
  binding: ["connection", "peer", "server", "client"],
  peer: ["server", "client"],
  auth: ["server", "client", "peer", "cli", "asyncapi", "tls"],
};

test("no layer imports one above it", () => {
  const found: string[] = [];
  for (const [layer, above] of Object.entries(FORBIDDEN)) {
    for (const file of readdirSync(join(SRC, layer))) {
      const text = readFileSync(join(SRC, layer, file), "utf8");
      for (const match of text.matchAll(/from\s+"\.\.\/([a-z-]+)\//g)) {
        if (above.includes(match[1]!)) found.push(`src/${layer}/${file} imports from src/${match[1]}/`);
      }
    }
  }
  assert.deepEqual(found, []);
});
