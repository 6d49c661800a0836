import type { StandardSchemaV1 } from "@standard-schema/spec";
import type { Caller } from "../server/caller.ts";
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

/** The handler `bind` returns: the same function, with its binding attached for ferry to read. */
export type BoundHandler<B extends Binding> = ((caller: Caller, message: BoundMessage<B>) => unknown) & {
  readonly [BINDING]: BindingInfo;
};

/**
 * Declares what a service method receives, since TypeScript types vanish at run time:
 * `onSubscribe = bind(SubscribeSchema, (caller, msg) => …)` gets `msg` typed and validated.
 */
export function bind<const B extends Binding>(
  binding: B,
  handler: (caller: Caller, message: BoundMessage<B>) => unknown,
  options: BindOptions = {},
): BoundHandler<B> {
  const bound = function (this: unknown, caller: Caller, message: BoundMessage<B>): unknown {
    return handler.call(this, caller, message);
  };
  const info: BindingInfo = { binding, reply: options.reply, summary: options.summary, jsonSchema: options.jsonSchema };
  return Object.defineProperty(bound, BINDING, { value: info }) as BoundHandler<B>;
}

/** @internal The binding declared with `bind`, if the method has one. */
export function bindingOf(method: unknown): BindingInfo | undefined {
  return typeof method === "function" ? (method as Partial<BoundHandler<Binding>>)[BINDING] : undefined;
}
