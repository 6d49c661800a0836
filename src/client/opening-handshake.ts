import { readFileSync } from "node:fs";
import { type ClientRequest, type IncomingMessage, request as httpRequest } from "node:http";
import { request as httpsRequest, type RequestOptions } from "node:https";
import type { Socket } from "node:net";
import { ConnectionError, HandshakeTimedOutError, InvalidHandshakeError, SslError } from "../errors.ts";
import { parseExtensionHeader } from "../protocol/extension-header.ts";
import { acceptKey, generateKey, hasToken, headersFromRaw, WEBSOCKET_VERSION } from "../protocol/handshake.ts";
import { acceptDeflateResponse, type DeflateParameters, deflateOffer } from "../protocol/permessage-deflate-negotiation.ts";
import type { ClientCookie, ResolvedClientConfiguration } from "./client-configuration.ts";
import { readRefusal } from "./handshake-refusal.ts";

/** A `Set-Cookie` header of the handshake response, parsed (RFC 6265 §5.2). */
export interface ResponseCookie {
  /** The cookie's name. */
  name: string;
  /** The cookie's value, as sent. */
  value: string;
  /** The `Path` attribute. */
  path?: string;
  /** The `Domain` attribute, without a leading dot. */
  domain?: string;
  /** The `Expires` attribute, as sent (an HTTP date). */
  expires?: string;
  /** The `Max-Age` attribute, in seconds. */
  maxAge?: number;
  /** Whether the cookie has the `Secure` attribute. */
  secure?: boolean;
  /** Whether the cookie has the `HttpOnly` attribute. */
  httpOnly?: boolean;
  /** The `SameSite` attribute, as sent ("Strict", "Lax", "None"). */
  sameSite?: string;
}

/** The handshake's HTTP response, as `getHttpResponse()` returns it. */
export interface HttpResponse {
  /** The status code: 101 for a connected client. */
  status: number;
  /** The reason phrase of the status line ("Switching Protocols"). */
  statusText: string;
  /** The response headers (WHATWG `Headers`: names case-insensitive). */
  headers: Headers;
  /** The cookies of its `Set-Cookie` headers. */
  cookies: ResponseCookie[];
}

/** @internal */
export interface Handshake {
  socket: Socket;
  head: Buffer;
  response: HttpResponse;
  subProtocol: string | undefined;
  /** What permessage-deflate runs with, when the server accepted the offer. */
  deflate: DeflateParameters | undefined;
}

/** @internal Checks a `ws:`/`wss:` URL and returns it parsed. */
export function parseWebSocketUrl(url: string | URL): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (cause) {
    throw new ConnectionError(`Malformed WebSocket URL: ${String(url)}`, { cause });
  }
  if (parsed.protocol !== "ws:" && parsed.protocol !== "wss:") {
    throw new ConnectionError(`Unsupported URL scheme "${parsed.protocol}" in ${parsed.href}: use ws: or wss:`);
  }
  if (parsed.hash !== "") throw new ConnectionError(`A WebSocket URL has no fragment: ${parsed.href}`);
  return parsed;
}

/**
 * @internal RFC 6455 §4.1: sends the opening handshake and checks the server's answer to the
 * letter. `signal` aborts it (a close() during a reconnect): TCP is dropped at once.
 */
