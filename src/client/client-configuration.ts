import { type CompressionOptions, type ResolvedCompression, resolveCompression } from "../connection/compression.ts";
import type { Client } from "./client.ts";

export interface ClientCookie {
  name: string;
  value: string;
  /** Sent only for request paths under this one. */
  path?: string;
  /** Sent only to this host or its subdomains. */
  domain?: string;
}

/** Credentials sent with the opening handshake. */
export type ClientAuth = { username: string; password: string } | { token: string };

export interface PingPongHandler {
  /** Answers a ping: return the pong's bytes (or call client.pong()). Without it, pongs are automatic. */
  onPing?(client: Client, data: Uint8Array): Uint8Array | void | Promise<Uint8Array | void>;
  onPong?(client: Client, data: Uint8Array): void | Promise<void>;
}

export interface RetryConfig {
  /** Retries after the first attempt; 0: no limit. [0] */
  maxCount?: number;
  /** Seconds before the first retry. [1] */
  interval?: number;
  /** Each further retry waits this many times longer. [1.0] */
  backOffFactor?: number;
  /** Seconds a retry waits at most. [30] */
  maxWaitInterval?: number;
}

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

export interface ClientConfiguration {
  /** Sub-protocols to offer; the server must pick one of them. [[]] */
  subProtocols?: readonly string[];
  customHeaders?: Readonly<Record<string, string>>;
  /** Seconds a read waits for a message; -1: forever. [-1] */
  readTimeout?: number;
  /** Seconds a write waits for room in the queue; -1: forever. [-1] */
  writeTimeout?: number;
  secureSocket?: ClientSecureSocket;
  /** Inbound frame limit (over it: close 1009) and outbound fragment size. [65536] */
  maxFrameSize?: number;
  /** Whether to offer permessage-deflate. [true] */
  webSocketCompressionEnabled?: boolean;
  /** What permessage-deflate offers and how it runs, when `webSocketCompressionEnabled`. */
  compression?: CompressionOptions;
  /** Seconds allowed for the opening handshake. [300] */
  handShakeTimeout?: number;
  cookies?: readonly ClientCookie[];
  auth?: ClientAuth;
  pingPongHandler?: PingPongHandler;
  retryConfig?: RetryConfig;
  /** Whether schemas validate what readMessage binds. [true] */
  validation?: boolean;
  /** Inbound message limit (over it: close 1009). [16 MiB] */
  maxMessageSize?: number;
  /** Unsent bytes beyond which writes wait, and unread bytes beyond which reading pauses. [16 MiB] */
  maxQueuedBytes?: number;
  /** Whether the socket reads into ferry's buffers (README, performance notes); FERRY_OWN_READS=0 turns it off everywhere. [true] */
  ownReads?: boolean;
  /** Whether the first connection may raise glibc's malloc thresholds for the whole process (README, performance notes); FERRY_MALLOC_TUNING=0 turns it off everywhere. [true] */
  mallocTuning?: boolean;
}

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
  retry: Required<RetryConfig> | undefined;
  validation: boolean;
  maxMessageSize: number;
  maxQueuedBytes: number;
  ownReads: boolean | undefined;
  mallocTuning: boolean | undefined;
}

const MIB = 1024 * 1024;

function seconds(name: string, value: number): number {
  if (!(value >= 0 || value === -1)) throw new RangeError(`ClientConfiguration.${name} must be 0 or more, or -1 for no limit`);
  return value;
}

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
          },
    validation: config.validation ?? true,
    maxMessageSize: config.maxMessageSize ?? 16 * MIB,
    maxQueuedBytes: config.maxQueuedBytes ?? 16 * MIB,
    ownReads: config.ownReads,
    mallocTuning: config.mallocTuning,
  };
  if (resolved.retry !== undefined) {
    const { maxCount, interval, backOffFactor, maxWaitInterval } = resolved.retry;
    if (!(maxCount >= 0 && interval >= 0 && backOffFactor >= 1 && maxWaitInterval >= 0)) {
      throw new RangeError("retryConfig: maxCount, interval and maxWaitInterval must be 0 or more, backOffFactor 1 or more");
    }
  }
  return resolved;
}
