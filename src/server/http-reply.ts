import { STATUS_CODES } from "node:http";
import type { Duplex } from "node:stream";

/** How long a refused socket may linger for the peer to read the answer and hang up. */
const LINGER_MS = 5000;

/**
 * Answers an upgrade request that ferry refuses, on the raw socket (after an 'upgrade' event
 * there is no ServerResponse), then closes it. Ending rather than destroying lets the peer
 * read the answer before the connection goes.
 */
export function refuseUpgrade(
  socket: Duplex,
  status: number,
  body: string,
  headers: Readonly<Record<string, string>> = {},
): void {
  if (socket.destroyed || !socket.writable) return;
  let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? "Error"}\r\nConnection: close\r\n`;
  head += `Content-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n`;
  for (const [name, value] of Object.entries(headers)) head += `${name}: ${sanitize(value)}\r\n`;
  socket.end(`${head}\r\n${body}`);
  const timer = setTimeout(() => socket.destroy(), LINGER_MS);
  timer.unref();
  socket.once("close", () => clearTimeout(timer));
}

/** A header value must not carry CR or LF: it would split the response. */
export function sanitize(value: string): string {
  return value.replace(/[\r\n]+/g, " ");
}
