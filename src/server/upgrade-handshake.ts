import type { IncomingHttpHeaders, IncomingMessage } from "node:http";
import { hasToken, isValidKey, WEBSOCKET_VERSION } from "../protocol/handshake.ts";

/** An HTTP answer that refuses an upgrade. */
export interface Refusal {
  status: number;
  body: string;
  headers?: Record<string, string>;
}

/** RFC 6455 §4.2.1 checks of the client's opening handshake, in the order SPEC §2 lists them. */
export function checkOpeningHandshake(method: string | undefined, headers: IncomingHttpHeaders): Refusal | undefined {
  if (method !== "GET") return { status: 400, body: "WebSocket upgrade requests must use GET" };
  if (!hasToken(headers.upgrade, "websocket")) {
    return { status: 426, body: "Upgrade to websocket required", headers: { Upgrade: "websocket" } };
  }
  if (!hasToken(headers.connection, "upgrade")) {
    return { status: 400, body: "The Connection header must list upgrade" };
  }
  if (headers["sec-websocket-version"] !== WEBSOCKET_VERSION) {
    return {
      status: 426,
      body: "Unsupported WebSocket version: only 13 is supported",
      headers: { "Sec-WebSocket-Version": WEBSOCKET_VERSION },
    };
  }
  if (!isValidKey(headers["sec-websocket-key"])) {
    return { status: 400, body: "Sec-WebSocket-Key must be the base64 encoding of 16 bytes" };
  }
  // A body is read past before the 101 by its Content-Length; a chunked one would need a parser for nothing.
  if (headers["transfer-encoding"] !== undefined) {
    return { status: 400, body: "An upgrade request cannot have a chunked body" };
  }
  return undefined;
}

/** The size of a request's head as sent: request line, header lines and the blank line. */
export function headSize(request: IncomingMessage): number {
  let size = `${request.method ?? ""} ${request.url ?? ""} HTTP/${request.httpVersion}\r\n\r\n`.length;
  const raw = request.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) size += raw[i]!.length + raw[i + 1]!.length + 4;
  return size;
}

/**
 * Browsers send Origin; a page may only connect from the server's own origin unless the
 * service lists it (or "*"). Clients that send no Origin are not browsers and pass.
 */
export function isOriginAllowed(
  origin: string | undefined,
  host: string | undefined,
  secure: boolean,
  allowed: readonly string[] | undefined,
): boolean {
  if (origin === undefined) return true;
  const wanted = normalizeOrigin(origin);
  if (allowed !== undefined && (allowed.includes("*") || allowed.some((entry) => normalizeOrigin(entry) === wanted))) return true;
  if (host === undefined) return false;
  // Same origin is scheme, host and port: a page on http: is not the origin of a wss: listener.
  return wanted === normalizeOrigin(`${secure ? "https" : "http"}://${host}`);
}

function normalizeOrigin(origin: string): string {
  try {
    return new URL(origin).origin;
  } catch {
    return origin.trim().toLowerCase();
  }
}
