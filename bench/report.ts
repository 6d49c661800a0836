import { describeAllocator } from "./allocator.ts";
import type { Pinning } from "./cpu-pinning.ts";
import { type EchoCell, IDLE_SETTLE_MS, type IdleMemory } from "./measure.ts";
import { formatSize, type BenchOptions } from "./options.ts";
import { SERVER_NAMES, type ServerName } from "./server-process.ts";
import type { SystemInfo } from "./system-info.ts";
import type { RateMeasurement } from "./measurement-window.ts";

/** A value (the median of the rounds that worked, with why the others failed) or an error. */
export type Outcome<T> = { value: T; failedRounds?: string[] } | { error: string };
export type PerServer<T> = Partial<Record<ServerName, Outcome<T>>>;

export interface CellResult {
  cell: EchoCell;
  results: PerServer<RateMeasurement>;
  skipped?: boolean;
}

export interface BenchResults {
  system: SystemInfo;
  options: BenchOptions;
  pinning: Pinning | undefined;
  /** Servers that never started, with the reason. */
  unavailable: Partial<Record<ServerName, string>>;
  memory: PerServer<IdleMemory>;
  handshakes: PerServer<RateMeasurement>;
  cells: CellResult[];
  elapsedSeconds: number;
}

type Format = "text" | "markdown";
type Row = string[];

/** Above this share of a core used by other processes, a measurement is suspect. */
const BUSY_MACHINE_PERCENT = 15;
/** Above this share of the window, the uncertainty of its marks is worth a warning. */
const LAGGING_MARKS = 0.1;

/** The line of an error (or a child's output) that says what went wrong, not the stack around it. */
export function summarizeError(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  const lines = text.split("\n").map((line) => line.trim()).filter(Boolean);
  return lines.find((line) => /^\w*Error\b/.test(line)) ?? lines[0] ?? "unknown error";
}

/** Footnotes: each failure once, however many columns show it. */
class Notes {
  readonly errors: string[] = [];
  readonly warnings: string[] = [];
  private readonly refs = new Map<string, string>();

  ref(where: string, error: string): string {
    let ref = this.refs.get(where);
    if (ref === undefined) {
      this.errors.push(`${where}: ${error}`);
      ref = `error[${this.errors.length}]`;
      this.refs.set(where, ref);
    }
    return ref;
  }

  /** Some rounds failed, but others gave the value shown. */
  partial(where: string, errors: string[]): void {
    const key = `partial ${where}`;
    if (this.refs.has(key)) return;
    this.refs.set(key, "");
    const rounds = errors.length === 1 ? "1 round" : `${errors.length} rounds`;
    this.warnings.push(`${where}: ${rounds} failed (${errors.join("; ")}); the others are shown`);
  }

  render(format: Format): string {
    const lines = [...this.warnings, ...this.errors.map((line, i) => `error[${i + 1}] ${line}`)];
    return lines.map((line) => (format === "markdown" ? `- ${line}` : `  ${line}`)).join("\n");
  }
}

function rate(value: number): string {
  if (value >= 1e6) return `${(value / 1e6).toFixed(2)}M`;
  if (value >= 1e4) return `${(value / 1e3).toFixed(1)}k`;
  if (value >= 1e3) return `${(value / 1e3).toFixed(2)}k`;
  return value.toFixed(value >= 100 ? 0 : 1);
}

function bytes(value: number): string {
  const sign = value < 0 ? "-" : "";
  const size = Math.abs(value);
  if (size >= 1024 * 1024) return `${sign}${(size / (1024 * 1024)).toFixed(1)} MiB`;
  if (size >= 1024) return `${sign}${(size / 1024).toFixed(1)} KiB`;
  return `${sign}${size.toFixed(0)} B`;
}

function ratio(a: number | undefined, b: number | undefined): string {
  if (a === undefined || b === undefined || b === 0) return "–";
  return `${(a / b).toFixed(2)}×`;
}

function table(format: Format, headers: Row, rows: Row[], leftColumns: number): string {
  if (format === "markdown") {
    const align = headers.map((_, i) => (i < leftColumns ? ":--" : "--:"));
    return [headers, align, ...rows].map((row) => `| ${row.join(" | ")} |`).join("\n");
  }
  const widths = headers.map((header, i) =>
    Math.max(header.length, ...rows.map((row) => row[i]!.length)),
  );
  const pad = (cell: string, i: number): string =>
    i < leftColumns ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!);
  const line = (row: Row): string => row.map(pad).join("  ");
  const rule = widths.map((width) => "-".repeat(width)).join("  ");
  return [line(headers), rule, ...rows.map(line)].join("\n");
}

