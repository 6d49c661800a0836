import { Listener } from "../../src/index.ts";
import { serveControl } from "./control.ts";

// Compression off: the load generator never offers it, and the other servers do not do it.
const listener = new Listener(0, { host: "127.0.0.1", webSocketCompressionEnabled: false });
listener.attach("/", {
  config: {
    maxFrameSize: 2 * 1024 * 1024,
    maxMessageSize: 2 * 1024 * 1024,
    allowedOrigins: ["*"],
  },
  upgrade: () => ({
    onTextMessage: (_caller, text: string) => text,
    onBinaryMessage: (_caller, data: Uint8Array) => data,
  }),
});
await listener.start();
serveControl(listener.port);
