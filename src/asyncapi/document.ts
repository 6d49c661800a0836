/**
 * The parts of an AsyncAPI 3.0.0 document that `toAsyncAPI` writes, as plain JSON-ready
 * objects. Not the whole specification: what ferry can say about its services.
 */

/** A JSON Schema (draft-07, the AsyncAPI Schema format's base) as a plain object. */
export type JsonSchema = { [keyword: string]: unknown };

/** A Reference Object: points at a component or channel of the same document. */
export interface AsyncAPIReference {
  /** A JSON Pointer into the document: "#/components/messages/join". */
  $ref: string;
}

/** The Info Object: what the API is called and which version of it this is. */
export interface AsyncAPIInfo {
  /** `AsyncAPIOptions.title`. */
  title: string;
  /** `AsyncAPIOptions.version`: the API's, not AsyncAPI's. */
  version: string;
  /** `AsyncAPIOptions.description`. */
  description?: string;
}

/** A Server Object: where the services run. */
export interface AsyncAPIServer {
  /** Host and optional port: "example.com:9090". */
  host: string;
  /** "ws" or "wss". */
  protocol: string;
  /** A path prefix in front of every channel address, such as "/api". */
  pathname?: string;
  /** What this server is (production, staging…). */
  description?: string;
}

/** A Parameter Object: one `{name}` segment of a channel address. */
export interface AsyncAPIParameter {
  /** What the segment holds. */
  description?: string;
}

/** A Channel Object: one attached path. */
export interface AsyncAPIChannel {
  /** The attach path, `{name}` segments as channel parameters: "/chat/{room}". */
  address: string;
  /** A short name for the channel. */
  title?: string;
  /** What the channel is for. */
  description?: string;
  /** The messages that travel on it, by key, as references to `components.messages`. */
  messages: Record<string, AsyncAPIReference>;
  /** The address's `{name}` segments. */
  parameters?: Record<string, AsyncAPIParameter>;
  /** The WebSocket binding: the upgrade is a GET, with the headers it needs. */
  bindings?: { ws: { method: "GET"; headers?: JsonSchema; bindingVersion: "0.1.0" } };
}

/** A Correlation ID Object: where a reply carries the id of its request (`dispatcherStreamId`). */
export interface AsyncAPICorrelationId {
  /** What the id correlates. */
  description?: string;
  /** A runtime expression: "$message.payload#/id". */
  location: string;
}

/** A Message Object: one kind of message and its payload schema. */
export interface AsyncAPIMessage {
  /** The dispatcher value, or the method's event for generic messages. */
  name: string;
  /** A human-friendly name. */
  title?: string;
  /** One line on what the message does (`bind(…, { summary })`). */
  summary?: string;
  /** A longer explanation. */
  description?: string;
  /** The payload's media type: "application/json", "text/plain", "application/octet-stream"… */
  contentType: string;
  /** The payload's schema, as a reference to `components.schemas`. */
  payload: AsyncAPIReference;
  /** Where the message carries the id of the request it answers, with `dispatcherStreamId`. */
  correlationId?: AsyncAPICorrelationId;
}

/** An Operation Reply Object: what the service sends back for a received message. */
export interface AsyncAPIOperationReply {
  /** The channel the reply travels on: the request's own. */
  channel: AsyncAPIReference;
  /** The messages the reply may be. */
  messages: AsyncAPIReference[];
}

/** An Operation Object: a service method receiving messages on a channel. */
export interface AsyncAPIOperation {
  /** "receive": the service receives what a client sends. */
  action: "receive" | "send";
  /** The channel the operation happens on. */
  channel: AsyncAPIReference;
  /** One line on what the operation does. */
  summary?: string;
  /** A longer explanation. */
  description?: string;
  /** The messages the operation takes. */
  messages: AsyncAPIReference[];
  /** What is sent back, when `bind(…, { reply })` declared it. */
  reply?: AsyncAPIOperationReply;
  /** The service method that handles the messages. */
  "x-ferry-method"?: string;
}

/** The AsyncAPI 3.0.0 document `toAsyncAPI` returns: plain objects, ready for `JSON.stringify`. */
export interface AsyncAPIDocument {
  /** The AsyncAPI version the document follows. */
  asyncapi: "3.0.0";
  /** Title, version and description of the API. */
  info: AsyncAPIInfo;
  /** Where the services run, by name (`AsyncAPIOptions.servers`). */
  servers?: Record<string, AsyncAPIServer>;
  /** The content type of messages that do not say otherwise: "application/json". */
  defaultContentType: string;
  /** One channel per attached path, by key. */
  channels: Record<string, AsyncAPIChannel>;
  /** One `receive` operation per handling method, by key. */
  operations: Record<string, AsyncAPIOperation>;
  /** The messages and payload schemas the channels and operations refer to. */
  components: {
    messages: Record<string, AsyncAPIMessage>;
    schemas: Record<string, JsonSchema>;
  };
}
