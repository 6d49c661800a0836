import type { PeerCertificate } from "node:tls";
import { type CompressionOptions, type ResolvedCompression, resolveCompression } from "../connection/compression.ts";
import type { WebSocketError } from "../errors.ts";
import { DEFAULT_MAX_FRAGMENTS } from "../protocol/frame-parser.ts";
import type { Caller, RemoteAddress } from "./caller.ts";

/**
 * The events of one connection (SPEC §4). Every method is optional and may be async; what
 * a handler returns is sent back (text, bytes, JSON, a close frame, or a stream).
 * Custom-dispatch methods (`onHeartbeat`, …) sit beside these.
 */
export interface ServiceMethods {
  /** Headers added to the 101 response. */
  readonly customHeaders?: Readonly<Record<string, string>>;
  onOpen?(caller: Caller): unknown;
  onTextMessage?(caller: Caller, text: string): unknown;
  onBinaryMessage?(caller: Caller, data: Uint8Array): unknown;
  onMessage?(caller: Caller, data: unknown): unknown;
  onPing?(caller: Caller, data: Uint8Array): unknown;
  onPong?(caller: Caller, data: Uint8Array): unknown;
  onIdleTimeout?(caller: Caller): unknown;
  onClose?(caller: Caller, statusCode: number, reason: string): unknown;
  onError?(caller: Caller, error: WebSocketError): unknown;
}

/**
 * A service: an object with some of the methods above, and custom-dispatch ones beside them.
 * The `object &` lets a class whose only methods are custom ones (`onSubscribe`) implement
 * it, which an interface of optional members alone would refuse as having nothing in common.
 */
export type Service = object & ServiceMethods;

/** A service written as an object literal, custom methods and all. */
export type ServiceLiteral = ServiceMethods & { readonly [method: `on${string}`]: unknown };

/** Who authenticated on the upgrade (SPEC §9.2). */
export interface Principal {
  readonly userId: string;
  readonly scopes: readonly string[];
  readonly claims?: Readonly<Record<string, unknown>>;
}

/** What an upgrade service sees of the HTTP request (SPEC §3). */
export interface UpgradeRequest {
  readonly method: string;
  /** The request path, without its query. */
  readonly path: string;
  /** Values of the `{name}` segments of the attach path. */
  readonly params: Readonly<Record<string, string>>;
  readonly query: URLSearchParams;
  readonly headers: Headers;
  readonly cookies: ReadonlyMap<string, string>;
  readonly remoteAddress: RemoteAddress;
  readonly secure: boolean;
  /** The client's certificate under mutual TLS. */
  readonly peerCertificate: PeerCertificate | undefined;
  /** Who authenticated, when the service has `auth`. */
  readonly principal: Principal | undefined;
}

export interface ServiceConfig {
  /** Sub-protocols this service speaks; the first the client offers that is listed wins. */
  subProtocols?: readonly string[];
  /** Seconds without a frame read or written before `onIdleTimeout`; 0: never. [0] */
  idleTimeout?: number;
  /** Inbound frame limit (over it: close 1009) and outbound fragment size. [65536] */
  maxFrameSize?: number;
  /** Inbound message limit across fragments (over it: close 1009). [16 MiB] */
  maxMessageSize?: number;
  /** Most frames one inbound message may have (over it: close 1008); 0 or less: no limit. [16384] */
  maxFragments?: number;
  /** Whether schemas validate bound messages. [true] */
  validation?: boolean;
  /** The JSON field whose value chooses the custom method (`{"event":"heartbeat"}` → `onHeartbeat`). */
  dispatcherKey?: string;
  /** The JSON field copied from a request into every object sent back for it. */
  dispatcherStreamId?: string;
  /** Explicit dispatcher value → method name. */
  dispatcherMapping?: Readonly<Record<string, string>>;
  /** Seconds to wait for the peer's close frame after ours. [60] */
  connectionClosureTimeout?: number;
  /** Origins whose browser pages may connect; ["*"] for all. [same origin, or no Origin header] */
  allowedOrigins?: readonly string[];
  /** Unsent bytes per connection beyond which writes wait. [16 MiB] */
  maxQueuedBytes?: number;
  /** Seconds between pings; no pong before the next one closes with 1011. [0: none] */
  pingInterval?: number;
  /** How permessage-deflate is negotiated and run, when the listener's `webSocketCompressionEnabled` allows it. */
  compression?: CompressionOptions;
}

export type UpgradeResult = Service | ServiceLiteral | Error;

/** What is attached at a path: its configuration and the function that accepts or refuses upgrades. */
export interface UpgradeService {
  config?: ServiceConfig;
  upgrade(request: UpgradeRequest): UpgradeResult | Promise<UpgradeResult>;
  /**
   * A service like the ones `upgrade` returns (an instance, or a class with a no-argument
   * constructor): its methods and bound schemas describe the path in `toAsyncAPI`.
   */
  describe?: Service | (new () => Service);
}

/** ServiceConfig with every default filled in. */
export interface ResolvedServiceConfig {
  subProtocols: readonly string[];
  idleTimeout: number;
  maxFrameSize: number;
  maxMessageSize: number;
  maxFragments: number;
  validation: boolean;
  dispatcherKey: string | undefined;
  dispatcherStreamId: string | undefined;
  dispatcherMapping: Readonly<Record<string, string>>;
  connectionClosureTimeout: number;
  allowedOrigins: readonly string[] | undefined;
  maxQueuedBytes: number;
  pingInterval: number;
  compression: ResolvedCompression;
}

const MIB = 1024 * 1024;

export function resolveServiceConfig(config: ServiceConfig = {}): ResolvedServiceConfig {
  const maxFrameSize = config.maxFrameSize ?? 65536;
  const resolved: ResolvedServiceConfig = {
    subProtocols: config.subProtocols ?? [],
    idleTimeout: config.idleTimeout ?? 0,
    maxFrameSize: maxFrameSize > 0 ? maxFrameSize : 65536,
    maxMessageSize: config.maxMessageSize ?? 16 * MIB,
    maxFragments: config.maxFragments ?? DEFAULT_MAX_FRAGMENTS,
    validation: config.validation ?? true,
    dispatcherKey: config.dispatcherKey,
    dispatcherStreamId: config.dispatcherStreamId,
    dispatcherMapping: config.dispatcherMapping ?? {},
    connectionClosureTimeout: config.connectionClosureTimeout ?? 60,
    allowedOrigins: config.allowedOrigins,
    maxQueuedBytes: config.maxQueuedBytes ?? 16 * MIB,
    pingInterval: config.pingInterval ?? 0,
    compression: resolveCompression(config.compression, "server"),
  };
  for (const key of ["idleTimeout", "pingInterval", "maxQueuedBytes"] as const) {
    if (!(resolved[key] >= 0)) throw new RangeError(`ServiceConfig.${key} must be 0 or more, got ${resolved[key]}`);
  }
  if (!(resolved.connectionClosureTimeout >= 0 || resolved.connectionClosureTimeout === -1)) {
    throw new RangeError(`ServiceConfig.connectionClosureTimeout must be 0 or more, or -1 for no limit`);
  }
  return resolved;
}
