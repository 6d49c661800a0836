import { createRequire } from "node:module";
import { WebSocketServer } from "ws";
import { serveControl } from "./control.ts";

const require = createRequire(import.meta.url);
require("bufferutil");
require("utf-8-validate");

// permessage-deflate at ws's defaults: context takeover unless the client asks otherwise,
// 1 KiB threshold, 10 concurrent zlib jobs.
const server = new WebSocketServer({
  host: "127.0.0.1",
  port: 0,
  perMessageDeflate: true,
  maxPayload: 2 * 1024 * 1024,
});
server.on("connection", (socket) => {
  socket.on("message", (data, isBinary) => socket.send(data, { binary: isBinary }));
  socket.on("error", () => socket.terminate());
});
server.on("listening", () => {
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no TCP address");
  serveControl(address.port);
});
