import { type Caller, Listener, type Service } from "../../src/index.ts";
import { serveControl } from "./control.ts";

const echo: Service = {
  onTextMessage: (_caller: Caller, text: string) => text,
  onBinaryMessage: (_caller: Caller, data: Uint8Array) => data,
};

// Compression off: the load generator never offers it, and the other servers do not do it.
const listener = new Listener(0, { host: "127.0.0.1", webSocketCompressionEnabled: false });
listener.attach("/", {
  config: {
    maxFrameSize: 2 * 1024 * 1024,
    maxMessageSize: 2 * 1024 * 1024,
    allowedOrigins: ["*"],
  },
  // An echo keeps no state per connection, so one service object serves them all: the
  // idiomatic ferry way for a stateless service, and the memory rows measure ferry itself.
  upgrade: () => echo,
});
await listener.start();
serveControl(listener.port);
