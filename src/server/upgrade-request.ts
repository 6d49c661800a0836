import type { IncomingMessage } from "node:http";
import type { TLSSocket } from "node:tls";
import { headersFromRaw } from "../protocol/handshake.ts";
import type { UpgradeRequest } from "./service.ts";

/** Builds what the service sees from Node's request. */
export function createUpgradeRequest(
  request: IncomingMessage,
  path: string,
  query: string,
  params: Record<string, string>,
): UpgradeRequest {
  const headers = headersFromRaw(request.rawHeaders);
  const socket = request.socket;
  const secure = (socket as Partial<TLSSocket>).encrypted === true;
  return {
    method: request.method ?? "GET",
    path,
    params,
    query: new URLSearchParams(query),
    headers,
    cookies: parseCookies(headers.get("cookie")),
    // Asking the socket for its peer makes Node cache it on the socket for the connection's
    // whole life: only pay for that when the service looks.
    get remoteAddress() {
      return { host: socket.remoteAddress ?? "", port: socket.remotePort ?? 0 };
    },
    secure,
    peerCertificate: secure ? (socket as TLSSocket).getPeerCertificate() : undefined,
    principal: undefined,
  };
}

/** `Cookie: a=1; b=2` → Map; first occurrence of a name wins (RFC 6265 §5.4 order). */
export function parseCookies(header: string | null): Map<string, string> {
  const cookies = new Map<string, string>();
  if (header === null) return cookies;
  for (const pair of header.split(";")) {
    const eq = pair.indexOf("=");
    if (eq < 0) continue;
    const name = pair.slice(0, eq).trim();
    let value = pair.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1);
    if (name !== "" && !cookies.has(name)) cookies.set(name, value);
  }
  return cookies;
}