export function openingHandshake(url: URL, config: ResolvedClientConfiguration, signal?: AbortSignal): Promise<Handshake> {
  const key = generateKey();
  const headers: Record<string, string> = {
    ...config.customHeaders,
    Connection: "Upgrade",
    Upgrade: "websocket",
    "Sec-WebSocket-Key": key,
    "Sec-WebSocket-Version": WEBSOCKET_VERSION,
  };
  if (config.subProtocols.length > 0) headers["Sec-WebSocket-Protocol"] = config.subProtocols.join(", ");
  if (config.compression !== undefined) headers["Sec-WebSocket-Extensions"] = deflateOffer(config.compression.request);
  const cookie = cookieHeader(config.cookies, url);
  if (cookie !== undefined) headers["Cookie"] = cookie;
  const auth = config.auth;
  if (auth !== undefined) {
    headers["Authorization"] =
      "token" in auth ? `Bearer ${auth.token}` : `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString("base64")}`;
  }

  const secure = url.protocol === "wss:";
  const options: RequestOptions = {
    hostname: url.hostname.replace(/^\[|\]$/g, ""),
    port: url.port === "" ? (secure ? 443 : 80) : Number(url.port),
    path: url.pathname + url.search,
    headers,
    agent: false,
    ...(secure ? tlsOptions(config, url) : {}),
  };

  if (signal?.aborted === true) return Promise.reject(aborted(url, signal));
  return new Promise<Handshake>((resolve, reject) => {
    let settled = false;
    const fail = (error: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener("abort", abort);
      reject(error);
    };
    const abort = (): void => {
      fail(aborted(url, signal!));
      request.destroy();
    };
    signal?.addEventListener("abort", abort, { once: true });
    const request: ClientRequest = (secure ? httpsRequest : httpRequest)(options);
    const timer =
      config.handShakeTimeout > 0
        ? setTimeout(() => {
            fail(new HandshakeTimedOutError(`Opening handshake with ${url.href} timed out after ${config.handShakeTimeout} seconds`));
            request.destroy();
          }, config.handShakeTimeout * 1000)
        : undefined;

    request.on("upgrade", (res: IncomingMessage, socket: Socket, head: Buffer) => {
      const problem = checkResponse(res, key, config);
      const deflate = problem === undefined ? checkExtensions(res, config) : undefined;
      if (typeof problem === "string" || typeof deflate === "string") {
        socket.destroy();
        fail(new InvalidHandshakeError((problem ?? deflate) as string, { status: res.statusCode }));
        return;
      }
      if (settled) {
        socket.destroy();
        return;
      }
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener("abort", abort);
      const protocol = res.headers["sec-websocket-protocol"];
      resolve({
        socket,
        head,
        response: describeResponse(res),
        subProtocol: protocol === undefined || protocol === "" ? undefined : protocol,
        deflate,
      });
    });
    request.on("response", (res: IncomingMessage) => {
      if (res.statusCode === 101) {
        // Node reports a 101 as an upgrade only when it has both Upgrade and Connection: upgrade;
        // say which one is wrong rather than "Invalid handshake response: 101".
        fail(new InvalidHandshakeError(checkResponse(res, key, config) ?? "Invalid handshake response: 101 without an upgrade", { status: 101 }));
        request.destroy();
        return;
      }
      // Whatever the body does, the answer is final: the connection is closed once the error is built.
      void readRefusal(res).then((error) => {
        fail(error);
        request.destroy();
      });
    });
    request.on("error", (error: NodeJS.ErrnoException) => {
      const tls = error.code !== undefined && (error.code.startsWith("ERR_TLS") || error.code.includes("CERT") || error.code.startsWith("ERR_SSL"));
      fail(
        tls
          ? new SslError(`TLS handshake with ${url.host} failed: ${error.message}`, { cause: error })
          : new ConnectionError(`Cannot connect to ${url.href}: ${error.message}`, { cause: error }),
      );
    });
    request.end();
  });
}

function aborted(url: URL, signal: AbortSignal): ConnectionError {
  return new ConnectionError(`Opening handshake with ${url.href} aborted`, { cause: signal.reason });
}

function checkResponse(res: IncomingMessage, key: string, config: ResolvedClientConfiguration): string | undefined {
  if (res.statusCode !== 101) return `Invalid handshake response: ${res.statusCode}`;
  if (!hasToken(res.headers.upgrade, "websocket")) return "Invalid handshake response: the Upgrade header is not websocket";
  if (!hasToken(res.headers.connection, "upgrade")) return "Invalid handshake response: the Connection header does not list upgrade";
  if (res.headers["sec-websocket-accept"] !== acceptKey(key)) return "Invalid handshake response: wrong Sec-WebSocket-Accept";
  const protocol = res.headers["sec-websocket-protocol"];
  if (protocol !== undefined && protocol !== "") {
    if (!config.subProtocols.includes(protocol)) return `Invalid subprotocol: the server chose "${protocol}", which was not offered`;
  } else if (config.subProtocols.length > 0) {
    return `Invalid subprotocol: the server chose none of ${config.subProtocols.join(", ")}`;
  }
  return undefined;
}

