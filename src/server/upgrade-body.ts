import type { Duplex } from "node:stream";

/**
 * Reads past the declared body of an upgrade request. Node emits `upgrade` as soon as the
 * head is in, so without this the body's bytes would be read as WebSocket frames; HTTP puts
 * the switch of protocols after the whole request. The body is dropped as it comes (it is
 * never held), and bytes after it go back to the socket for the connection to read.
 * Resolves with what is left of `head`, or undefined if the socket ended, failed or closed
 * first; a socket that ended early is destroyed, since http.Server sockets allow half-open
 * connections and a peer's FIN alone would leave this one open.
 */
export function skipBody(socket: Duplex, head: Buffer, length: number): Promise<Buffer | undefined> {
  if (head.length >= length) return Promise.resolve(head.subarray(length));
  if (socket.destroyed || socket.readableEnded) {
    socket.destroy();
    return Promise.resolve(undefined);
  }
  let left = length - head.length;
  return new Promise((resolve) => {
    const finish = (rest: Buffer | undefined): void => {
      socket.off("readable", onReadable);
      socket.off("end", onGone);
      socket.off("error", onGone);
      socket.off("close", onGone);
      if (rest === undefined) socket.destroy();
      resolve(rest);
    };
    const onGone = (): void => finish(undefined);
    const onReadable = (): void => {
      let chunk: Buffer | null;
      while ((chunk = socket.read() as Buffer | null) !== null) {
        if (chunk.length < left) {
          left -= chunk.length;
          continue;
        }
        if (chunk.length > left) socket.unshift(chunk.subarray(left));
        finish(Buffer.alloc(0));
        return;
      }
    };
    socket.on("readable", onReadable);
    socket.once("end", onGone);
    socket.once("error", onGone);
    socket.once("close", onGone);
  });
}
