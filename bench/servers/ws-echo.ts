import { createRequire } from "node:module";
import { WebSocketServer } from "ws";
import { serveControl } from "./control.ts";

// ws falls back to pure-JS masking and UTF-8 checks without these; the comparison is
// against ws at its best, so refuse to run without them.
const require = createRequire(import.meta.url);
require("bufferutil");
require("utf-8-validate");

// With --deflate, permessage-deflate at ws's defaults (context takeover unless the client
// asks otherwise, 1 KiB threshold, 10 concurrent zlib jobs), for the compression rows.
const server = new WebSocketServer({
  host: "127.0.0.1",
  port: 0,
  perMessageDeflate: process.argv.includes("--deflate"),
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
