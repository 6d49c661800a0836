import type { BindingInfo } from "../binding/bind.ts";
import type { Listener } from "../server/listener.ts";
import type { ServiceConfig, UpgradeService } from "../server/service.ts";
import type {
  AsyncAPIChannel,
  AsyncAPICorrelationId,
  AsyncAPIDocument,
  AsyncAPIMessage,
  AsyncAPIOperation,
  AsyncAPIServer,
  JsonSchema,
} from "./document.ts";
import {
  constantOf,
  encodePointerSegment,
  isRequired,
  type JsonSchemaHook,
  jsonSchemaOf,
  propertyOf,
  splitByDispatcherValue,
  withDispatcherValue,
  withStreamId,
} from "./json-schema.ts";
import { componentKey, SchemaComponents } from "./schema-components.ts";
import { serverObject } from "./servers.ts";
import { type ServiceMessage, serviceMessages } from "./service-messages.ts";

/** What `toAsyncAPI` cannot learn from the listener: the document's info and servers. */
export interface AsyncAPIOptions {
  /** The API's title. [`"WebSocket API"`] */
  title?: string;
  /** The API's version. ["1.0.0"] */
  version?: string;
  /** What the API is for (CommonMark allowed). [none] */
  description?: string;
  /** Where the services run, by name: a URL ("wss://api.example.com") or a server object. */
  servers?: Record<string, string | AsyncAPIServer>;
  /** JSON Schema for schemas whose library has no Standard JSON Schema (valibot), tried first. */
  jsonSchema?: JsonSchemaHook;
}

/** The listener's part `toAsyncAPI` reads. */
export type DescribableListener = Pick<Listener, "attachments">;

interface WireForm {
  schema: JsonSchema;
  contentType: string;
}

/** What a generic message carries on the wire, by its binding. */
function genericWireForm(message: ServiceMessage, hook: JsonSchemaHook | undefined): WireForm {
  const declared = declaredSchema(message.info);
  switch (message.binding) {
    case "text":
      return { schema: declared ?? { type: "string" }, contentType: "text/plain" };
    case "binary":
      return { schema: declared ?? { type: "string", format: "binary" }, contentType: "application/octet-stream" };
    case "xml":
      return { schema: declared ?? { type: "string" }, contentType: "application/xml" };
    default:
      return { schema: requestSchema(message.info, hook), contentType: "application/json" };
  }
}

/** A copy of the JSON Schema given with `bind(…, { jsonSchema })`. */
function declaredSchema(info: BindingInfo | undefined): JsonSchema | undefined {
  if (info?.jsonSchema === undefined) return undefined;
  const copied = structuredClone(info.jsonSchema) as JsonSchema;
  delete copied["$schema"];
  return copied;
}

/** The JSON Schema of a bound JSON message: declared with bind, else its schema's, else any JSON. */
function requestSchema(info: BindingInfo | undefined, hook: JsonSchemaHook | undefined): JsonSchema {
  const declared = declaredSchema(info);
  if (declared !== undefined) return declared;
  if (info !== undefined && typeof info.binding === "object") return jsonSchemaOf(info.binding, hook);
  return {};
}

const GENERIC_DESCRIPTIONS: Record<string, string> = {
  textMessage: "A text message, handled by onTextMessage.",
  binaryMessage: "A binary message, handled by onBinaryMessage.",
  message: "A message handled by onMessage.",
};

function channelIdFor(path: string): string {
  const segments = path.split("/").filter((segment) => segment !== "").map((segment) => segment.replace(/^\{(.*)\}$/, "$1"));
  return segments.length === 0 ? "root" : componentKey(segments.join("."));
}

function freeKey(wanted: string, taken: object): string {
  let key = wanted;
  for (let n = 2; key in taken; n++) key = `${wanted}_${n}`;
  return key;
}

