import type { PeerCertificate } from "node:tls";
import type { ListenerAuthConfig } from "../auth/listener-auth.ts";
import type { Principal } from "../auth/principal.ts";
import { type CompressionOptions, type ResolvedCompression, resolveCompression } from "../connection/compression.ts";
import type { WebSocketError } from "../errors.ts";
import { isTimerSeconds, MAX_TIMER_SECONDS } from "../peer/peer-handle.ts";
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
  /** The connection is open (the 101 has gone out): greet, subscribe, start per-connection state. */
  onOpen?(caller: Caller): unknown;
  /**
   * A whole text message (fragments joined, UTF-8 checked). Also receives text messages a
   * `dispatcherKey` sent nowhere else. What it returns is sent back.
   */
  onTextMessage?(caller: Caller, text: string): unknown;
  /** A whole binary message (fragments joined). What it returns is sent back. */
  onBinaryMessage?(caller: Caller, data: Uint8Array): unknown;
  /**
   * Any message no other handler took, bound as SPEC §5 says: JSON by default, or what
   * `bind(kindOrSchema, handler)` declares. A message that does not bind goes to
   * `onMessageError`, else `onError`, else closes with 1003.
   */
  onMessage?(caller: Caller, data: unknown): unknown;
  /**
   * A ping came (payload of at most 125 bytes). Return bytes (or call `caller.pong()`) to
   * choose the pong; when it settles having done neither, the automatic pong goes out. Without
   * this method a pong with the same payload goes out at once.
   */
  onPing?(caller: Caller, data: Uint8Array): unknown;
  /** A pong came (an answer to `caller.ping()` or to `pingInterval`, or unsolicited). Its return value is ignored. */
  onPong?(caller: Caller, data: Uint8Array): unknown;
  /**
   * No data frame was read or written for `idleTimeout` seconds (pings and pongs do not
   * count); called again after each further idle period. The connection closes only if this
   * returns a close frame.
   */
  onIdleTimeout?(caller: Caller): unknown;
  /**
   * The connection is over: `statusCode` is the peer's close code (1005 when its frame had
   * none, 1006 when TCP dropped without one), or the code ferry sent when it failed the
   * connection; `reason` is the reason ("" when none). Called once; its return value is ignored.
   */
  onClose?(caller: Caller, statusCode: number, reason: string): unknown;
  /**
   * Something went wrong on this connection: a protocol violation (after its close frame:
   * `CorruptedFrameError`, `PayloadTooLargeError`), a message that did not bind, or a handler
   * that threw (the thrown error, or a `WebSocketError` whose `cause` is the thrown value).
   * The connection keeps working unless the error closed it; returning a close frame closes it.
   */
  onError?(caller: Caller, error: WebSocketError): unknown;
}

/** @internal The handlers of connection events (SPEC §4), which a dispatcher value never selects by the name rule. */
export const EVENT_HANDLERS: ReadonlySet<string> = new Set([
  "onOpen",
  "onClose",
  "onError",
  "onPing",
  "onPong",
  "onIdleTimeout",
  "onTextMessage",
  "onBinaryMessage",
  "onMessage",
]);

/**
 * Members that mark a value as something other than a service: a thenable, an iterable
 * (Map, Set, an array) or a function (a service class instead of an instance). TypeScript
 * cannot require "at least one `on…` method" of a class, so this rules out what `upgrade()`
 * most often returns by mistake.
 */
export interface NotAService {
  /** A promise is not a service: `upgrade()` may be async, and ferry awaits it. */
  readonly then?: never;
  /** A Map, a Set or an array is not a service. */
  readonly [Symbol.iterator]?: never;
  /** A class or function is not a service: return an instance. */
  readonly apply?: never;
}

/**
 * A service: an object with some of the methods above, and custom-dispatch ones beside them.
 * The `object &` lets a class whose only methods are custom ones (`onSubscribe`) implement
 * it, which an interface of optional members alone would refuse as having nothing in common;
 * `NotAService` keeps that from letting a Map, an array or a class itself through.
 */
export type Service = object & ServiceMethods & NotAService;

/** A service written as an object literal, custom methods and all. */
export type ServiceLiteral = ServiceMethods & { readonly [method: `on${string}`]: unknown };

/** What an upgrade service sees of the HTTP request (SPEC §3). */
export interface UpgradeRequest {
  /** The HTTP method: always "GET" by the time `upgrade()` sees it. */
  readonly method: string;
  /** The request path, without its query. */
  readonly path: string;
  /** Values of the `{name}` segments of the attach path. */
  readonly params: Readonly<Record<string, string>>;
  /** The query string, parsed. */
  readonly query: URLSearchParams;
  /** The request headers (WHATWG `Headers`: names case-insensitive). */
  readonly headers: Headers;
  /** The `Cookie` header's cookies, name → value. */
  readonly cookies: ReadonlyMap<string, string>;
  /** The client's address, as the socket sees it (no `X-Forwarded-For`). */
  readonly remoteAddress: RemoteAddress;
  /** Whether the request came over TLS. */
  readonly secure: boolean;
  /** The client's certificate under mutual TLS. */
  readonly peerCertificate: PeerCertificate | undefined;
  /** Who authenticated, when the service has `auth`. */
  readonly principal: Principal | undefined;
}