function heading(format: Format, title: string): string {
  return format === "markdown" ? `### ${title}` : `== ${title}`;
}

/**
 * One metric for ferry, ws and raw: the cells to print (a value, an error reference, or
 * n/a for a server not in the run) and the ratios of ferry to the other two.
 */
function compare<T>(
  results: BenchResults,
  outcomes: PerServer<T>,
  where: string,
  notes: Notes,
  pick: (value: T) => number,
  show: (value: number) => string,
): Row {
  const values: Partial<Record<ServerName, number>> = {};
  const cells = SERVER_NAMES.map((name) => {
    const outcome = outcomes[name];
    if (outcome === undefined) {
      const ran = results.options.servers.includes(name) && results.unavailable[name] === undefined;
      return ran ? "–" : "n/a";
    }
    if ("error" in outcome) return notes.ref(`${name}, ${where}`, outcome.error);
    if (outcome.failedRounds !== undefined) notes.partial(`${name}, ${where}`, outcome.failedRounds);
    values[name] = pick(outcome.value);
    return show(values[name]);
  });
  return [...cells, ratio(values.ferry, values.ws), ratio(values.ferry, values.raw)];
}

/** The most CPU other processes used during any server's run, or -1 when unknown. */
function busiest(outcomes: PerServer<RateMeasurement>): number {
  return Math.max(
    -1,
    ...SERVER_NAMES.map((name) => {
      const outcome = outcomes[name];
      return outcome !== undefined && "value" in outcome ? (outcome.value.otherCpu ?? -1) : -1;
    }),
  );
}

function cpuShares(outcome: Outcome<RateMeasurement> | undefined): string {
  if (outcome === undefined || "error" in outcome) return "–";
  return `${outcome.value.serverCpu.toFixed(0)}% / ${outcome.value.generatorCpu.toFixed(0)}%`;
}

function matrixSection(results: BenchResults, format: Format, notes: Notes): string[] {
  if (results.cells.length === 0) return [];
  const { frameKind, maxOutstandingBytes } = results.options;
  const cellHeaders = ["conns", `size (${frameKind})`, "in flight"];
  const main: Row[] = [];
  const detail: Row[] = [];
  const skipped: string[] = [];
  const busy: string[] = [];
  const lagging: string[] = [];
  for (const { cell, results: outcomes, skipped: isSkipped } of results.cells) {
    const label = [String(cell.connections), formatSize(cell.messageSize), String(cell.inFlight)];
    const where = label.join(" × ");
    if (isSkipped === true) {
      skipped.push(where);
      main.push([...label, "skipped", "skipped", "skipped", ...Array<string>(7).fill("–")]);
      detail.push([...label, ...Array<string>(7).fill("–")]);
      continue;
    }
    const speed = compare(results, outcomes, where, notes, (m) => m.perSecond, rate);
    const efficiency = compare(results, outcomes, where, notes, (m) => m.perServerCpuSecond, rate);
    main.push([...label, ...speed, ...efficiency]);
    const payload = compare(
      results,
      outcomes,
      where,
      notes,
      (m) => m.bytesPerSecond ?? 0,
      (v) => `${bytes(v)}/s`,
    );
    const others = busiest(outcomes);
    if (others > BUSY_MACHINE_PERCENT) busy.push(where);
    const lags = SERVER_NAMES.flatMap((name) => {
      const outcome = outcomes[name];
      if (outcome === undefined || "error" in outcome) return [];
      const { markLagSeconds, windowSeconds } = outcome.value;
      return markLagSeconds > LAGGING_MARKS * windowSeconds ? [name] : [];
    });
    if (lags.length > 0) lagging.push(`${where} (${lags.join(", ")})`);
    detail.push([
      ...label,
      ...SERVER_NAMES.map((name) => cpuShares(outcomes[name])),
      ...payload.slice(0, SERVER_NAMES.length),
      others < 0 ? "–" : `${others.toFixed(0)}%`,
    ]);
  }
  if (skipped.length > 0) {
    notes.warnings.push(
      `skipped ${skipped.join(", ")}: more than ${bytes(maxOutstandingBytes)} outstanding ` +
        "(connections × in flight × size), which the servers can only buffer, not turn over " +
        "within a cell; --max-outstanding raises the limit",
    );
  }
  if (busy.length > 0) {
    notes.warnings.push(
      `other processes used over ${BUSY_MACHINE_PERCENT}% of a core during ${busy.join(", ")}; ` +
        "those numbers are less trustworthy",
    );
  }
  if (lagging.length > 0) {
    notes.warnings.push(
      `event loops were so busy that a window mark lagged by over ${LAGGING_MARKS * 100}% of the ` +
        `window (stretched up to 8 s) in ${lagging.join(", ")}: ±that much`,
    );
  }
  const rates = ["ferry", "ws", "raw", "ferry/ws", "ferry/raw"];
  return [
    heading(format, `Echo: messages per second, and per server CPU-second (${frameKind} frames)`),
    table(
      format,
      [...cellHeaders, ...rates.map((h) => `${h} msg/s`), ...rates.map((h) => `${h} msg/CPU-s`)],
      main,
      3,
    ),
    heading(format, "Echo details"),
    "CPU: server / generator, in % of one core. Payload: bytes per second, one way. " +
      "Others: the most CPU other processes on the machine used during any of the cell's runs.",
    table(
      format,
      [
        ...cellHeaders,
        ...SERVER_NAMES.map((name) => `${name} CPU`),
        ...SERVER_NAMES.map((name) => `${name} payload`),
        "others",
      ],
      detail,
      3,
    ),
  ];
}