function describeChannel(config: ServiceConfig, described: boolean): string {
  const lines: string[] = [];
  if (!described) lines.push("Attached without `describe`: the messages it takes are not known beyond text and binary.");
  if (described && config.dispatcherKey !== undefined) {
    lines.push(`A text message that is a JSON object goes to the method its \`${config.dispatcherKey}\` field names.`);
  }
  if (described && config.dispatcherStreamId !== undefined) {
    lines.push(`Every object sent back for a request carries the request's \`${config.dispatcherStreamId}\`, so that many requests can share the connection.`);
  }
  return lines.join(" ");
}

/** Builds the parts of the document for one attached path. */
class ChannelWriter {
  readonly channel: AsyncAPIChannel;
  /** Message signature → key in the channel, so that a reply that is also a request is one message. */
  private readonly known = new Map<string, string>();

  constructor(
    private readonly document: AsyncAPIDocument,
    private readonly schemas: SchemaComponents,
    private readonly channelId: string,
    path: string,
    private readonly upgradeService: UpgradeService,
    private readonly hook: JsonSchemaHook | undefined,
  ) {
    const config = upgradeService.config ?? {};
    this.channel = { address: path, messages: {}, bindings: { ws: { method: "GET", bindingVersion: "0.1.0" } } };
    const parameters = path
      .split("/")
      .map((segment) => /^\{([^{}/]+)\}$/.exec(segment)?.[1])
      .filter((name) => name !== undefined);
    if (parameters.length > 0) {
      this.channel.parameters = Object.fromEntries(parameters.map((name) => [name, { description: `The \`${name}\` segment of the path.` }]));
    }
    if (config.subProtocols !== undefined && config.subProtocols.length > 0) {
      this.channel.bindings!.ws.headers = {
        type: "object",
        properties: {
          "Sec-WebSocket-Protocol": {
            type: "string",
            description: `The sub-protocols the client offers; the service speaks ${config.subProtocols.join(", ")}.`,
          },
        },
      };
    }
    const description = describeChannel(config, upgradeService.describe !== undefined);
    if (description !== "") this.channel.description = description;
  }

  private get config(): ServiceConfig {
    return this.upgradeService.config ?? {};
  }

  write(): void {
    const key = this.config.dispatcherKey;
    const constantOfKey = (info: BindingInfo): string | undefined => {
      if (key === undefined || (info.jsonSchema === undefined && typeof info.binding !== "object")) return undefined;
      return constantOf(requestSchema(info, this.hook), key);
    };
    for (const message of serviceMessages(this.upgradeService, this.channel.address, constantOfKey)) this.writeOperation(message);
  }

  private writeOperation(message: ServiceMessage): void {
    const { dispatcherKey, dispatcherStreamId } = this.config;
    let form: WireForm;
    if (message.value !== undefined && dispatcherKey !== undefined) {
      const schema = withDispatcherValue(requestSchema(message.info, this.hook), dispatcherKey, message.value);
      form = { schema, contentType: "application/json" };
    } else {
      form = genericWireForm(message, this.hook);
    }
    const streamId = dispatcherStreamId !== undefined && form.contentType === "application/json" ? dispatcherStreamId : undefined;
    const requestId = streamId === undefined ? undefined : propertyOf(form.schema, streamId);
    const summary = message.info?.summary;
    const requestKey = this.writeMessage(message.name, form, {
      summary,
      description: message.value === undefined ? GENERIC_DESCRIPTIONS[message.name] : undefined,
      correlationId: requestId === undefined ? undefined : this.correlationId(streamId!),
    });
    const channelRef = { $ref: `#/channels/${encodePointerSegment(this.channelId)}` };
    const operation: AsyncAPIOperation = {
      action: "receive",
      channel: channelRef,
      messages: [this.messageRef(requestKey)],
    };
    if (summary !== undefined) operation.summary = summary;
    if (message.method !== undefined) operation["x-ferry-method"] = message.method;
    const reply = message.info?.reply;
    if (reply !== undefined) {
      const replyKeys = splitByDispatcherValue(jsonSchemaOf(reply, this.hook), dispatcherKey).map((branch) => {
        let schema = branch.schema;
        if (requestId !== undefined) schema = withStreamId(schema, streamId!, requestId, isRequired(form.schema, streamId!));
        const hasId = streamId !== undefined && propertyOf(schema, streamId) !== undefined;
        return this.writeMessage(
          branch.value ?? `${message.name}.reply`,
          { schema, contentType: "application/json" },
          { correlationId: hasId ? this.correlationId(streamId!) : undefined },
        );
      });
      operation.reply = { channel: channelRef, messages: [...new Set(replyKeys)].map((key) => this.messageRef(key)) };
    }
    const operationId = freeKey(componentKey(`${this.channelId}.${message.name}`), this.document.operations);
    this.document.operations[operationId] = operation;
  }

