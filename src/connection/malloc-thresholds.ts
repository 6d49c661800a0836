import { readFileSync } from "node:fs";
import { debuglog } from "node:util";

/**
 * Keeping glibc's malloc from handing message memory back to the kernel after every garbage
 * collection.
 *
 * glibc gives memory back whenever more than its trim threshold (128 KiB at start) lies free
 * at the top of the heap. A process that receives 64 KiB or larger messages frees megabytes
 * of them at each collection, so with that default the heap shrinks and grows all the time
 * and every page of the next message faults back in. On the 2-core VM of BENCHMARKS.md, a
 * ferry Client reading 64 KiB messages from a `ws` server (16 connections, 4 in flight) took
 * 5 to 18 page faults per message and managed 2.5k to 6k messages a second; with the
 * thresholds raised, 0.02 faults and 16k to 20k (bench/malloc-tuning.ts measures it anew).
 *
 * glibc raises both thresholds by itself when a block it had mapped is freed: the mmap
 * threshold to that block's size, the trim threshold to twice that, for blocks up to 32 MiB
 * (its reading is that the program works with blocks that big, and should reuse their
 * memory). Ferry therefore allocates one block just under that bound, once, and drops it. It
 * is never written, so none of its pages become resident, and the next scavenge frees it.
 * The effect is that of `MALLOC_MMAP_THRESHOLD_=32 MiB MALLOC_TRIM_THRESHOLD_=64 MiB`: up to
 * 64 MiB of freed heap stays with the process for reuse, and blocks up to 32 MiB come from
 * the heap instead of mappings of their own.
 *
 * It is done only where it can do what is meant: where glibc is the C library (musl's malloc
 * has no such thresholds; a preloaded jemalloc is not affected), and only when the
 * environment sets none of glibc's malloc thresholds (with any of them set, glibc stops
 * adjusting, and the process keeps its own values). `mallocTuning: false` in a listener's or client's configuration, or
 * FERRY_MALLOC_TUNING=0 in the environment, leaves the allocator as it is.
 */
const BLOCK_BYTES = 32 * 1024 * 1024 - 64 * 1024;

/** Variables with which the process has chosen its own thresholds. */
const OWN_SETTINGS = ["MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_MAX_"];

const debug = debuglog("ferry");
let settled = false;

/**
 * @internal Whether /proc/self/maps (`maps`) shows glibc's C library: `libc.so.6`, or
 * `libc-2.31.so` before glibc 2.34, either one marked ` (deleted)` once upgraded on disk. Not
 * musl, whose `libc.so` (or `libc.musl-….so.1`) has neither form. `process.report` would say
 * so too, but may look up host names, and its setting to avoid that is the process's own.
 */
export function mapsShowGlibc(maps: string): boolean {
  return /\/libc(?:\.so\.6|-\d+(?:\.\d+)+\.so)(?: \(deleted\))?$/m.test(maps);
}

function glibc(): boolean {
  if (process.platform !== "linux") return false;
  try {
    return mapsShowGlibc(readFileSync("/proc/self/maps", "latin1"));
  } catch {
    return false;
  }
}

/** The tunables that, like OWN_SETTINGS, stop glibc from adjusting its thresholds. */
const OWN_TUNABLES = /glibc\.malloc\.(?:mmap_threshold|trim_threshold|top_pad|mmap_max)=/;

function ownSettings(): string | undefined {
  const set = OWN_SETTINGS.find((name) => process.env[name] !== undefined);
  if (set !== undefined) return set;
  return OWN_TUNABLES.test(process.env["GLIBC_TUNABLES"] ?? "") ? "GLIBC_TUNABLES" : undefined;
}

/**
 * Once per process, when a connection opens: lets glibc see one large block come and go (see
 * above). `option`: the configuration's `mallocTuning`; a connection whose configuration says
 * false leaves it to a later one that allows it. FERRY_MALLOC_TUNING=0 overrides every option.
 */
export function raiseMallocThresholds(option: boolean | undefined): void {
  if (settled || option === false) return;
  settled = true;
  if (process.env["FERRY_MALLOC_TUNING"] === "0") {
    debug("malloc thresholds left alone: FERRY_MALLOC_TUNING=0");
    return;
  }
  const own = ownSettings();
  if (own !== undefined || !glibc()) {
    debug(`malloc thresholds left alone: ${own === undefined ? "not glibc" : `${own} is set`}`);
    return;
  }
  Buffer.allocUnsafeSlow(BLOCK_BYTES);
}
