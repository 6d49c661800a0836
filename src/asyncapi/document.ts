/**
 * The parts of an AsyncAPI 3.0.0 document that `toAsyncAPI` writes, as plain JSON-ready
 * objects. Not the whole specification: what ferry can say about its services.
 */

/** A JSON Schema (draft-07, the AsyncAPI Schema format's base) as a plain object. */
export type JsonSchema = { [keyword: string]: unknown };

export interface AsyncAPIReference {
  $ref: string;
}

export interface AsyncAPIInfo {
  title: string;
  version: string;
  description?: string;
}

export interface AsyncAPIServer {
  /** Host and optional port: "example.com:9090". */
  host: string;
  /** "ws" or "wss". */
  protocol: string;
  /** A path prefix in front of every channel address, such as "/api". */
  pathname?: string;
  description?: string;
}

export interface AsyncAPIParameter {
  description?: string;
}

export interface AsyncAPIChannel {
  /** The attach path, `{name}` segments as channel parameters: "/chat/{room}". */
  address: string;
  title?: string;
  description?: string;
  messages: Record<string, AsyncAPIReference>;
  parameters?: Record<string, AsyncAPIParameter>;
  bindings?: { ws: { method: "GET"; headers?: JsonSchema; bindingVersion: "0.1.0" } };
}

export interface AsyncAPICorrelationId {
  description?: string;
  /** A runtime expression: "$message.payload#/id". */
  location: string;
}

export interface AsyncAPIMessage {
  /** The dispatcher value, or the method's event for generic messages. */
  name: string;
  title?: string;
  summary?: string;
  description?: string;
  contentType: string;
  payload: AsyncAPIReference;
  correlationId?: AsyncAPICorrelationId;
}

export interface AsyncAPIOperationReply {
  channel: AsyncAPIReference;
  messages: AsyncAPIReference[];
}

export interface AsyncAPIOperation {
  /** "receive": the service receives what a client sends. */
  action: "receive" | "send";
  channel: AsyncAPIReference;
  summary?: string;
  description?: string;
  messages: AsyncAPIReference[];
  reply?: AsyncAPIOperationReply;
  /** The service method that handles the messages. */
  "x-ferry-method"?: string;
}

export interface AsyncAPIDocument {
  asyncapi: "3.0.0";
  info: AsyncAPIInfo;
  servers?: Record<string, AsyncAPIServer>;
  defaultContentType: string;
  channels: Record<string, AsyncAPIChannel>;
  operations: Record<string, AsyncAPIOperation>;
  components: {
    messages: Record<string, AsyncAPIMessage>;
    schemas: Record<string, JsonSchema>;
  };
}
