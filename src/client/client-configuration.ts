import { type CompressionOptions, type ResolvedCompression, resolveCompression } from "../connection/compression.ts";
import { isTimerSeconds, MAX_TIMER_SECONDS } from "../peer/peer-handle.ts";
import { DEFAULT_MAX_FRAGMENTS } from "../protocol/frame-parser.ts";
import type { Client } from "./client.ts";

/** A cookie the client sends with its opening handshake, where its `path` and `domain` apply. */
export interface ClientCookie {
  /** The cookie's name. */
  name: string;
  /** The cookie's value, sent as is. */
  value: string;
  /** Sent only for request paths under this one. */
  path?: string;
  /** Sent only to this host or its subdomains. */
  domain?: string;
}

/** Credentials sent with the opening handshake: `Authorization: Basic` for a user name and password, `Bearer` for a token. */
export type ClientAuth = { username: string; password: string } | { token: string };

/** The client's hooks for control frames (SPEC §10); the client itself is passed as the caller. */
export interface PingPongHandler {
  /** Answers a ping: return the pong's bytes (or call client.pong()). Without it, pongs are automatic. */
  onPing?(client: Client, data: Uint8Array): Uint8Array | void | Promise<Uint8Array | void>;
  /** A pong came from the server (an answer to `client.ping()`, or unsolicited). */
  onPong?(client: Client, data: Uint8Array): void | Promise<void>;
}

/**
 * How the client rides over I/O errors (SPEC §10): the first connect retries, and a read or
 * write that meets a lost connection reconnects and carries on. Retry n (from 0) waits
 * `min(interval × backOffFactor^n, maxWaitInterval)` seconds; every reconnect attempt is a
 * retry, and the count runs on across reconnects until a connection has stayed open for
 * `interval` seconds (at least one).
 */
export interface RetryConfig {
  /** Retries after the first attempt, counted across reconnects as above; 0: no limit. [0] */
  maxCount?: number;
  /** Seconds before the first retry. [1] */
  interval?: number;
  /** Each further retry waits this many times longer. [1.0] */
  backOffFactor?: number;
  /** Seconds a retry waits at most. [30] */
  maxWaitInterval?: number;
  /**
   * Close codes from the server that reconnect like a lost connection does: what servers
   * say when they restart, so that a client rides over a deploy. [[1001, 1012, 1013]]
   */
  closeCodes?: readonly number[];
  /**
   * Runs after each reconnect, before the reads and writes that were waiting go on: log in
   * again or re-subscribe here (reads and writes made in it go first). If it throws, the
   * client closes (1011) and the waiting reads and writes reject with that error.
   */
  onReconnect?: (client: Client) => unknown;
}

/** @internal retryConfig with its defaults applied. */
export interface ResolvedRetryConfig {
  maxCount: number;
  interval: number;
  backOffFactor: number;
  maxWaitInterval: number;
  closeCodes: readonly number[];
  onReconnect: ((client: Client) => unknown) | undefined;
}

/** 1001 going away, 1012 service restart, 1013 try again later. */
const DEFAULT_RETRY_CLOSE_CODES: readonly number[] = [1001, 1012, 1013];

/** TLS settings of a `wss:` client. File paths are read when the client connects; an unreadable one rejects with `SslError`. */
export interface ClientSecureSocket {
  /** false: no certificate verification at all. [true] */
  enable?: boolean;
  /** PEM file of the certificate authorities to trust (instead of the system's). */
  cert?: string;
  /** Client certificate and key (PEM files) for mutual TLS. */
  key?: { certFile: string; keyFile: string; keyPassword?: string };
  /** Whether the certificate must name the host. [true] */
  verifyHostName?: boolean;
  /** SNI name, when it differs from the URL's host. */
  serverName?: string;
}

/** Settings of `Client.connect` (SPEC §10). Times in seconds, sizes in bytes. */
export interface ClientConfiguration {
  /** Sub-protocols to offer; the server must pick one of them. [[]] */
  subProtocols?: readonly string[];
  /** Headers added to the opening handshake request (not the WebSocket ones ferry sets). */
  customHeaders?: Readonly<Record<string, string>>;
  /** Seconds a read waits for a message; -1: forever. [-1] */
  readTimeout?: number;
  /** Seconds a write waits for room in the queue; -1: forever. [-1] */
  writeTimeout?: number;
  /** TLS settings for `wss:` URLs. [system certificate authorities, verified] */
  secureSocket?: ClientSecureSocket;
  /** Inbound frame limit (over it: close 1009) and outbound fragment size. [65536] */
  maxFrameSize?: number;
  /** Whether to offer permessage-deflate. [true] */
  webSocketCompressionEnabled?: boolean;
  /** What permessage-deflate offers and how it runs, when `webSocketCompressionEnabled`. */
  compression?: CompressionOptions;
  /** Seconds allowed for the opening handshake. [300] */
  handShakeTimeout?: number;
  /** Cookies sent with the opening handshake, where their `path` and `domain` apply. [[]] */
  cookies?: readonly ClientCookie[];
  /** Credentials sent in the handshake's `Authorization` header. [none] */
  auth?: ClientAuth;
  /** Hooks for the server's pings and pongs. [pongs sent automatically] */
  pingPongHandler?: PingPongHandler;
  /** Reconnects on I/O errors. [no retries] */
  retryConfig?: RetryConfig;
  /** Whether schemas validate what readMessage binds. [true] */
  validation?: boolean;
  /** Inbound message limit (over it: close 1009). [16 MiB] */
  maxMessageSize?: number;
  /** Most frames one inbound message may have (over it: close 1008); 0: no limit. [16384] */
  maxFragments?: number;
  /** Unsent bytes beyond which writes wait, and unread bytes beyond which reading pauses. [16 MiB] */
  maxQueuedBytes?: number;
  /** Whether the socket reads into ferry's buffers (README, performance notes); FERRY_OWN_READS=0 turns it off everywhere. [true] */
  ownReads?: boolean;
  /** Whether the first connection may raise glibc's malloc thresholds for the whole process (README, performance notes); FERRY_MALLOC_TUNING=0 turns it off everywhere. [true] */
  mallocTuning?: boolean;
}

