import type { Duplex } from "node:stream";

/**
 * Reads past the declared body of an upgrade request. Node emits `upgrade` as soon as the
 * head is in, so without this the body's bytes would be read as WebSocket frames; HTTP puts
 * the switch of protocols after the whole request. The body is dropped as it comes (it is
 * never held), and bytes after it go back to the socket for the connection to read.
 * Resolves with what is left of `head`, or undefined if the socket closed first.
 */
export function skipBody(socket: Duplex, head: Buffer, length: number): Promise<Buffer | undefined> {
  if (head.length >= length) return Promise.resolve(head.subarray(length));
  let left = length - head.length;
  return new Promise((resolve) => {
    const finish = (rest: Buffer | undefined): void => {
      socket.off("readable", onReadable);
      socket.off("close", onClose);
      resolve(rest);
    };
    const onClose = (): void => finish(undefined);
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
    socket.once("close", onClose);
    if (socket.destroyed) finish(undefined);
  });
}