/** How a service attached with `listener.attach()` runs its connections (SPEC §3). Sizes in bytes, times in seconds. */
export interface ServiceConfig {
  /** Sub-protocols this service speaks; the first the client offers that is listed wins. */
  subProtocols?: readonly string[];
  /** Seconds without a data frame read or written before `onIdleTimeout`; 0: never; at most 2147483.647. [0] */
  idleTimeout?: number;
  /** Inbound frame limit (over it: close 1009) and outbound fragment size. [65536] */
  maxFrameSize?: number;
  /** Inbound message limit across fragments (over it: close 1009). [16 MiB] */
  maxMessageSize?: number;
  /** Most frames one inbound message may have (over it: close 1008); 0: no limit. [16384] */
  maxFragments?: number;
  /** Whether schemas validate bound messages. [true] */
  validation?: boolean;
  /** The JSON field whose value chooses the custom method (`{"event":"heartbeat"}` → `onHeartbeat`). */
  dispatcherKey?: string;
  /** The JSON field copied from a request into every object sent back for it. */
  dispatcherStreamId?: string;
  /** Explicit dispatcher value → method name. */
  dispatcherMapping?: Readonly<Record<string, string>>;
  /** Seconds to wait for the peer's close frame after ours; -1: forever; at most 2147483.647. [60] */
  connectionClosureTimeout?: number;
  /** Origins whose browser pages may connect; ["*"] for all. [same origin, or no Origin header] */
  allowedOrigins?: readonly string[];
  /** Unsent bytes per connection beyond which writes wait. [16 MiB] */
  maxQueuedBytes?: number;
  /** Seconds between pings; no pong before the next one closes with 1011; at most 2147483.647. [0: none] */
  pingInterval?: number;
  /** How permessage-deflate is negotiated and run, when the listener's `webSocketCompressionEnabled` allows it. */
  compression?: CompressionOptions;
  /**
   * Logins the upgrade requires (SPEC §9.2), tried in list order before `upgrade()` runs:
   * 401 or 403 without a fitting `Authorization`, else `UpgradeRequest.principal`. Files are read at attach.
   */
  auth?: readonly ListenerAuthConfig[];
}

/**
 * What `upgrade()` gives back: a service accepts the connection (101); an `UpgradeError`,
 * `AuthnError` or `AuthzError` refuses it with its status, any other `Error` with 400.
 */
export type UpgradeResult = Service | ServiceLiteral | Error;

/** What is attached at a path: its configuration and the function that accepts or refuses upgrades. */
export interface UpgradeService {
  /** How the path's connections run: limits, timeouts, sub-protocols, dispatch. [all defaults] */
  config?: ServiceConfig;
  /**
   * Decides each upgrade request to the path: return (or resolve to) a service to accept,
   * an error to refuse (see {@link UpgradeResult}). Throwing an `UpgradeError`, `AuthnError`
   * or `AuthzError` refuses the same way; anything else thrown answers 500 and is logged.
   * Bounded by the listener's `timeout` (408 past it).
   */
  upgrade(request: UpgradeRequest): UpgradeResult | Promise<UpgradeResult>;
  /**
   * A service like the ones `upgrade` returns (an instance, or a class with a no-argument
   * constructor): its methods and bound schemas describe the path in `toAsyncAPI`.
   */
  describe?: Service | (new () => Service);
}

/** @internal ServiceConfig with every default filled in. */
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

/** @internal */
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
  if (!(resolved.maxQueuedBytes >= 0)) throw new RangeError(`ServiceConfig.maxQueuedBytes must be 0 or more, got ${resolved.maxQueuedBytes}`);
  if (!(Number.isInteger(resolved.maxFragments) && resolved.maxFragments >= 0)) throw new RangeError(`ServiceConfig.maxFragments must be an integer, 0 (no limit) or more, got ${resolved.maxFragments}`);
  for (const key of ["idleTimeout", "pingInterval"] as const) {
    if (!isTimerSeconds(resolved[key])) {
      throw new RangeError(`ServiceConfig.${key} must be 0 (none) to ${MAX_TIMER_SECONDS} seconds, got ${resolved[key]}`);
    }
  }
  if (!(isTimerSeconds(resolved.connectionClosureTimeout) || resolved.connectionClosureTimeout === -1)) {
    throw new RangeError(
      `ServiceConfig.connectionClosureTimeout must be 0 to ${MAX_TIMER_SECONDS} seconds, or -1 for no limit, got ${resolved.connectionClosureTimeout}`,
    );
  }
  return resolved;
}
