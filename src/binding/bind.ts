import type { StandardSchemaV1 } from "@standard-schema/spec";
import type { BindingKind } from "./kinds.ts";
import type { Document } from "./xml.ts";

/** What a handler asks for: a kind (SPEC §5) or any Standard Schema (zod, valibot, arktype…). */
export type Binding = BindingKind | "xml" | StandardSchemaV1;

/** A value JSON can carry: what a message bound as "json" is. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** The message type a binding delivers. */
export type BoundMessage<B extends Binding> = B extends "text"
  ? string
  : B extends "binary"
    ? Uint8Array
    : B extends "json"
      ? JsonValue
      : B extends "xml"
        ? Document
        : B extends StandardSchemaV1
          ? StandardSchemaV1.InferOutput<B>
          : never;

/** What `bind` records beside the binding, for the AsyncAPI description. */
export interface BindOptions {
  /** The schema of what the handler sends back, for the AsyncAPI description. */
  reply?: StandardSchemaV1;
  /** One line on what the message does, for the AsyncAPI description. */
  summary?: string;
  /**
   * The message's JSON Schema for the AsyncAPI description, when the binding cannot give it:
   * a schema library without Standard JSON Schema (valibot: `toJsonSchema(schema)`), or plain "json".
   */
  jsonSchema?: object;
}

/** What a `bind` call declared, kept on the handler it returns. */
export interface BindingInfo {
  /** The kind or schema messages are bound with. */
  readonly binding: Binding;
  /** `BindOptions.reply`. */
  readonly reply: StandardSchemaV1 | undefined;
  /** `BindOptions.summary`. */
  readonly summary: string | undefined;
  /** `BindOptions.jsonSchema`. */
  readonly jsonSchema: object | undefined;
}

const BINDING: unique symbol = Symbol("ferry.binding");

/** A function that carries the binding declared for it. */
export type WithBinding<F> = F & { readonly [BINDING]: BindingInfo };

/**
 * @internal A copy of `handler` that carries `binding`, so that dispatch and the AsyncAPI description
 * can read it. What the handler's first parameter is, binding does not know: the server's
 * `bind` makes it the Caller.
 */
export function withBinding<A, M>(binding: Binding, handler: (first: A, message: M) => unknown, options: BindOptions): WithBinding<(first: A, message: M) => unknown> {
  const bound = function (this: unknown, first: A, message: M): unknown {
    return handler.call(this, first, message);
  };
  const info: BindingInfo = { binding, reply: options.reply, summary: options.summary, jsonSchema: options.jsonSchema };
  return Object.defineProperty(bound, BINDING, { value: info }) as WithBinding<(first: A, message: M) => unknown>;
}

/** @internal The binding declared with `bind`, if the method has one. */
export function bindingOf(method: unknown): BindingInfo | undefined {
  return typeof method === "function" ? (method as Partial<WithBinding<unknown>>)[BINDING] : undefined;
}
