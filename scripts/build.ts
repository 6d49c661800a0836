/**
 * Builds the package: compiles src/ into a fresh dist/, then makes the declarations what a
 * user's compiler reads. tsc keeps the `.ts` extensions of relative imports in `.d.ts` files
 * (microsoft/TypeScript#61037); older compilers and editors want the `.js` the code imports.
 * Only declarations reachable from a `types` entry of package.json ship: the others describe
 * internals, which users can neither import (`exports`) nor should see.
 */
import { spawnSync } from "node:child_process";
import { readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative, resolve } from "node:path";

const root = resolve(import.meta.dirname, "..");
const dist = join(root, "dist");

/** Relative specifiers of `.ts` or `.js` files in `from "…"`, `import("…")` and `import "…"`. */
const SPECIFIER = /(\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(["'])(\.{1,2}\/[^"']*?)\.[jt]s\2/g;

function compile(): void {
  rmSync(dist, { recursive: true, force: true });
  const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
  const run = spawnSync(process.execPath, [tsc, "-p", join(root, "tsconfig.build.json")], { stdio: "inherit" });
  if (run.status !== 0) process.exit(run.status ?? 1);
}

function declarationFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .filter((name) => name.endsWith(".d.ts"))
    .map((name) => join(dir, name));
}

/** The `types` targets of every `exports` entry. */
function typeEntries(): string[] {
  const manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { exports: Record<string, unknown> };
  const entries: string[] = [];
  for (const target of Object.values(manifest.exports)) {
    if (typeof target === "object" && target !== null && "types" in target && typeof target.types === "string") {
      entries.push(resolve(root, target.types));
    }
  }
  return entries;
}

function finishDeclarations(): void {
  const files = declarationFiles(dist);
  const imports = new Map<string, string[]>();
  for (const file of files) {
    const targets: string[] = [];
    const text = readFileSync(file, "utf8").replace(SPECIFIER, (_match, lead: string, quote: string, path: string) => {
      targets.push(resolve(dirname(file), `${path}.d.ts`));
      return `${lead}${quote}${path}.js${quote}`;
    });
    writeFileSync(file, text);
    imports.set(file, targets);
  }
  const reachable = new Set<string>();
  const pending = typeEntries();
  for (let file = pending.pop(); file !== undefined; file = pending.pop()) {
    if (reachable.has(file)) continue;
    const targets = imports.get(file);
    if (targets === undefined) throw new Error(`${relative(root, file)} is imported but was not emitted`);
    reachable.add(file);
    pending.push(...targets);
  }
  for (const file of files) if (!reachable.has(file)) rmSync(file);
}

compile();
finishDeclarations();
