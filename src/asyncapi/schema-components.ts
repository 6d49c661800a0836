import type { AsyncAPIReference, JsonSchema } from "./document.ts";
import { decodePointerSegment, encodePointerSegment } from "./json-schema.ts";

/** Keywords whose values are data, not schemas: a `$ref` inside them is not a reference. */
const DATA_KEYWORDS = new Set(["const", "enum", "default", "examples", "example"]);
/** Keywords whose values map names (which may be anything, "default" too) to schemas. */
const MAP_KEYWORDS = new Set(["properties", "patternProperties", "definitions", "$defs", "dependencies"]);

function isRecord(value: unknown): value is JsonSchema {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** A components key: letters, digits, ".", "-", "_" (AsyncAPI's pattern for component names). */
export function componentKey(text: string): string {
  const key = text.replace(/[^\w.-]+/g, "_");
  return key === "" ? "_" : key;
}

/**
 * `components.schemas` of the document. A schema goes in under its message's key; its local
 * definitions (`definitions`/`$defs`, as zod writes for recursive or named schemas) move in
 * beside it, and its `$ref`s are rewritten to point there, since a reference inside an
 * AsyncAPI document resolves against the document.
 */
export class SchemaComponents {
  readonly schemas: Record<string, JsonSchema> = {};

  /** Adds `schema` (changed in place) under a key not taken yet, and returns a reference to it. */
  add(name: string, schema: JsonSchema): AsyncAPIReference {
    const key = this.freeKey(componentKey(name));
    this.schemas[key] = schema;
    const renamed = new Map<string, string>();
    for (const keyword of ["definitions", "$defs"] as const) {
      const definitions = schema[keyword];
      if (!isRecord(definitions)) continue;
      delete schema[keyword];
      for (const [definition, body] of Object.entries(definitions)) {
        if (!isRecord(body)) continue;
        const definitionKey = this.freeKey(componentKey(`${key}.${definition}`));
        // Its references are rewritten below, once every name is known.
        this.schemas[definitionKey] = body;
        renamed.set(`${keyword}/${definition}`, definitionKey);
      }
    }
    const rewrite = (node: unknown): void => {
      if (Array.isArray(node)) {
        for (const item of node) rewrite(item);
        return;
      }
      if (!isRecord(node)) return;
      const reference = node["$ref"];
      if (typeof reference === "string") node["$ref"] = this.rewriteReference(reference, key, renamed);
      for (const [keyword, value] of Object.entries(node)) {
        if (MAP_KEYWORDS.has(keyword) && isRecord(value)) Object.values(value).forEach(rewrite);
        else if (!DATA_KEYWORDS.has(keyword)) rewrite(value);
      }
    };
    rewrite(schema);
    for (const definitionKey of renamed.values()) rewrite(this.schemas[definitionKey]);
    this.dropUnreferenced(key, new Set(renamed.values()));
    return { $ref: `#/components/schemas/${key}` };
  }

  /** Removes the definitions just added that `key` does not reach (a union split into members leaves some). */
  private dropUnreferenced(key: string, added: ReadonlySet<string>): void {
    const reached = new Set<string>();
    const visit = (node: unknown): void => {
      if (Array.isArray(node)) {
        for (const item of node) visit(item);
        return;
      }
      if (!isRecord(node)) return;
      const reference = node["$ref"];
      if (typeof reference === "string" && reference.startsWith("#/components/schemas/")) {
        const target = decodePointerSegment(reference.slice("#/components/schemas/".length).split("/")[0]!);
        if (added.has(target) && !reached.has(target)) {
          reached.add(target);
          visit(this.schemas[target]);
        }
      }
      for (const value of Object.values(node)) visit(value);
    };
    visit(this.schemas[key]);
    for (const definitionKey of added) if (!reached.has(definitionKey)) delete this.schemas[definitionKey];
  }

  private rewriteReference(reference: string, key: string, renamed: ReadonlyMap<string, string>): string {
    if (reference === "#") return `#/components/schemas/${key}`;
    const match = /^#\/(definitions|\$defs)\/([^/]+)(\/.*)?$/.exec(reference);
    if (match === null) return reference;
    const target = renamed.get(`${match[1]}/${decodePointerSegment(match[2]!)}`);
    return target === undefined ? reference : `#/components/schemas/${encodePointerSegment(target)}${match[3] ?? ""}`;
  }

  private freeKey(wanted: string): string {
    let key = wanted;
    for (let n = 2; key in this.schemas; n++) key = `${wanted}_${n}`;
    return key;
  }
}