function connectionSection(results: BenchResults, format: Format, notes: Notes): string[] {
  const { options, handshakes, memory } = results;
  const rows: Row[] = [];
  if (options.handshakes) {
    const label = `handshakes/s (${options.handshakeConcurrency} concurrent)`;
    rows.push([label, ...compare(results, handshakes, "handshakes", notes, (m) => m.perSecond, rate)]);
    rows.push([
      "handshakes per server CPU-s",
      ...compare(results, handshakes, "handshakes", notes, (m) => m.perServerCpuSecond, rate),
    ]);
    const busy = SERVER_NAMES.filter((name) => {
      const outcome = handshakes[name];
      const others = outcome !== undefined && "value" in outcome ? outcome.value.otherCpu : undefined;
      return (others ?? 0) > BUSY_MACHINE_PERCENT;
    });
    if (busy.length > 0) {
      notes.warnings.push(
        `other processes used over ${BUSY_MACHINE_PERCENT}% of a core during the handshakes ` +
          `of ${busy.join(", ")}`,
      );
    }
  }
  if (options.memory) {
    const idle = `per idle connection (${options.idleConnections})`;
    rows.push([`RSS ${idle}`, ...compare(results, memory, "memory", notes, (m) => m.rss, bytes)]);
    rows.push([
      `RSS ${idle}, after ${IDLE_SETTLE_MS / 1000} s idle`,
      ...compare(results, memory, "memory", notes, (m) => m.settledRss, bytes),
    ]);
    rows.push([
      `heap+external ${idle}`,
      ...compare(results, memory, "memory", notes, (m) => m.heapAndExternal, bytes),
    ]);
  }
  if (rows.length === 0) return [];
  const headers = ["", ...SERVER_NAMES, "ferry/ws", "ferry/raw"];
  return [heading(format, "Connections"), table(format, headers, rows, 1)];
}

function setupSection(results: BenchResults, format: Format): string {
  const { system, options, pinning } = results;
  const bullet = format === "markdown" ? "- " : "  ";
  const pinned =
    pinning === undefined
      ? "none (generator and servers share all cores)"
      : `generator on core ${pinning.generatorCore}, each server on core ${pinning.serverCore}`;
  const rounds = options.repeat > 1 ? `, ${options.repeat} rounds (median shown)` : "";
  return [
    `date: ${system.date}`,
    `node: ${system.node}; kernel ${system.kernel}`,
    `CPU: ${system.cpuModel}, ${system.cores} core${system.cores === 1 ? "" : "s"}`,
    `pinning: ${pinned}`,
    `allocator: ${describeAllocator(options.tunedAllocator)}`,
    `each cell: ${options.warmupMs / 1000} s warm-up, ${options.durationMs / 1000} s measured${rounds}; ` +
      `servers take turns within every cell; whole run ${results.elapsedSeconds.toFixed(0)} s`,
  ]
    .map((line) => bullet + line)
    .join("\n");
}

