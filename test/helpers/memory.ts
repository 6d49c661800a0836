import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

/** Heap and off-heap bytes after full collections. */
export function memoryInUse(): number {
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as () => void;
  gc();
  gc();
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.external;
}
