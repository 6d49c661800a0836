import type { StandardJSONSchemaV1, StandardSchemaV1 } from "@standard-schema/spec";
import type { JsonSchema } from "./document.ts";

/**
 * Gives the JSON Schema of a Standard Schema whose library does not implement Standard JSON
 * Schema (valibot: `(schema) => toJsonSchema(schema)` from `@valibot/to-json-schema`), or
 * undefined to let ferry try.
 */
export type JsonSchemaHook = (schema: StandardSchemaV1) => object | undefined;

function isRecord(value: unknown): value is JsonSchema {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** A deep copy that is safe to change: the schema may be a library's or the user's. */
function copy(schema: object): JsonSchema {
  const copied = structuredClone(schema) as JsonSchema;
  delete copied["$schema"];
  delete copied["$id"];
  return copied;
}

/**
 * The JSON Schema (draft-07) of what a schema accepts: the wire form, before transforms and
 * defaults, which is what a client sends and reads. The hook comes first, then the library's
 * Standard JSON Schema; a type it cannot express (a Date, say) becomes "any" where the
 * library allows, and a schema ferry cannot convert at all describes any value.
 * @internal
 */
export function jsonSchemaOf(schema: StandardSchemaV1, hook?: JsonSchemaHook): JsonSchema {
  const fromHook = hook?.(schema);
  if (fromHook !== undefined) return inlineRoot(copy(fromHook));
  const converter = (schema["~standard"] as Partial<StandardJSONSchemaV1.Props>).jsonSchema;
  if (converter !== undefined) {
    // zod reads `unrepresentable: "any"`; other libraries ignore what they do not know.
    for (const libraryOptions of [undefined, { unrepresentable: "any" }]) {
      try {
        return inlineRoot(copy(converter.input({ target: "draft-07", libraryOptions })));
      } catch {
        // The next try, or the fallback below.
      }
    }
  }
  const vendor = schema["~standard"].vendor;
  return {
    description: `A ${vendor} schema ferry cannot express as JSON Schema: give bind(…, { jsonSchema }) or toAsyncAPI(…, { jsonSchema })`,
  };
}

const COMPOSITION = ["$ref", "allOf", "anyOf", "oneOf", "not", "if"] as const;

/** An object schema whose `properties` can be read and extended in place. */
function isPlainObjectSchema(schema: JsonSchema): boolean {
  return schema["type"] === "object" && COMPOSITION.every((keyword) => !(keyword in schema));
}

/** A schema that says nothing about the value (`{}`, perhaps with words). */
function isUnconstrained(schema: JsonSchema): boolean {
  return Object.keys(schema).every((keyword) => keyword === "description" || keyword === "title");
}

function propertiesOf(schema: JsonSchema): JsonSchema {
  const properties = schema["properties"];
  if (isRecord(properties)) return properties;
  const created: JsonSchema = {};
  schema["properties"] = created;
  return created;
}

function requireProperty(schema: JsonSchema, name: string): void {
  const required = Array.isArray(schema["required"]) ? (schema["required"] as unknown[]) : [];
  if (!required.includes(name)) schema["required"] = [...required, name];
}

/** @internal The constant a property of an object schema must have, if it is a single string. */
export function constantOf(schema: JsonSchema, property: string): string | undefined {
  const properties = schema["properties"];
  if (!isRecord(properties)) return undefined;
  const field = properties[property];
  if (!isRecord(field)) return undefined;
  if (typeof field["const"] === "string") return field["const"];
  const values = field["enum"];
  return Array.isArray(values) && values.length === 1 && typeof values[0] === "string" ? values[0] : undefined;
}

/** @internal The schema of a property, looking through `allOf`. */
export function propertyOf(schema: JsonSchema, property: string): JsonSchema | undefined {
  const properties = schema["properties"];
  if (isRecord(properties) && isRecord(properties[property])) return properties[property];
  const parts = schema["allOf"];
  if (!Array.isArray(parts)) return undefined;
  for (const part of parts) {
    const found = isRecord(part) ? propertyOf(part, property) : undefined;
    if (found !== undefined) return found;
  }
  return undefined;
}

const DEFINITIONS = ["definitions", "$defs"] as const;

/** The schema's local definitions, taken out of it. */
function takeDefinitions(schema: JsonSchema): JsonSchema {
  const taken: JsonSchema = {};
  for (const keyword of DEFINITIONS) {
    if (!(keyword in schema)) continue;
    taken[keyword] = schema[keyword];
    delete schema[keyword];
  }
  return taken;
}

/**
 * A schema whose root is only a reference to one of its definitions (zod writes that for a
 * schema with `.meta({ id })`), with that definition inlined at the root, so that its
 * properties can be read and extended; other schemas as they are.
 * @internal
 */
export function inlineRoot(schema: JsonSchema): JsonSchema {
  const keywords = Object.keys(schema).filter((keyword) => !(DEFINITIONS as readonly string[]).includes(keyword));
  if (keywords.length !== 1 || keywords[0] !== "$ref") return schema;
  const target = resolveLocal(schema, schema);
  if (target === schema) return schema;
  return { ...structuredClone(target), ...takeDefinitions(schema) };
}

/**
 * The schema of a dispatched message: an object whose dispatcher key holds the value. The
 * key is added (as a constant, required) when the schema does not pin it already.
 * @internal
 */
export function withDispatcherValue(original: JsonSchema, key: string, value: string): JsonSchema {
  const schema = inlineRoot(original);
  const keyField: JsonSchema = { type: "string", const: value };
  if (isUnconstrained(schema)) return { ...schema, type: "object", properties: { [key]: keyField }, required: [key] };
  if (!isPlainObjectSchema(schema)) {
    // Definitions stay at the root, where references to them point.
    const definitions = takeDefinitions(schema);
    return { allOf: [schema, { type: "object", properties: { [key]: keyField }, required: [key] }], ...definitions };
  }
  const properties = propertiesOf(schema);
  const existing = properties[key];
  if (!isRecord(existing)) properties[key] = keyField;
  else if (!("const" in existing) && !("enum" in existing)) existing["const"] = value;
  requireProperty(schema, key);
  return schema;
}

/**
 * Adds the stream id a request carried to a reply's object schema: ferry copies it into each
 * object it sends back (SPEC §6). Schemas of another shape are left alone.
 * @internal
 */
export function withStreamId(schema: JsonSchema, key: string, idSchema: JsonSchema, required: boolean): JsonSchema {
  if (!isPlainObjectSchema(schema)) return schema;
  const properties = propertiesOf(schema);
  if (!(key in properties)) properties[key] = "$ref" in idSchema ? {} : structuredClone(idSchema);
  if (required) requireProperty(schema, key);
  return schema;
}

/** @internal Whether a property is in a schema's `required` list. */
export function isRequired(schema: JsonSchema, property: string): boolean {
  const required = schema["required"];
  return Array.isArray(required) && required.includes(property);
}

/** A local definition a `$ref` names (`#/definitions/X` or `#/$defs/X`), else the schema itself. */
function resolveLocal(schema: JsonSchema, root: JsonSchema): JsonSchema {
  const reference = schema["$ref"];
  if (typeof reference !== "string") return schema;
  const match = /^#\/(definitions|\$defs)\/([^/]+)$/.exec(reference);
  if (match === null) return schema;
  const definitions = root[match[1]!];
  const name = decodePointerSegment(match[2]!);
  return isRecord(definitions) && isRecord(definitions[name]) ? definitions[name] : schema;
}

/** @internal */
export function decodePointerSegment(segment: string): string {
  let decoded = segment;
  try {
    decoded = decodeURIComponent(segment);
  } catch {
    // Not percent-encoded after all.
  }
  return decoded.replace(/~1/g, "/").replace(/~0/g, "~");
}

/** @internal */
export function encodePointerSegment(segment: string): string {
  return segment.replace(/~/g, "~0").replace(/\//g, "~1");
}

/** @internal */
export interface DispatchedBranch {
  /** The dispatcher value the branch pins, when it pins one. */
  value: string | undefined;
  schema: JsonSchema;
}

/**
 * A reply schema split into one schema per dispatcher value: a union (`oneOf`/`anyOf`) whose
 * every member pins the key, as a discriminated union does, gives one message per member
 * ("next", "error", "complete"); anything else is one message.
 * @internal
 */
export function splitByDispatcherValue(original: JsonSchema, key: string | undefined): DispatchedBranch[] {
  const schema = inlineRoot(original);
  const whole = [{ value: key === undefined ? undefined : constantOf(schema, key), schema }];
  if (key === undefined) return whole;
  const union = schema["oneOf"] ?? schema["anyOf"];
  if (!Array.isArray(union) || union.length === 0 || !union.every(isRecord)) return whole;
  const definitions = Object.fromEntries(DEFINITIONS.filter((keyword) => keyword in schema).map((keyword) => [keyword, schema[keyword]]));
  const branches: DispatchedBranch[] = [];
  for (const member of union as JsonSchema[]) {
    const resolved = resolveLocal(member, schema);
    const value = constantOf(resolved, key);
    if (value === undefined) return whole;
    branches.push({ value, schema: { ...structuredClone(resolved), ...structuredClone(definitions) } });
  }
  return branches;
}
