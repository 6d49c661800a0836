import { readFileSync } from "node:fs";

/** Linux reports /proc/stat in USER_HZ ticks, which is 100 on every mainstream platform. */
const TICKS_PER_SECOND = 100;

/**
 * CPU seconds spent by every process on the machine in user and system mode (interrupt
 * and softirq time left out: loopback traffic puts the bench's own packets there).
 * Undefined where /proc/stat does not exist.
 */
export function machineCpuSeconds(): number | undefined {
  try {
    const line = readFileSync("/proc/stat", "latin1").split("\n", 1)[0]!;
    const [, user, nice, system] = line.trim().split(/\s+/).map(Number);
    if (user === undefined || nice === undefined || system === undefined) return undefined;
    return (user + nice + system) / TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}
