import type { Connection } from "../connection/connection.ts";
import { MessageWriter } from "../connection/message-writer.ts";

/** Held by ferry only: users receive Callers, they do not make them. */
export const CALLER_KEY: unique symbol = Symbol("ferry.Caller");

export interface RemoteAddress {
  host: string;
  port: number;
}

export interface CallerInit {
  connection: Connection;
  subProtocol: string | undefined;
  secure: boolean;
  remoteAddress: RemoteAddress;
  closeTimeout: number;
}

/** The server's handle on one connection, passed to every service method (SPEC §4). */
export class Caller extends MessageWriter {
  readonly remoteAddress: RemoteAddress;
  readonly #connection: Connection;
  readonly #subProtocol: string | undefined;
  readonly #secure: boolean;
  readonly #closeTimeout: number;
  #attributes: Map<string, unknown> | undefined;

  constructor(key: typeof CALLER_KEY, init: CallerInit) {
    super();
    if (key !== CALLER_KEY) throw new TypeError("Caller is not constructible: ferry passes one to each service method");
    this.#connection = init.connection;
    this.#subProtocol = init.subProtocol;
    this.#secure = init.secure;
    this.#closeTimeout = init.closeTimeout;
    this.remoteAddress = init.remoteAddress;
  }

  protected get connection(): Connection {
    return this.#connection;
  }

  protected get defaultCloseTimeout(): number {
    return this.#closeTimeout;
  }

  getConnectionId(): string {
    return this.#connection.id;
  }

  /** The sub-protocol chosen in the handshake; undefined when none was. */
  getNegotiatedSubProtocol(): string | undefined {
    return this.#subProtocol;
  }

  isSecure(): boolean {
    return this.#secure;
  }

  setAttribute(key: string, value: unknown): void {
    (this.#attributes ??= new Map()).set(key, value);
  }

  getAttribute(key: string): unknown {
    return this.#attributes?.get(key);
  }

  removeAttribute(key: string): void {
    this.#attributes?.delete(key);
  }
}
