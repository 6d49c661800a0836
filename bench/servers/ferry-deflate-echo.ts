import { Listener } from "../../src/index.ts";
import { serveControl } from "./control.ts";

// permessage-deflate at ferry's defaults (no context takeover either way, 1 KiB threshold),
// or with --context, context takeover whenever the client allows it.
const context = process.argv.includes("--context");
const listener = new Listener(0, { host: "127.0.0.1" });
listener.attach("/", {
  config: {
    maxFrameSize: 2 * 1024 * 1024,
    maxMessageSize: 2 * 1024 * 1024,
    allowedOrigins: ["*"],
    ...(context ? { compression: { serverNoContextTakeover: false, clientNoContextTakeover: false } } : {}),
  },
  upgrade: () => ({
    onTextMessage: (_caller, text: string) => text,
    onBinaryMessage: (_caller, data: Uint8Array) => data,
  }),
});
await listener.start();
serveControl(listener.port);
