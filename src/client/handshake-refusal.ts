import type { IncomingMessage } from "node:http";
import { InvalidHandshakeError } from "../errors.ts";

/** Bytes of a refusal's body kept for the error (SPEC §10). */
export const MAX_REFUSAL_BODY = 1024;
/** Milliseconds a refusal's body may take to arrive before the client gives up on it (SPEC §10). */
export const REFUSAL_BODY_WAIT_MS = 100;

/**
 * Builds the error for a non-101 answer from its status and as much of its body as comes
 * within REFUSAL_BODY_WAIT_MS, at most MAX_REFUSAL_BODY bytes. Bounded both ways because a
 * body of unknown length (no Content-Length, connection kept open) may never end: waiting
 * for its end kept `Client.connect` pending until handShakeTimeout.
 */
export function readRefusal(res: IncomingMessage): Promise<InvalidHandshakeError> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      res.off("data", onData);
      // stream: true drops a code point cut in half at the size bound instead of showing U+FFFD.
      const body = new TextDecoder().decode(Buffer.concat(chunks).subarray(0, MAX_REFUSAL_BODY), { stream: true });
      resolve(refusalError(res.statusCode ?? 0, res.statusMessage ?? "", body));
    };
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      size += chunk.length;
      if (size >= MAX_REFUSAL_BODY) finish();
    };
    const timer = setTimeout(finish, REFUSAL_BODY_WAIT_MS);
    res.on("data", onData);
    res.once("end", finish);
    res.once("close", finish);
    // Stays attached: destroying the socket afterwards may make the response emit an error.
    res.on("error", finish);
  });
}

/** "Invalid handshake response: 403 Forbidden: <the body's first line>", the body kept on the error. */
function refusalError(status: number, statusText: string, body: string): InvalidHandshakeError {
  const line = firstLine(body);
  const head = `Invalid handshake response: ${`${status} ${statusText}`.trim()}`;
  return new InvalidHandshakeError(line === "" ? head : `${head}: ${line}`, { status, body: body === "" ? undefined : body });
}

/**
 * The first non-blank line, with control characters replaced: it comes from the server and
 * ends up in logs and terminals, where an escape sequence must not act.
 */
function firstLine(body: string): string {
  const line = body.trimStart().split(/\r\n|[\r\n\u2028\u2029]/, 1)[0] ?? "";
  return line.trimEnd().replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, "\ufffd");
}