/** @internal */
export interface ResolvedClientConfiguration {
  subProtocols: readonly string[];
  customHeaders: Readonly<Record<string, string>>;
  readTimeout: number;
  writeTimeout: number;
  secureSocket: ClientSecureSocket | undefined;
  maxFrameSize: number;
  /** undefined when compression is off. */
  compression: ResolvedCompression | undefined;
  handShakeTimeout: number;
  cookies: readonly ClientCookie[];
  auth: ClientAuth | undefined;
  pingPongHandler: PingPongHandler | undefined;
  retry: ResolvedRetryConfig | undefined;
  validation: boolean;
  maxMessageSize: number;
  maxFragments: number;
  maxQueuedBytes: number;
  ownReads: boolean | undefined;
  mallocTuning: boolean | undefined;
}

const MIB = 1024 * 1024;

function seconds(name: string, value: number): number {
  // Node's timers take at most MAX_TIMER_SECONDS; a longer delay would fire after 1 ms.
  if (!(isTimerSeconds(value) || value === -1)) {
    throw new RangeError(`ClientConfiguration.${name} must be from 0 to ${MAX_TIMER_SECONDS} seconds, or -1 for no limit`);
  }
  return value;
}

/** @internal */
export function resolveClientConfiguration(config: ClientConfiguration): ResolvedClientConfiguration {
  const maxFrameSize = config.maxFrameSize ?? 65536;
  const retry = config.retryConfig;
  const resolved: ResolvedClientConfiguration = {
    subProtocols: config.subProtocols ?? [],
    customHeaders: config.customHeaders ?? {},
    readTimeout: seconds("readTimeout", config.readTimeout ?? -1),
    writeTimeout: seconds("writeTimeout", config.writeTimeout ?? -1),
    secureSocket: config.secureSocket,
    maxFrameSize: maxFrameSize > 0 ? maxFrameSize : 65536,
    compression: config.webSocketCompressionEnabled === false ? undefined : resolveCompression(config.compression, "client"),
    handShakeTimeout: seconds("handShakeTimeout", config.handShakeTimeout ?? 300),
    cookies: config.cookies ?? [],
    auth: config.auth,
    pingPongHandler: config.pingPongHandler,
    retry:
      retry === undefined
        ? undefined
        : {
            maxCount: retry.maxCount ?? 0,
            interval: retry.interval ?? 1,
            backOffFactor: retry.backOffFactor ?? 1,
            maxWaitInterval: retry.maxWaitInterval ?? 30,
            closeCodes: retry.closeCodes ?? DEFAULT_RETRY_CLOSE_CODES,
            onReconnect: retry.onReconnect,
          },
    validation: config.validation ?? true,
    maxMessageSize: config.maxMessageSize ?? 16 * MIB,
    maxFragments: config.maxFragments ?? DEFAULT_MAX_FRAGMENTS,
    maxQueuedBytes: config.maxQueuedBytes ?? 16 * MIB,
    ownReads: config.ownReads,
    mallocTuning: config.mallocTuning,
  };
  if (!(Number.isInteger(resolved.maxFragments) && resolved.maxFragments >= 0)) throw new RangeError(`ClientConfiguration.maxFragments must be an integer, 0 (no limit) or more, got ${resolved.maxFragments}`);
  if (resolved.retry !== undefined) {
    const { maxCount, interval, backOffFactor, maxWaitInterval } = resolved.retry;
    if (!(maxCount >= 0 && isTimerSeconds(interval) && backOffFactor >= 1 && isTimerSeconds(maxWaitInterval))) {
      throw new RangeError(
        `retryConfig: maxCount must be 0 or more, interval and maxWaitInterval from 0 to ${MAX_TIMER_SECONDS} seconds, backOffFactor 1 or more`,
      );
    }
    const { closeCodes, onReconnect } = resolved.retry;
    if (!Array.isArray(closeCodes) || !closeCodes.every((code) => Number.isInteger(code) && code >= 1000 && code <= 4999)) {
      throw new RangeError("retryConfig.closeCodes must be a list of close codes from 1000 to 4999");
    }
    if (onReconnect !== undefined && typeof onReconnect !== "function") throw new TypeError("retryConfig.onReconnect must be a function");
  }
  return resolved;
}
