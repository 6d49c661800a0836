import { methodNameFor } from "../binding/method-name.ts";
import { logWarning } from "../log.ts";
import { EVENT_HANDLERS, type ResolvedServiceConfig } from "./service.ts";

/** What decides which methods a dispatcher can reach. */
export type DispatchConfig = Pick<ResolvedServiceConfig, "dispatcherKey" | "dispatcherMapping">;

/** Handlers whose bound message may fail to bind, so that their `on<X>Error` is called. */
const MESSAGE_HANDLERS = ["onTextMessage", "onBinaryMessage", "onMessage"];

/** What stands for every object literal an upgrade service returns: they share one prototype. */
const LITERAL = {};

/**
 * Per upgrade service (whose config decides what is reachable), the service classes (their
 * prototypes, or LITERAL) already checked.
 */
const checked = new WeakMap<object, WeakSet<object>>();

/**
 * Warns once per service class and upgrade service about `on…` methods that nothing can ever
 * call: a misspelled handler (`onTextMesage`), a custom method without a `dispatcherKey`, or
 * one whose name the dispatch rule cannot produce. The same class attached at two paths is
 * checked against each one's dispatch config.
 */
export function checkServiceOnce(service: object, config: DispatchConfig, owner: object, path: string): void {
  const prototype = Object.getPrototypeOf(service) as object | null;
  const isLiteral = prototype === null || prototype === Object.prototype;
  let classes = checked.get(owner);
  if (classes === undefined) checked.set(owner, (classes = new WeakSet()));
  const key = isLiteral ? LITERAL : prototype;
  if (classes.has(key)) return;
  classes.add(key);
  const className = isLiteral ? undefined : (prototype as { constructor?: { name?: unknown } }).constructor?.name;
  const what = typeof className === "string" && className !== "" ? `${className}.` : "";
  for (const { method, reason } of unreachableMethods(service, config)) {
    logWarning(`${what}${method} of the service at ${path} is never called: ${reason}`);
  }
}

/** A method no event or dispatcher value reaches, and why. */
export interface UnreachableMethod {
  readonly method: string;
  readonly reason: string;
}

/**
 * The `on…` methods of `service` that neither an event (SPEC §4) nor the dispatcher (SPEC §6:
 * the mapping, the name rule, and `on<X>Error` of a reachable X) can call. Methods that do
 * not look like handlers (`once`, `online`) are left alone unless they are a near miss of one.
 */
export function unreachableMethods(service: object, config: DispatchConfig): UnreachableMethod[] {
  const methods = methodNamesOf(service);
  const reachable = new Set<string>(EVENT_HANDLERS);
  const failable = [...MESSAGE_HANDLERS];
  if (config.dispatcherKey !== undefined) {
    for (const name of Object.values(config.dispatcherMapping)) {
      reachable.add(name);
      failable.push(name);
    }
    for (const name of methods) {
      if (isNamedByRule(name, methods)) {
        reachable.add(name);
        failable.push(name);
      }
    }
  }
  for (const name of failable) reachable.add(`${name}Error`);

  const found: UnreachableMethod[] = [];
  for (const name of methods) {
    if (reachable.has(name)) continue;
    const suggestion = nearest(name, reachable);
    if (suggestion !== undefined) {
      found.push({ method: name, reason: `did you mean ${suggestion}?` });
    } else if (/^on[^\p{Ll}]/u.test(name)) {
      found.push({
        method: name,
        reason:
          config.dispatcherKey === undefined
            ? "custom methods are reached only through config.dispatcherKey"
            : 'the dispatch rule cannot produce this name (after "on": a capital letter or a digit, then letters and digits); rename it or name it in dispatcherMapping',
      });
    }
  }
  return found;
}

/** Whether some dispatcher value selects `name` by the rule: the rule reproduces it, and it is not an event or error handler. */
function isNamedByRule(name: string, methods: ReadonlySet<string>): boolean {
  if (!name.startsWith("on") || EVENT_HANDLERS.has(name) || methodNameFor(name.slice(2)) !== name) return false;
  return !(name.endsWith("Error") && methods.has(name.slice(0, -"Error".length)));
}

/** The function-valued properties named `on…` of an object and its prototypes, read without running getters. */
function methodNamesOf(service: object): Set<string> {
  const names = new Set<string>();
  for (let target: object | null = service; target !== null && target !== Object.prototype; target = Object.getPrototypeOf(target) as object | null) {
    for (const name of Object.getOwnPropertyNames(target)) {
      if (name.startsWith("on") && typeof Object.getOwnPropertyDescriptor(target, name)?.value === "function") names.add(name);
    }
  }
  return names;
}

/** The known name closest to `name` ignoring case, if it is a likely misspelling of it. */
function nearest(name: string, known: Iterable<string>): string | undefined {
  const lower = name.toLowerCase();
  const limit = name.length >= 8 ? 2 : 1;
  let best: string | undefined;
  let bestDistance = limit + 1;
  for (const candidate of known) {
    if (candidate === name) continue;
    const distance = editDistance(lower, candidate.toLowerCase(), bestDistance);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/** Edits (insert, delete, substitute, swap two neighbours) from a to b; any answer ≥ `cap` is reported as `cap`. */
function editDistance(a: string, b: string, cap: number): number {
  if (Math.abs(a.length - b.length) >= cap) return cap;
  let before: number[] = [];
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1);
      let best = Math.min(previous[j]! + 1, current[j - 1]! + 1, substitution);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, before[j - 2]! + 1);
      current.push(best);
    }
    before = previous;
    previous = current;
  }
  return Math.min(previous[b.length]!, cap);
}