export function renderReport(results: BenchResults, format: Format): string {
  const notes = new Notes();
  for (const [name, reason] of Object.entries(results.unavailable)) {
    notes.warnings.push(`${name} did not start: ${reason}`);
  }
  const sections = [
    setupSection(results, format),
    ...connectionSection(results, format, notes),
    ...matrixSection(results, format, notes),
  ];
  if (notes.warnings.length + notes.errors.length > 0) {
    sections.push(heading(format, "Problems"), notes.render(format));
  }
  return sections.join("\n\n") + "\n";
}

/** BENCHMARKS.md: how the numbers were made, then the numbers. */
export function renderMarkdown(results: BenchResults): string {
  const { options } = results;
  return `# Benchmarks

Generated by \`npm run bench\` (bench/run.ts); every number below comes from the run
described at the top of "Results". Re-run it on your machine before drawing conclusions:
on a small or shared machine, single cells can move by tens of percent between runs (the
"others" column shows when other processes were competing).

## Running

\`\`\`
npm run bench                 # the whole matrix, a few minutes; rewrites this file
npm run bench -- --quick      # a subset in about a minute; prints only
npm run bench -- --help       # choose servers, cells, durations, rounds
\`\`\`

## Method

- Three echo servers, each in its own child process, compiled first (tsconfig.bench.json)
  and run with plain \`node\`, as a deployment would; so is the load generator. Under tsx
  every heap is larger and V8's collection heuristics change: after a few thousand
  connections had come and gone, a ferry server under tsx spent half its time in
  back-to-back full collections at 64 KiB (bench/compiled.ts). The servers:
  **ferry** (\`Listener\` with an echo service, compression off), **ws** (\`WebSocketServer\`
  with bufferutil and utf-8-validate, perMessageDeflate off) and **raw** (\`node:net\`,
  \`socket.on("data", d => socket.write(d))\`, no framing: the ceiling of one Node process).
- The load generator uses raw \`net\` sockets, not a WebSocket library: a real upgrade
  request with a fresh \`Sec-WebSocket-Key\` (the accept key is checked), then frames masked
  once per message size and written as is; echoes are counted by reading frame headers and
  skipping payload bytes, and each echoed message's length and kind are checked. Every
  generator socket reads into one shared buffer (Node's \`onread\`), so reading allocates
  nothing. For raw, the same bytes go out and a message counts when that many bytes have
  come back.
- raw echoes each read as it arrives, so for large messages it makes more writes than a
  WebSocket server that echoes whole messages: it is the ceiling for small messages, not
  always for large ones.
- Closed loop: every connection keeps *in flight* messages outstanding and sends a new one
  when an echo completes. **msg/s** counts echoes received by the generator.
- **msg/CPU-s** (efficiency) divides the same count by the CPU time (user + system) the
  server child spent in the window, from \`process.cpuUsage()\` reported over IPC. When the
  generator is the bottleneck (see its CPU share), msg/s mostly measures the generator;
  efficiency still measures the server.
- The servers run with glibc's malloc thresholds fixed (\`MALLOC_MMAP_THRESHOLD_\`,
  \`MALLOC_TRIM_THRESHOLD_\`; \`--default-malloc\` turns that off). With the defaults, a
  server that echoes large messages gives its heap back to the kernel after a garbage
  collection or keeps it, depending on its own allocation history, and on a virtual machine
  the page faults of the first case dominate: the same server measured up to 5× apart
  between two runs of a 1 MiB cell. bench/allocator.ts explains it.
- Handshakes: ${options.handshakeConcurrency} loops open and close connections back to back
  (WebSocket: upgrade, close frame, close echo, TCP close; raw: TCP connect and close).
- Memory: server RSS, and V8 heap used + external (after a forced GC), before and after
  opening ${options.idleConnections} idle connections, divided by ${options.idleConnections};
  RSS again after the connections have been idle for ${IDLE_SETTLE_MS / 1000} s. Opening
  thousands of connections at once grows V8's young generation to its maximum, and it stays
  resident until V8 sees the process idle for several seconds: the first RSS row includes
  that, the second shows what the idle connections keep. Measured first, while the servers
  are fresh.

## Results

${renderReport(results, "markdown")}`;
}
