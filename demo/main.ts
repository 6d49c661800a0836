import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { Listener } from "../src/index.ts";
import { chatUpgrade } from "./chat-service.ts";
import { echoUpgrade } from "./echo-service.ts";

const port = Number(process.env["PORT"] ?? 9090);
const page = readFileSync(new URL("./page.html", import.meta.url));

// The page and the services share one port: the page is then same-origin for the services.
const server = createServer((request, response) => {
  if (request.url === "/" || request.url === "/index.html") {
    response.writeHead(200, { "Content-Type": "text/html; charset=utf-8" }).end(page);
  } else {
    response.writeHead(404, { "Content-Type": "text/plain" }).end("Not found");
  }
});
export const listener = new Listener(server);
listener.attach("/ws", echoUpgrade);
listener.attach("/chat", chatUpgrade);
await listener.start();

// `ferry asyncapi demo/main.ts` imports this module for the listener alone.
if (process.env["FERRY_DEMO_NO_LISTEN"] === undefined) {
  await new Promise<void>((resolve) => server.listen(port, resolve));
  const bound = (server.address() as { port: number }).port;
  console.log(`ferry demo on http://localhost:${bound}/ : echo at ws://localhost:${bound}/ws, chat at ws://localhost:${bound}/chat`);
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      void listener.gracefulStop().then(() => server.close(() => process.exit(0)));
    });
  }
}
