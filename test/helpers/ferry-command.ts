import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

/** What a run of the `ferry` command left behind. */
export interface FerryRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

const root = fileURLToPath(new URL("../../", import.meta.url));

/**
 * Runs `ferry …` from source through tsx, as `npm start` and the tests do, with `input`
 * piped to its stdin (none: stdin closed at once); killed after 30 s.
 */
export function runFerry(args: readonly string[], input?: string): Promise<FerryRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args], {
      cwd: root,
      env: { ...process.env, FERRY_LOG: "silent" },
      stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill(), 30_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    if (input !== undefined) child.stdin!.end(input);
  });
}