  private correlationId(streamId: string): AsyncAPICorrelationId {
    return {
      description: `The request's \`${streamId}\`, copied into every object sent back for it.`,
      location: `$message.payload#/${encodePointerSegment(streamId)}`,
    };
  }

  private messageRef(key: string): { $ref: string } {
    return { $ref: `#/channels/${encodePointerSegment(this.channelId)}/messages/${encodePointerSegment(key)}` };
  }

  /** Adds a message to the channel and components (once per distinct message) and returns its key in the channel. */
  private writeMessage(
    name: string,
    form: WireForm,
    extra: { summary?: string | undefined; description?: string | undefined; correlationId?: AsyncAPICorrelationId | undefined },
  ): string {
    const signature = JSON.stringify([name, form.contentType, form.schema, extra.correlationId?.location]);
    const known = this.known.get(signature);
    if (known !== undefined) return known;
    const key = freeKey(componentKey(name), this.channel.messages);
    const componentName = freeKey(componentKey(`${this.channelId}.${key}`), this.document.components.messages);
    const message: AsyncAPIMessage = {
      name,
      contentType: form.contentType,
      payload: this.schemas.add(componentName, form.schema),
    };
    if (extra.summary !== undefined) message.summary = extra.summary;
    if (extra.description !== undefined) message.description = extra.description;
    if (extra.correlationId !== undefined) message.correlationId = extra.correlationId;
    this.document.components.messages[componentName] = message;
    this.channel.messages[key] = { $ref: `#/components/messages/${encodePointerSegment(componentName)}` };
    this.known.set(signature, key);
    return key;
  }
}

/**
 * An AsyncAPI 3.0.0 document (a plain object, ready for JSON.stringify) describing the
 * services attached to a listener: a channel per path, a message per dispatcher value and per
 * generic handler, a `receive` operation for each with the `reply` declared by
 * `bind(…, { reply })`. Services attached without `describe` get text and binary messages.
 */
export function toAsyncAPI(listener: DescribableListener, options: AsyncAPIOptions = {}): AsyncAPIDocument {
  const schemas = new SchemaComponents();
  const info: AsyncAPIDocument["info"] = { title: options.title ?? "WebSocket API", version: options.version ?? "1.0.0" };
  if (options.description !== undefined) info.description = options.description;
  const servers =
    options.servers === undefined
      ? undefined
      : Object.fromEntries(Object.entries(options.servers).map(([name, server]) => [name.replace(/[^\w-]+/g, "_"), serverObject(server)]));
  const document: AsyncAPIDocument = {
    asyncapi: "3.0.0",
    info,
    ...(servers === undefined ? {} : { servers }),
    defaultContentType: "application/json",
    channels: {},
    operations: {},
    components: { messages: {}, schemas: schemas.schemas },
  };
  for (const [path, upgradeService] of listener.attachments()) {
    const channelId = freeKey(channelIdFor(path), document.channels);
    const writer = new ChannelWriter(document, schemas, channelId, path, upgradeService, options.jsonSchema);
    document.channels[channelId] = writer.channel;
    writer.write();
  }
  return document;
}
