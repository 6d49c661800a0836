import type { Connection } from "../connection/connection.ts";
import { PeerHandle } from "../peer/peer-handle.ts";

/** @internal Held by ferry only: users receive Callers, they do not make them. */
export const CALLER_KEY: unique symbol = Symbol("ferry.Caller");

/** Where a connection comes from, as its socket sees it. */
export interface RemoteAddress {
  /** The peer's IP address ("" once the socket is gone). */
  host: string;
  /** The peer's TCP port (0 once the socket is gone). */
  port: number;
}

/**
 * The server's handle on one connection, passed to every service method (SPEC §4). It keeps
 * few fields; everything else is read from the connection when asked.
 */
export class Caller extends PeerHandle {
  readonly #connection: Connection;
  readonly #subProtocol: string | undefined;

  /** @internal */
  constructor(key: typeof CALLER_KEY, connection: Connection, subProtocol: string | undefined) {
    super();
    if (key !== CALLER_KEY) throw new TypeError("Caller is not constructible: ferry passes one to each service method");
    this.#connection = connection;
    this.#subProtocol = subProtocol;
  }

  /** @internal */
  protected get connection(): Connection {
    return this.#connection;
  }

  /** @internal */
  protected get defaultCloseTimeout(): number {
    return this.#connection.closeTimeout;
  }

  /** The peer's address and port, as the socket sees them (no `X-Forwarded-For`). */
  get remoteAddress(): RemoteAddress {
    const socket = this.#connection.socket;
    return { host: socket.remoteAddress ?? "", port: socket.remotePort ?? 0 };
  }

  /** The sub-protocol chosen in the handshake; undefined when none was. */
  getNegotiatedSubProtocol(): string | undefined {
    return this.#subProtocol;
  }
}
