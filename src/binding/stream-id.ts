import { iterateStream, type MessageStream } from "./outgoing.ts";

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return false;
  const prototype = Object.getPrototypeOf(value) as unknown;
  return prototype === Object.prototype || prototype === null;
}

/** The request's stream id (`dispatcherStreamId`), when the request is an object that has one. */
export function streamIdOf(request: unknown, key: string | undefined): unknown {
  if (key === undefined || !isPlainObject(request) || !(key in request)) return undefined;
  return request[key];
}

/**
 * An object sent back for a request carries the request's id (SPEC §6), so that a client
 * running many requests over one socket can match the answers; an id the object already
 * has is left alone.
 */
export function withStreamId(value: unknown, key: string | undefined, id: unknown): unknown {
  if (key === undefined || id === undefined || !isPlainObject(value) || key in value) return value;
  return { ...value, [key]: id };
}

/** A stream sent back for a request: each object it yields carries the request's id. */
export async function* streamWithId(stream: MessageStream, key: string, id: unknown): AsyncGenerator<unknown> {
  for await (const element of iterateStream(stream)) yield withStreamId(element, key, id);
}
