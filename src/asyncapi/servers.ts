import type { AsyncAPIServer } from "./document.ts";

/**
 * A server object from a URL ("wss://api.example.com/v1" → host, protocol "wss", pathname
 * "/v1") or as given. A URL that does not parse throws a TypeError naming it.
 */
export function serverObject(server: string | AsyncAPIServer): AsyncAPIServer {
  if (typeof server !== "string") return { ...server };
  let url: URL;
  try {
    url = new URL(server);
  } catch (cause) {
    throw new TypeError(`not a server URL: ${server} (expected something like ws://localhost:9090)`, { cause });
  }
  const described: AsyncAPIServer = { host: url.host, protocol: url.protocol.replace(/:$/, "") };
  const pathname = url.pathname.replace(/\/+$/, "");
  if (pathname !== "") described.pathname = pathname;
  return described;
}
