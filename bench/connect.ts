import { connect, type Socket } from "node:net";
import { buildHandshakeRequest } from "./frames.ts";

/** Every bench socket goes to loopback only. */
export const HOST = "127.0.0.1";

const MAX_RESPONSE_HEAD = 16 * 1024;
const HEAD_END = Buffer.from("\r\n\r\n", "latin1");

export interface OpenSocket {
  socket: Socket;
  /** Bytes the server sent right after its 101 response, before any listener saw them. */
  leftover: Buffer;
}

export type Protocol = "websocket" | "raw";

function ignoreError(): void {
  // Errors always end in 'close', which is what callers act on; an unhandled 'error'
  // event would crash the generator in the middle of a run instead.
}

/**
 * Every generator socket reads into this one buffer (Node's `onread`): a read allocates
 * nothing, where Node would allocate 64 KiB per read and fault its pages in. At 64 KiB
 * messages that allocation made the generator, not the server, the bottleneck of a cell,
 * at a cost per message that swung from run to run. Receivers must not keep the chunk.
 */
const READ_BUFFER = Buffer.allocUnsafeSlow(256 * 1024);
const RECEIVER = Symbol("receiver");
type ReceivingSocket = Socket & { [RECEIVER]: (chunk: Buffer) => void };

function onRead(this: ReceivingSocket, n: number): boolean {
  this[RECEIVER](READ_BUFFER.subarray(0, n));
  return true;
}

/** Where a socket's bytes go from now on; the chunk is only valid during the call. */
export function receive(socket: Socket, receiver: (chunk: Buffer) => void): void {
  (socket as ReceivingSocket)[RECEIVER] = receiver;
}

function newSocket(port: number): Socket {
  const socket = connect({ host: HOST, port, noDelay: true, onread: { buffer: READ_BUFFER, callback: onRead } });
  receive(socket, ignoreBytes);
  socket.on("error", ignoreError);
  return socket;
}

function ignoreBytes(): void {}

/** A plain TCP connection, resolved once connected. */
export function openTcp(port: number, timeoutMs: number): Promise<OpenSocket> {
  return new Promise((resolve, reject) => {
    const socket = newSocket(port);
    const timer = setTimeout(() => fail(new Error("connect timed out")), timeoutMs);
    const onClose = (): void => fail(new Error("connection closed before it opened"));
    function fail(error: Error): void {
      clearTimeout(timer);
      socket.off("close", onClose);
      socket.destroy();
      reject(error);
    }
    socket.once("close", onClose);
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.off("close", onClose);
      resolve({ socket, leftover: Buffer.alloc(0) });
    });
  });
}

/** A WebSocket connection opened with a real upgrade request and a checked accept key. */
export function openWebSocket(port: number, timeoutMs: number): Promise<OpenSocket> {
  return new Promise((resolve, reject) => {
    const { request, expectedAccept } = buildHandshakeRequest(HOST, port);
    const socket = newSocket(port);
    let received: Buffer = Buffer.alloc(0);
    const timer = setTimeout(() => fail(new Error("handshake timed out")), timeoutMs);
    const onClose = (): void => fail(new Error("connection closed during the handshake"));

    function finish(): void {
      clearTimeout(timer);
      receive(socket, ignoreBytes);
      socket.off("close", onClose);
    }
    function fail(error: Error): void {
      finish();
      socket.destroy();
      reject(error);
    }
    function onData(chunk: Buffer): void {
      received = Buffer.concat([received, chunk]);
      const end = received.indexOf(HEAD_END);
      if (end === -1) {
        if (received.length > MAX_RESPONSE_HEAD) fail(new Error("handshake response too long"));
        return;
      }
      const head = received.toString("latin1", 0, end);
      const statusLine = head.split("\r\n", 1)[0] ?? "";
      if (!/^HTTP\/1\.1 101 /.test(statusLine)) {
        fail(new Error(`handshake refused: ${statusLine}`));
        return;
      }
      const accept = /\r\nsec-websocket-accept:[ \t]*([^\r\n]*?)[ \t]*(?:\r\n|$)/i.exec(head)?.[1];
      if (accept !== expectedAccept) {
        fail(new Error(`bad Sec-WebSocket-Accept: ${accept ?? "(missing)"}`));
        return;
      }
      finish();
      resolve({ socket, leftover: received.subarray(end + HEAD_END.length) });
    }

    receive(socket, onData);
    socket.once("close", onClose);
    socket.write(request);
  });
}

export function openConnection(protocol: Protocol, port: number, timeoutMs: number): Promise<OpenSocket> {
  return protocol === "websocket" ? openWebSocket(port, timeoutMs) : openTcp(port, timeoutMs);
}
