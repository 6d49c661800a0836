/**
 * Environment for the server processes. glibc's malloc hands memory back to the kernel
 * whenever more than its trim threshold lies free at the top of the heap, and its defaults
 * move with the process's history (the threshold follows the largest block mapped and then
 * freed so far). A process that echoes large messages frees megabytes at every garbage
 * collection, so depending on that history it either reuses warm pages or faults every page
 * of every message back in. On a virtual machine a fault can cost tens of microseconds: the
 * 64 KiB and 1 MiB cells then measured which way each server process happened to go (up to
 * 5× apart between two runs of the same server), not the WebSocket code. Fixed thresholds,
 * the same for every server, take the allocator out of the comparison. ferry raises glibc's
 * thresholds itself (src/connection/malloc-thresholds.ts), so with --default-malloc only ws
 * and raw run on glibc's defaults.
 */
const MIB = 1024 * 1024;

export const TUNED_ALLOCATOR: Readonly<Record<string, string>> = {
  MALLOC_MMAP_THRESHOLD_: String(32 * MIB),
  MALLOC_TRIM_THRESHOLD_: String(64 * MIB),
};

export function describeAllocator(tuned: boolean): string {
  return tuned
    ? "glibc malloc with MALLOC_MMAP_THRESHOLD_=32 MiB and MALLOC_TRIM_THRESHOLD_=64 MiB for every server"
    : "glibc malloc with its defaults (--default-malloc)";
}
