import { CloseFrame } from "../close-frame.ts";
import { PayloadBindingError } from "../errors.ts";
import { type Document, isXmlDocument, serializeXml } from "./xml.ts";

/** How a value written with `writeMessage`, or returned from a handler, goes out (SPEC §4): null and undefined send nothing. */
export const OUT_NOTHING = 0;
/** A string: one text message. */
export const OUT_TEXT = 1;
/** Bytes (any ArrayBuffer view, or an ArrayBuffer): one binary message. */
export const OUT_BINARY = 2;
/** A CloseFrame: the close handshake. */
export const OUT_CLOSE = 3;
/** An async iterable or a generator: one message per element. */
export const OUT_STREAM = 4;
/** Anything else, arrays included: JSON text. */
export const OUT_JSON = 5;
/** A DOM Document: its XML as text. */
export const OUT_XML = 6;
/** One of the OUT_ constants. */
export type OutgoingKind = 0 | 1 | 2 | 3 | 4 | 5 | 6;

/** A value sent as one message per element. */
export type MessageStream = AsyncIterable<unknown> | Iterator<unknown>;

/** Which of the SPEC §4 rules a value goes out by. */
export function outgoingKind(value: unknown): OutgoingKind {
  if (typeof value === "string") return OUT_TEXT;
  if (value === undefined || value === null) return OUT_NOTHING;
  if (typeof value !== "object") return OUT_JSON;
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return OUT_BINARY;
  if (value instanceof CloseFrame) return OUT_CLOSE;
  if (isXmlDocument(value)) return OUT_XML;
  if (Symbol.asyncIterator in value) return OUT_STREAM;
  // Generators, not every iterable: an array or a Map is data, sent as JSON.
  if (Symbol.iterator in value && typeof (value as { next?: unknown }).next === "function") return OUT_STREAM;
  return OUT_JSON;
}

/**
 * The text an OUT_JSON or OUT_XML value goes out as; undefined for what JSON leaves out (a
 * function, a symbol). A value that cannot be serialised (a cycle, a BigInt, a throwing
 * toJSON) is a PayloadBindingError.
 */
export function textOf(value: unknown, kind: typeof OUT_JSON | typeof OUT_XML): string | undefined {
  try {
    return kind === OUT_XML ? serializeXml(value as Document) : JSON.stringify(value);
  } catch (cause) {
    const detail = cause instanceof Error ? cause.message : String(cause);
    throw new PayloadBindingError(`data binding failed: the value cannot be written as ${kind === OUT_XML ? "XML" : "JSON"}: ${detail}`, { cause });
  }
}

/** Bytes of a binary value, without copying. */
export function toBytes(value: ArrayBufferView | ArrayBuffer): Uint8Array {
  if (value instanceof Uint8Array) return value;
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
}

/**
 * Iterates a stream whether it is async or a sync generator. Ending the iteration early
 * ends the source too, so that its `finally` blocks run.
 */
export async function* iterateStream(stream: MessageStream): AsyncGenerator<unknown> {
  if (Symbol.asyncIterator in stream) {
    yield* stream as AsyncIterable<unknown>;
    return;
  }
  const iterator = stream as Iterator<unknown>;
  let done = false;
  try {
    for (let step = iterator.next(); step.done !== true; step = iterator.next()) yield step.value;
    done = true;
  } finally {
    if (!done) iterator.return?.();
  }
}