/**
 * RFC 6455 §4.1 and RFC 7692 §5: the server may only accept what was offered, as it was
 * offered. Returns the agreed parameters, undefined for none, or why the answer is wrong.
 */
function checkExtensions(res: IncomingMessage, config: ResolvedClientConfiguration): DeflateParameters | undefined | string {
  const header = res.headers["sec-websocket-extensions"];
  if (header === undefined) return undefined;
  const extensions = parseExtensionHeader(header);
  if (extensions === undefined) return `Invalid handshake response: malformed Sec-WebSocket-Extensions "${header}"`;
  if (extensions.length === 0) return undefined;
  if (config.compression === undefined) return `Invalid handshake response: extension "${header}" was not offered`;
  const outcome = acceptDeflateResponse(extensions, config.compression.request);
  return typeof outcome === "string" ? `Invalid handshake response: ${outcome}` : outcome;
}

function describeResponse(res: IncomingMessage): HttpResponse {
  const headers = headersFromRaw(res.rawHeaders);
  return {
    status: res.statusCode ?? 101,
    statusText: res.statusMessage ?? "",
    headers,
    cookies: (res.headers["set-cookie"] ?? []).map(parseSetCookie).filter((c): c is ResponseCookie => c !== undefined),
  };
}

/** @internal RFC 6265 §5.2, enough of it to report cookies to the caller. */
export function parseSetCookie(line: string): ResponseCookie | undefined {
  const [pair = "", ...attributes] = line.split(";");
  const eq = pair.indexOf("=");
  if (eq <= 0) return undefined;
  const cookie: ResponseCookie = { name: pair.slice(0, eq).trim(), value: pair.slice(eq + 1).trim() };
  for (const attribute of attributes) {
    const at = attribute.indexOf("=");
    const name = (at < 0 ? attribute : attribute.slice(0, at)).trim().toLowerCase();
    const value = at < 0 ? "" : attribute.slice(at + 1).trim();
    if (name === "path") cookie.path = value;
    else if (name === "domain") cookie.domain = value.replace(/^\./, "");
    else if (name === "expires") cookie.expires = value;
    else if (name === "max-age" && /^-?\d+$/.test(value)) cookie.maxAge = Number(value);
    else if (name === "secure") cookie.secure = true;
    else if (name === "httponly") cookie.httpOnly = true;
    else if (name === "samesite") cookie.sameSite = value;
  }
  return cookie;
}

/** The configured cookies that apply to this URL, as a Cookie header. */
function cookieHeader(cookies: readonly ClientCookie[], url: URL): string | undefined {
  const host = url.hostname.toLowerCase();
  const applicable = cookies.filter((cookie) => {
    if (cookie.domain !== undefined) {
      const domain = cookie.domain.replace(/^\./, "").toLowerCase();
      if (host !== domain && !host.endsWith(`.${domain}`)) return false;
    }
    if (cookie.path !== undefined && cookie.path !== "/") {
      const path = cookie.path.replace(/\/$/, "");
      if (url.pathname !== path && !url.pathname.startsWith(`${path}/`)) return false;
    }
    return true;
  });
  return applicable.length === 0 ? undefined : applicable.map((c) => `${c.name}=${c.value}`).join("; ");
}

function tlsOptions(config: ResolvedClientConfiguration, url: URL): RequestOptions {
  const secure = config.secureSocket ?? {};
  const options: RequestOptions = {};
  try {
    if (secure.enable === false) options.rejectUnauthorized = false;
    if (secure.cert !== undefined) options.ca = readFileSync(secure.cert);
    if (secure.key !== undefined) {
      options.cert = readFileSync(secure.key.certFile);
      options.key = readFileSync(secure.key.keyFile);
      if (secure.key.keyPassword !== undefined) options.passphrase = secure.key.keyPassword;
    }
  } catch (cause) {
    throw new SslError(`Cannot read the client's TLS files: ${(cause as Error).message}`, { cause });
  }
  if (secure.verifyHostName === false) options.checkServerIdentity = () => undefined;
  options.servername = secure.serverName ?? (/^[\d.:[\]]+$/.test(url.hostname) ? "" : url.hostname);
  return options;
}
