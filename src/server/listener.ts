import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from "node:http";
import type { Server as HttpsServer } from "node:https";
import type { AddressInfo, Socket } from "node:net";
import type { Duplex } from "node:stream";
import type { TLSSocket } from "node:tls";
import { ListenerAuth } from "../auth/listener-auth.ts";
import { Connection, type ConnectionOptions } from "../connection/connection.ts";
import { withOwnReads } from "../connection/own-reads.ts";
import { AuthnError, AuthzError, UpgradeError } from "../errors.ts";
import { logError } from "../log.ts";
import { isTimerSeconds, MAX_TIMER_SECONDS } from "../peer/peer-handle.ts";
import { parseExtensionHeader } from "../protocol/extension-header.ts";
import { acceptKey, selectSubProtocol } from "../protocol/handshake.ts";
import { acceptDeflateOffer, type DeflateAgreement } from "../protocol/permessage-deflate-negotiation.ts";
import { CALLER_KEY, Caller } from "./caller.ts";
import { refuseUpgrade, sanitize } from "./http-reply.ts";
import { PathRouter } from "./path-template.ts";
import { resolveServiceConfig, type ResolvedServiceConfig, type Service, type UpgradeResult, type UpgradeService } from "./service.ts";
import { checkServiceOnce } from "./service-check.ts";
import { ServiceSession } from "./service-session.ts";
import { skipBody } from "./upgrade-body.ts";
import { UpgradeDeadlines } from "./upgrade-deadline.ts";
import { checkOpeningHandshake, headSize, isOriginAllowed, type Refusal } from "./upgrade-handshake.ts";
import { createUpgradeRequest } from "./upgrade-request.ts";

/** How a listener with a server of its own answers plain HTTP (`ListenerConfiguration.http1Settings`). */
export interface Http1Settings {
  /** Keep-alive of the plain HTTP answers: AUTO follows the request's HTTP version. ["AUTO"] */
  keepAlive?: "AUTO" | "ALWAYS" | "NEVER";
  /**
   * Requests a client may pipeline on one connection. [10] A standalone listener answers
   * every plain request at once (426 or 400), so no pipeline builds up behind it.
   */
  maxPipelinedRequests?: number;
}

/** Bounds on the upgrade request, each with its HTTP status (`ListenerConfiguration.requestLimits`). */
export interface RequestLimits {
  /** Longest request target; longer → 414. [4096] */
  maxUriLength?: number;
  /** Largest request head (request line and headers); larger → 431. [8192] */
  maxHeaderSize?: number;
  /** Largest declared body; larger → 413. -1: no limit. [-1] */
  maxEntityBodySize?: number;
}

/** The settings that apply to upgrade requests, which a Listener on a shared server takes too. */
export interface SharedListenerConfiguration {
  /**
   * Seconds allowed for the whole upgrade request, body and `upgrade()` included, up to the
   * 101: on a listener of its own from the TCP accept (or the previous plain answer on a
   * kept-alive connection); on a shared server from the `upgrade` event, as the server's
   * owner governs the connection before it. Past it: 408, or TCP close. 0: no limit. At most
   * 2147483.647, Node's longest timer: more, or not a number, throws a RangeError. [120]
   */
  timeout?: number;
  /** The `Server` header of upgrade responses. */
  server?: string;
  /** Whether permessage-deflate may be negotiated; each service's `compression` says how. [true] */
  webSocketCompressionEnabled?: boolean;
  /** Longest request target, largest head and largest declared body of an upgrade request. */
  requestLimits?: RequestLimits;
  /** Whether upgraded sockets read into ferry's buffers (README, performance notes); FERRY_OWN_READS=0 turns it off everywhere. [true] */
  ownReads?: boolean;
  /** Whether the first connection may raise glibc's malloc thresholds for the whole process (README, performance notes); FERRY_MALLOC_TUNING=0 turns it off everywhere. [true] */
  mallocTuning?: boolean;
}

/** The settings of a listener with a port of its own. */
export interface ListenerConfiguration extends SharedListenerConfiguration {
  /** Interface to bind. ["0.0.0.0"] */
  host?: string;
  /** Keep-alive and pipelining of the plain HTTP answers. */
  http1Settings?: Http1Settings;
}

/** Settings that belong to whoever owns the server (SPEC §2): refused with a shared one. */
const OWNER_SETTINGS = ["host", "http1Settings", "secureSocket", "reusePort"] as const;

