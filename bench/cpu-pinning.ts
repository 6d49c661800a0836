import { execFileSync } from "node:child_process";
import { availableParallelism } from "node:os";

/**
 * On a small machine the generator and the server fight over cores; pinning them to
 * different ones keeps each server's numbers from depending on where the scheduler put it.
 */
export interface Pinning {
  generatorCore: number;
  serverCore: number;
}

function hasTaskset(): boolean {
  try {
    execFileSync("taskset", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** Pins this process to core 0 and returns where servers go, or undefined if it cannot. */
export function pinGenerator(): Pinning | undefined {
  if (process.platform !== "linux" || availableParallelism() < 2 || !hasTaskset()) return undefined;
  try {
    // -a: every thread, including libuv's and V8's, not just the main one.
    execFileSync("taskset", ["-a", "-cp", "0", String(process.pid)], { stdio: "ignore" });
  } catch {
    return undefined;
  }
  return { generatorCore: 0, serverCore: 1 };
}

/** The command prefix that starts a child on the server core. */
export function serverCommand(pinning: Pinning | undefined, command: string[]): string[] {
  return pinning === undefined ? command : ["taskset", "-c", String(pinning.serverCore), ...command];
}
