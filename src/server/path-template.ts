/**
 * Attach paths such as `/chat/{room}`: segments match one for one, `{name}` matches any one
 * segment, and a literal segment wins over a template at the first place they differ.
 */
export interface PathMatch<T> {
  value: T;
  params: Record<string, string>;
}

interface Route<T> {
  key: string;
  segments: readonly string[];
  /** For each segment, the parameter name, or undefined when literal. */
  names: readonly (string | undefined)[];
  value: T;
}

function splitPath(path: string): string[] {
  return path.split("/").filter((segment) => segment !== "");
}

/** The canonical form of an attach path: leading `/`, no trailing `/`. */
export function normalizePath(path: string): string {
  return "/" + splitPath(path).join("/");
}

export class PathRouter<T> {
  private routes: Route<T>[] = [];

  add(path: string, value: T): void {
    const key = normalizePath(path);
    if (this.routes.some((route) => route.key === key)) {
      throw new Error(`A service is already attached at ${key}`);
    }
    const segments = splitPath(path);
    const names = segments.map((segment) => /^\{[^{}/]+\}$/.test(segment) ? segment.slice(1, -1) : undefined);
    this.routes.push({ key, segments, names, value });
    this.routes.sort(compareRoutes);
  }

  /** Returns whether a route was there. */
  remove(path: string): boolean {
    const key = normalizePath(path);
    const before = this.routes.length;
    this.routes = this.routes.filter((route) => route.key !== key);
    return this.routes.length !== before;
  }

  /** Every attach path (normalized) with its value, most specific first. */
  *entries(): IterableIterator<[string, T]> {
    for (const route of this.routes) yield [route.key, route.value];
  }

  get size(): number {
    return this.routes.length;
  }

  /** `pathname` without its query. Routes are kept most specific first, so the first match wins. */
  match(pathname: string): PathMatch<T> | undefined {
    const segments = splitPath(pathname);
    outer: for (const route of this.routes) {
      if (route.segments.length !== segments.length) continue;
      let params: Record<string, string> | undefined;
      for (let i = 0; i < segments.length; i++) {
        const name = route.names[i];
        if (name === undefined) {
          if (route.segments[i] !== segments[i]) continue outer;
        } else {
          (params ??= {})[name] = decodeSegment(segments[i]!);
        }
      }
      return { value: route.value, params: params ?? {} };
    }
    return undefined;
  }
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function compareRoutes<T>(a: Route<T>, b: Route<T>): number {
  const n = Math.min(a.names.length, b.names.length);
  for (let i = 0; i < n; i++) {
    const aLiteral = a.names[i] === undefined;
    const bLiteral = b.names[i] === undefined;
    if (aLiteral !== bLiteral) return aLiteral ? -1 : 1;
  }
  return 0;
}