interface Attached {
  path: string;
  upgradeService: UpgradeService;
  config: ResolvedServiceConfig;
  /** One options object for all of the service's connections. */
  connectionOptions: ConnectionOptions;
  /** The service's logins, loaded at attach; undefined without `auth`. */
  auth: ListenerAuth | undefined;
}

type AnyServer = HttpServer | HttpsServer;

/**
 * Accepts WebSocket upgrades on a port of its own, or on an existing http/https server, and
 * hands each connection to the service attached at its path (SPEC §2).
 */
export class Listener {
  private readonly router = new PathRouter<Attached>();
  private readonly server: AnyServer;
  private readonly shared: boolean;
  private readonly requestedPort: number;
  private readonly host: string;
  private readonly timeoutSeconds: number;
  private readonly serverHeader: string | undefined;
  private readonly maxUriLength: number;
  /** Enforced by ferry on a shared server only: a listener of its own has Node's parser do it. */
  private readonly maxHeaderSize: number;
  private readonly maxEntityBodySize: number;
  private readonly keepAlive: "AUTO" | "ALWAYS" | "NEVER";
  private readonly compressionEnabled: boolean;
  private readonly ownReads: boolean | undefined;
  private readonly mallocTuning: boolean | undefined;
  private readonly connections = new Set<Connection>();
  /** Sockets whose upgrade is still being decided. */
  private readonly upgrading = new Set<Duplex>();
  private readonly deadlines: UpgradeDeadlines;
  private started = false;
  private stopping = false;

