import { readFileSync } from "node:fs";
import { cpus, release } from "node:os";

export interface SystemInfo {
  date: string;
  node: string;
  cpuModel: string;
  cores: number;
  kernel: string;
}

function cpuModel(): string {
  try {
    const match = /^model name\s*:\s*(.+)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"));
    if (match !== null) return match[1]!.trim();
  } catch {
    // Not Linux: fall through to what Node reports.
  }
  return cpus()[0]?.model ?? "unknown";
}

export function systemInfo(): SystemInfo {
  return {
    date: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
    node: process.version,
    cpuModel: cpuModel(),
    // Not availableParallelism(): after pinning, that is the affinity mask, i.e. 1.
    cores: cpus().length,
    kernel: release(),
  };
}
