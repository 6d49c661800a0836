import type { IncomingMessage } from "node:http";
import type { PeerCertificate, TLSSocket } from "node:tls";
import { headersFromRaw } from "../protocol/handshake.ts";
import type { RemoteAddress } from "./caller.ts";
import type { Principal } from "../auth/principal.ts";
import type { UpgradeRequest } from "./service.ts";

/** Builds what the service sees from Node's request. */
export function createUpgradeRequest(
  request: IncomingMessage,
  path: string,
  query: string,
  params: Record<string, string>,
  principal: Principal | undefined,
): UpgradeRequest {
  return new NodeUpgradeRequest(request, path, query, params, principal);
}

/**
 * Headers, cookies, query and peer are built on first use: an upgrade whose service never
 * looks at them (an echo, a feed) skips that work, and never loads the WHATWG \`Headers\`
 * implementation at all, which is a large module whose first use makes V8 grow its young
 * generation for good.
 */
class NodeUpgradeRequest implements UpgradeRequest {
  readonly method: string;
  readonly secure: boolean;
  readonly peerCertificate: PeerCertificate | undefined;
  private parsedHeaders: Headers | undefined;
  private parsedCookies: Map<string, string> | undefined;
  private parsedQuery: URLSearchParams | undefined;

  constructor(
    private readonly request: IncomingMessage,
    readonly path: string,
    private readonly rawQuery: string,
    readonly params: Record<string, string>,
    readonly principal: Principal | undefined,
  ) {
    this.method = request.method ?? "GET";
    const socket = request.socket;
    this.secure = (socket as Partial<TLSSocket>).encrypted === true;
    this.peerCertificate = this.secure ? (socket as TLSSocket).getPeerCertificate() : undefined;
  }

  get headers(): Headers {
    return (this.parsedHeaders ??= headersFromRaw(this.request.rawHeaders));
  }

  get cookies(): ReadonlyMap<string, string> {
    return (this.parsedCookies ??= parseCookies(cookieHeader(this.request.rawHeaders)));
  }

  get query(): URLSearchParams {
    return (this.parsedQuery ??= new URLSearchParams(this.rawQuery));
  }

  /**
   * Asking the socket for its peer makes Node cache it on the socket for the connection's
   * whole life: only pay for that when the service looks.
   */
  get remoteAddress(): RemoteAddress {
    const socket = this.request.socket;
    return { host: socket.remoteAddress ?? "", port: socket.remotePort ?? 0 };
  }
}

/** Every Cookie header, joined with "; " as RFC 9113 §8.2.3 does for split cookie fields. */
function cookieHeader(raw: readonly string[]): string | null {
  let value: string | null = null;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() === "cookie") value = value === null ? raw[i + 1]! : `${value}; ${raw[i + 1]!}`;
  }
  return value;
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
