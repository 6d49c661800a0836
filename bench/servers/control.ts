import type { ControlReply, ControlRequest, ReadyMessage } from "../control-protocol.ts";

// Set up on import, before the server starts listening: a runner that dies while this child
// is still starting must not leave it running.
if (process.send !== undefined) process.on("disconnect", () => process.exit(0));

/** The child side of the runner's control channel: announce the port, answer CPU and memory requests. */
export function serveControl(port: number): void {
  const send = process.send?.bind(process);
  if (send === undefined) {
    console.log(`listening on 127.0.0.1:${port} (no runner attached)`);
    return;
  }
  process.on("message", (request: ControlRequest) => {
    let reply: ControlReply;
    if (request.type === "cpu") {
      reply = { id: request.id, type: "cpu", cpu: process.cpuUsage() };
    } else {
      collectGarbage();
      const usage = process.memoryUsage();
      reply = {
        id: request.id,
        type: "memory",
        memory: { rss: usage.rss, heapUsed: usage.heapUsed, external: usage.external },
      };
    }
    send(reply);
  });
  const ready: ReadyMessage = { type: "ready", port };
  send(ready);
}

function collectGarbage(): void {
  // Present when the runner starts children with --expose-gc; twice, because the first
  // pass only queues finalizers for what the second one frees.
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  gc?.();
}
