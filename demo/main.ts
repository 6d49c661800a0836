import { Listener } from "../src/index.ts";
import { echoUpgrade } from "./echo-service.ts";

const port = Number(process.env["PORT"] ?? 9090);
const listener = new Listener(port);
listener.attach("/ws", echoUpgrade);
await listener.start();
console.log(`ferry demo: echo service at ws://localhost:${listener.port}/ws`);

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    void listener.gracefulStop().then(() => process.exit(0));
  });
}
