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
 * thresholds raised, 0.02 faults and 16k to 20k.
 *
 * glibc raises both thresholds by itself when a block it had mapped is freed: the mmap
 * threshold to that block's size, the trim threshold to twice that, for blocks up to 32 MiB
 * (its reading is that the program works with blocks that big, and should reuse their
 * memory). Ferry therefore allocates one block just under that bound, once, and drops it. It
 * is never written, so none of its pages become resident, and the next scavenge frees it.
 * The effect is that of `MALLOC_MMAP_THRESHOLD_=32 MiB MALLOC_TRIM_THRESHOLD_=64 MiB`: up to
 * 64 MiB of freed heap stays with the process for reuse. A process that sets either variable
 * keeps its own values (glibc stops adjusting them), and other allocators (musl, jemalloc)
 * are not affected.
 */
const BLOCK_BYTES = 32 * 1024 * 1024 - 64 * 1024;

let raised = false;

/** Once per process: lets glibc see one large block come and go (see above). */
export function raiseMallocThresholds(): void {
  if (raised) return;
  raised = true;
  Buffer.allocUnsafeSlow(BLOCK_BYTES);
}
