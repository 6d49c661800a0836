import { createServer } from "node:net";
import { serveControl } from "./control.ts";

// No framing at all: the most a single Node process can echo, the ceiling for the others.
const server = createServer({ noDelay: true }, (socket) => {
  socket.on("data", (data) => socket.write(data));
  socket.on("error", () => socket.destroy());
});
server.listen(0, "127.0.0.1", () => {
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no TCP address");
  serveControl(address.port);
});