  private readonly onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
    void this.handleUpgrade(request, socket, head);
  };

  private readonly onRequest = (request: IncomingMessage, response: ServerResponse): void => {
    this.handlePlainRequest(request, response);
  };

  private readonly onConnection = (socket: Duplex): void => {
    this.deadlines.start(socket);
  };

  /** A listener with a port of its own. */
  constructor(port: number, config?: ListenerConfiguration);
  /**
   * A listener on an http or https server whose owner calls `listen`; it takes only the
   * settings that apply to upgrades, and throws for the owner's (`host`, `http1Settings`, …).
   */
  constructor(server: AnyServer, config?: SharedListenerConfiguration);
  constructor(portOrServer: number | AnyServer, config?: ListenerConfiguration) {
    this.shared = typeof portOrServer !== "number";
    if (this.shared && config !== undefined) {
      const owned = OWNER_SETTINGS.find((key) => (config as Record<string, unknown>)[key] !== undefined);
      if (owned !== undefined) {
        throw new TypeError(
          `ListenerConfiguration.${owned} belongs to the shared server's owner: a Listener on a shared server takes only timeout, server, webSocketCompressionEnabled and requestLimits`,
        );
      }
    }
    if (typeof portOrServer === "number" && (!Number.isInteger(portOrServer) || portOrServer < 0 || portOrServer > 65535)) {
      throw new RangeError(`Invalid port ${portOrServer}: use 0–65535 (0 picks a free port)`);
    }
    config ??= {};
    this.requestedPort = typeof portOrServer === "number" ? portOrServer : 0;
    this.host = config.host ?? "0.0.0.0";
    this.timeoutSeconds = config.timeout ?? 120;
    if (!isTimerSeconds(this.timeoutSeconds)) {
      throw new RangeError(`ListenerConfiguration.timeout must be 0 (no limit) to ${MAX_TIMER_SECONDS} seconds, got ${config.timeout}`);
    }
    this.serverHeader = config.server;
    const limits = config.requestLimits ?? {};
    this.maxUriLength = limits.maxUriLength ?? 4096;
    this.maxHeaderSize = limits.maxHeaderSize ?? 8192;
    this.maxEntityBodySize = limits.maxEntityBodySize ?? -1;
    this.keepAlive = config.http1Settings?.keepAlive ?? "AUTO";
    this.compressionEnabled = config.webSocketCompressionEnabled ?? true;
    const timeoutMs = this.timeoutSeconds * 1000;
    this.deadlines = new UpgradeDeadlines(timeoutMs, (socket) => this.expire(socket));
    this.ownReads = config.ownReads;
    this.mallocTuning = config.mallocTuning;
    if (typeof portOrServer !== "number") {
      this.server = portOrServer;
    } else {
      // ferry's deadlines bound each request to the millisecond; Node's timeouts stay as a backstop.
      const server = createServer({
        maxHeaderSize: this.maxHeaderSize,
        requestTimeout: timeoutMs,
        headersTimeout: timeoutMs,
        keepAlive: this.keepAlive !== "NEVER",
      });
      server.maxRequestsPerSocket = this.keepAlive === "NEVER" ? 1 : 0;
      this.server = server;
    }
  }

  /** The bound port once started (the requested one before). */
  get port(): number {
    const address = this.server.address();
    return address !== null && typeof address === "object" ? (address as AddressInfo).port : this.requestedPort;
  }

  /**
   * Attaches an upgrade service at a path such as `/chat/{room}`; works before and after start.
   * @throws RangeError when the service's `config` has a negative size, or a timeout that is
   * negative or longer than Node's timers keep (2147483.647 seconds).
   * @throws WebSocketError when an `auth` file is missing, unreadable or malformed.
   */
  attach(path: string, upgradeService: UpgradeService): void {
    const config = resolveServiceConfig(upgradeService.config);
    const authConfig = upgradeService.config?.auth;
    const auth = authConfig === undefined ? undefined : ListenerAuth.load(authConfig);
    const connectionOptions: ConnectionOptions = {
      role: "server",
      maxFrameSize: config.maxFrameSize,
      maxMessageSize: config.maxMessageSize,
      maxFragments: config.maxFragments,
      maxQueuedBytes: config.maxQueuedBytes,
      idleTimeout: config.idleTimeout,
      pingInterval: config.pingInterval,
      closeTimeout: config.connectionClosureTimeout,
      registry: this.connections,
      compression: config.compression,
      mallocTuning: this.mallocTuning,
    };
    this.router.add(path, { path, upgradeService, config, connectionOptions, auth });
  }

  /** The attached services by path, for tools that describe the listener (AsyncAPI). */
  attachments(): [path: string, service: UpgradeService][] {
    return [...this.router.entries()].map(([path, attached]) => [path, attached.upgradeService]);
  }

  /** Stops routing new upgrades to the path; its open connections keep working. */
  detach(path: string): void {
    this.router.remove(path);
  }

  /**
   * Starts accepting upgrades: binds the port of a listener of its own (resolves once it
   * listens, rejects with the `listen` error, such as `EADDRINUSE`), or hooks the upgrade
   * requests of a shared server. Calling it again while started does nothing.
   */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.stopping = false;
    this.server.on("upgrade", this.onUpgrade);
    if (this.shared) return;
    this.server.on("connection", this.onConnection);
    this.server.on("request", this.onRequest);
    const server = this.server;
    await new Promise<void>((resolve, reject) => {
      const onError = (error: Error): void => {
        this.started = false;
        reject(error);
      };
      server.once("error", onError);
      server.listen(this.requestedPort, this.host, () => {
        server.off("error", onError);
        resolve();
      });
    });
  }

  /** Stops accepting, closes every connection with 1001, and waits for them to close. */
  async gracefulStop(): Promise<void> {
    this.stopping = true;
    this.unhook();
    const closing = [...this.connections].map((connection) => {
      connection.closeNow(1001, "Server is going away");
      return connection.whenClosed();
    });
    for (const socket of this.upgrading) socket.destroy();
    const serverClosed = this.closeOwnServer();
    await Promise.all(closing);
    await serverClosed;
  }

  /** Drops every connection at once, without close frames (peers see 1006). */
  async immediateStop(): Promise<void> {
    this.stopping = true;
    this.unhook();
    const closing = [...this.connections].map((connection) => {
      connection.destroy();
      return connection.whenClosed();
    });
    for (const socket of this.upgrading) socket.destroy();
    if (!this.shared) (this.server as HttpServer).closeAllConnections();
    const serverClosed = this.closeOwnServer();
    await Promise.all(closing);
    await serverClosed;
  }

  private unhook(): void {
    this.server.off("upgrade", this.onUpgrade);
    this.server.off("request", this.onRequest);
    this.server.off("connection", this.onConnection);
    this.started = false;
  }

  private closeOwnServer(): Promise<void> {
    if (this.shared || !this.server.listening) return Promise.resolve();
    const server = this.server as HttpServer;
    server.closeIdleConnections();
    return new Promise((resolve) => server.close(() => resolve()));
  }

  /** Plain requests to a listener of its own: 426, or 400 for a half-formed upgrade. */
  private handlePlainRequest(request: IncomingMessage, response: ServerResponse): void {
    const refusal =
      this.checkLimits(request) ??
      (request.headers.upgrade !== undefined ? checkOpeningHandshake(request.method, request.headers) : undefined) ?? {
        status: 426,
        body: "This is a WebSocket endpoint: upgrade to websocket",
        headers: { Upgrade: "websocket", Connection: "Upgrade" },
      };
    const headers: Record<string, string> = { "Content-Type": "text/plain; charset=utf-8", ...refusal.headers };
    if (this.serverHeader !== undefined) headers["Server"] = sanitize(this.serverHeader);
    if (this.keepAlive === "NEVER") headers["Connection"] = "close";
    else if (this.keepAlive === "ALWAYS" && headers["Connection"] === undefined) headers["Connection"] = "keep-alive";
    response.writeHead(refusal.status, headers);
    response.end(refusal.body);
    // Answered at once: the time for the connection's next request starts now.
    this.deadlines.restart(request.socket);
  }

  private checkLimits(request: IncomingMessage): Refusal | undefined {
    if ((request.url ?? "").length > this.maxUriLength) {
      return { status: 414, body: `Request URI longer than ${this.maxUriLength} characters` };
    }
    const declared = Number(request.headers["content-length"] ?? 0);
    if (this.maxEntityBodySize >= 0 && declared > this.maxEntityBodySize) {
      return { status: 413, body: `Request body larger than ${this.maxEntityBodySize} bytes` };
    }
    if (this.shared && headSize(request) > this.maxHeaderSize) {
      return { status: 431, body: `Request head larger than ${this.maxHeaderSize} bytes` };
    }
    return undefined;
  }

  /** The upgrade request ran out of time: 408 if nothing was answered yet, else the refusal already under way closes it. */
  private expire(socket: Duplex): void {
    if (socket.destroyed || socket.writableEnded) return;
    this.refuse(socket, { status: 408, body: "The upgrade request did not complete in time" });
  }

  private refuse(socket: Duplex, refusal: Refusal): void {
    const headers = { ...refusal.headers };
    if (this.serverHeader !== undefined) headers["Server"] = this.serverHeader;
    refuseUpgrade(socket, refusal.status, refusal.body, headers);
  }

  private async handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    socket.on("error", ignore);
    const url = request.url ?? "/";
    const queryAt = url.indexOf("?");
    const path = queryAt < 0 ? url : url.slice(0, queryAt);
    const match = this.router.match(path);
    if (match === undefined) {
      // On a shared server another 'upgrade' listener may own this path.
      if (this.shared && this.server.listenerCount("upgrade") > 1) return;
      this.refuse(socket, { status: 404, body: "No service found to handle the service request" });
      return;
    }
    const refusal =
      this.checkLimits(request) ??
      checkOpeningHandshake(request.method, request.headers) ??
      (isOriginAllowed(request.headers.origin, request.headers.host, isEncrypted(socket), match.value.config.allowedOrigins)
        ? undefined
        : { status: 403, body: `Origin ${request.headers.origin} is not allowed` });
    if (refusal !== undefined) {
      this.refuse(socket, refusal);
      return;
    }

    const { upgradeService, config, connectionOptions, auth } = match.value;
    const deflate = this.negotiateDeflate(request, config);
    if (deflate === null) {
      this.refuse(socket, { status: 400, body: "Malformed Sec-WebSocket-Extensions header" });
      return;
    }
    // On a shared server the time starts here: what came before is the owner's.
    this.deadlines.start(socket);
    this.upgrading.add(socket);
    let outcome: UpgradeResult;
    try {
      const declared = Number(request.headers["content-length"] ?? 0);
      if (declared > 0) {
        const rest = await skipBody(socket, head, declared);
        if (rest === undefined) return;
        head = rest;
        // A half-open peer may finish its body after the 408: the request is already answered.
        if (!this.isOpenForAnswer(socket)) return;
      }
      // SPEC §9.2: 401/403 before upgrade() runs, within the same deadline.
      const verdict = auth === undefined ? undefined : await auth.check(request.headers.authorization);
      if (verdict !== undefined && !this.isOpenForAnswer(socket)) return;
      if (verdict?.refusal !== undefined) return this.refuse(socket, verdict.refusal);
      const upgradeRequest = createUpgradeRequest(request, path, queryAt < 0 ? "" : url.slice(queryAt + 1), match.params, verdict?.principal);
      outcome = await upgradeService.upgrade(upgradeRequest);
    } catch (error) {
      if (this.isOpenForAnswer(socket)) this.refuse(socket, refusalForThrown(error));
      return;
    } finally {
      this.upgrading.delete(socket);
    }
    if (!this.isOpenForAnswer(socket)) return;
    // The service is user code (getters, a Proxy): whatever it throws here answers 500 and is
    // logged, and must not become an unhandled rejection of this void-ed call.
    let started = false;
    try {
      if (this.stopping) {
        this.refuse(socket, { status: 503, body: "The listener is stopping" });
        return;
      }
      if (outcome instanceof Error) {
        this.refuse(socket, refusalForReturned(outcome));
        return;
      }
      if (typeof outcome !== "object" || outcome === null) {
        logError(`upgrade() for ${match.value.path} returned ${String(outcome)}, not a service or an Error`);
        this.refuse(socket, { status: 500, body: "Internal server error" });
        return;
      }
      checkServiceOnce(outcome, config, upgradeService, match.value.path);
      const accepted = this.prepare(request, socket as Socket, head, outcome, config, connectionOptions, deflate);
      this.deadlines.stop(socket);
      socket.off("error", ignore);
      started = true;
      accepted.connection.start(accepted.session, accepted.head);
    } catch (error) {
      logError(`accepting the upgrade at ${match.value.path} failed`, error);
      // Once the connection started, part of the 101 may be out: no HTTP answer can follow it.
      if (started) socket.destroy();
      else this.refuse(socket, { status: 500, body: "Internal server error" });
    }
  }

  /** Whether the socket still waits for the answer to its upgrade request (not timed out, closed or refused). */
  private isOpenForAnswer(socket: Duplex): boolean {
    return !socket.destroyed && !socket.writableEnded;
  }

  /**
   * permessage-deflate (RFC 7692): the first valid offer, with the service's terms; undefined
   * for none. null for a header that does not parse at all: that client is broken, and a 400
   * says so where declining would hide it (ws and Python's websockets answer 400 too).
   */
  private negotiateDeflate(request: IncomingMessage, config: ResolvedServiceConfig): DeflateAgreement | undefined | null {
    const header = request.headers["sec-websocket-extensions"];
    if (!this.compressionEnabled || header === undefined) return undefined;
    const offers = parseExtensionHeader(header);
    if (offers === undefined) return null;
    return acceptDeflateOffer(offers, config.compression.request);
  }

  /**
   * The connection for an accepted upgrade and its session, with the 101 queued. Nothing is
   * written to the socket yet: the service's properties are read here, so one that throws
   * can still be answered with 500.
   */
  private prepare(
    request: IncomingMessage,
    socket: Socket,
    head: Buffer,
    service: Service,
    config: ResolvedServiceConfig,
    connectionOptions: ConnectionOptions,
    deflate: DeflateAgreement | undefined,
  ): { connection: Connection; session: ServiceSession; head: Buffer } {
    const subProtocol = selectSubProtocol(request.headers["sec-websocket-protocol"], config.subProtocols);
    let response =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
      `Sec-WebSocket-Accept: ${acceptKey(request.headers["sec-websocket-key"]!)}\r\n`;
    if (subProtocol !== undefined) response += `Sec-WebSocket-Protocol: ${subProtocol}\r\n`;
    if (deflate !== undefined) response += `Sec-WebSocket-Extensions: ${deflate.response}\r\n`;
    if (this.serverHeader !== undefined) response += `Server: ${sanitize(this.serverHeader)}\r\n`;
    const custom = service.customHeaders;
    if (custom !== undefined) for (const [name, value] of Object.entries(custom)) response += `${name}: ${sanitize(value)}\r\n`;
    response += "\r\n";

    const reading = withOwnReads(socket, head, this.ownReads);
    const connection = new Connection(socket, connectionOptions, deflate?.parameters, reading.ownReads);
    connection.preface(Buffer.from(response, "latin1"));
    const caller = new Caller(CALLER_KEY, connection, subProtocol);
    return { connection, session: new ServiceSession(service, caller, connection, config), head: reading.head };
  }
}

function ignore(): void {}

function isEncrypted(socket: Duplex): boolean {
  return (socket as Partial<TLSSocket>).encrypted === true;
}

/** An error returned from upgrade() is a refusal the service chose. */
function refusalForReturned(error: Error): Refusal {
  if (error instanceof UpgradeError) return { status: error.status ?? 400, body: error.message, headers: error.headers };
  if (error instanceof AuthnError) return { status: 401, body: error.message };
  if (error instanceof AuthzError) return { status: 403, body: error.message };
  return { status: 400, body: error.message };
}

/** Thrown: a refusal if it is one of ours, otherwise a bug in the service (500, logged). */
function refusalForThrown(error: unknown): Refusal {
  if (error instanceof UpgradeError || error instanceof AuthnError || error instanceof AuthzError) {
    return refusalForReturned(error);
  }
  logError("upgrade() threw", error);
  return { status: 500, body: "Internal server error" };
}
