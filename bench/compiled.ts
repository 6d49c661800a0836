import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

/**
 * Every process the bench measures runs compiled JavaScript under plain `node`, as a
 * deployment does, not under tsx. tsx's loader (its own modules, source maps, a hooks
 * thread) makes each heap larger and changes V8's garbage-collection heuristics: after a
 * few thousand connections had come and gone, a ferry echo server under tsx spent half its
 * time in back-to-back full collections with one connection echoing 64 KiB messages, the
 * same build under plain node almost none. `npm run bench` compiles to .bench-build/ first
 * and runs from there; started
 * any other way (`npx tsx bench/run.ts`), the bench compiles before its first process.
 */
const OUT_DIR = ".bench-build";
const HERE = new URL("..", import.meta.url);
const RUNNING_COMPILED = fileURLToPath(HERE).endsWith(`/${OUT_DIR}/`);
/** The repository's root, whether this file runs from bench/ or from .bench-build/bench/. */
const REPO_ROOT = RUNNING_COMPILED ? new URL("..", HERE) : HERE;

let compiled = RUNNING_COMPILED;

function compileForBench(): void {
  if (compiled) return;
  const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
  execFileSync(process.execPath, [tsc, "-p", "tsconfig.bench.json"], { cwd: fileURLToPath(REPO_ROOT), stdio: "inherit" });
  compiled = true;
}

/** The compiled file for a script of this repository (its `.ts` path from the root). */
export function compiledScript(relativeTsPath: string): string {
  compileForBench();
  return fileURLToPath(new URL(`${OUT_DIR}/${relativeTsPath.replace(/\.ts$/, ".js")}`, REPO_ROOT));
}

/** A path in the repository, from its root. */
export function repoPath(relative: string): string {
  return fileURLToPath(new URL(relative, REPO_ROOT));
}
