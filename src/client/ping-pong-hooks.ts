import { OUT_BINARY, outgoingKind, toBytes } from "../binding/outgoing.ts";
import type { Connection } from "../connection/connection.ts";
import { logError } from "../log.ts";
import { pongCalls } from "../peer/peer-handle.ts";
import { OP_PONG } from "../protocol/opcodes.ts";
import type { Client } from "./client.ts";
import type { PingPongHandler } from "./client-configuration.ts";

/**
 * @internal Calls `onPong`. One that throws, or whose promise rejects, is logged: it runs from
 * a socket callback, where a throw would take the process down. A promise is returned so that
 * what came after the pong waits for it, in order.
 */
export function callOnPong(handlers: PingPongHandler, client: Client, data: Buffer): Promise<void> | undefined {
  const failed = (error: unknown): void => logError("pingPongHandler.onPong threw", error);
  try {
    const result: unknown = handlers.onPong?.call(handlers, client, data);
    if (typeof (result as PromiseLike<unknown> | undefined)?.then === "function") return Promise.resolve(result).then(() => undefined, failed);
  } catch (error) {
    failed(error);
  }
  return undefined;
}

/**
 * @internal SPEC §4: RFC 6455 requires a pong, so when onPing settles having neither returned
 * bytes nor called pong(), the automatic one goes out (an onPing that only logs must not stop
 * pongs). `current`: whether `connection` is still the client's (a reconnect replaces it).
 */
export async function answerPing(handlers: PingPongHandler, client: Client, connection: Connection, current: () => boolean, data: Buffer): Promise<void> {
  // Kept for the automatic pong after the handler's awaits (at most 125 bytes).
  const payload = Buffer.from(data);
  const pongsBefore = pongCalls(client);
  let answer: unknown;
  try {
    answer = await handlers.onPing?.call(handlers, client, payload);
  } catch (error) {
    logError("pingPongHandler.onPing threw; the ping is answered automatically", error);
  }
  if (!connection.isOpen || !current()) return;
  if (outgoingKind(answer) === OUT_BINARY) {
    await client.pong(toBytes(answer as Uint8Array)).catch((error: unknown) => {
      logError("pingPongHandler.onPing returned an invalid pong; the ping is answered automatically", error);
      connection.sendControl(OP_PONG, payload);
    });
  } else if (pongCalls(client) === pongsBefore) {
    connection.sendControl(OP_PONG, payload);
  }
}
