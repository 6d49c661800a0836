#!/usr/bin/env node
import { parseArgs } from "node:util";
import { Listener } from "../server/listener.ts";
import { ASYNCAPI_USAGE, asyncapiCommand } from "./asyncapi-command.ts";
import { HASH_PASSWORD_USAGE, hashPasswordCommand } from "./hash-password-command.ts";

const USAGE = `Usage: ferry serve [--port 9090] [--host 0.0.0.0] [--path /]
  serve   an echo service: every message goes back to its sender
Usage: ${ASYNCAPI_USAGE}
Usage: ${HASH_PASSWORD_USAGE}`;

async function serve(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      port: { type: "string", default: "9090" },
      host: { type: "string", default: "0.0.0.0" },
      path: { type: "string", default: "/" },
    },
  });
  const listener = new Listener(Number(values.port), { host: values.host });
  listener.attach(values.path, {
    config: { allowedOrigins: ["*"] },
    upgrade: () => ({
      onTextMessage: (_caller, text: string) => text,
      onBinaryMessage: (_caller, data: Uint8Array) => data,
    }),
  });
  await listener.start();
  console.log(`ferry: echo service at ws://${values.host}:${listener.port}${values.path}`);
  process.once("SIGINT", () => void listener.gracefulStop().then(() => process.exit(0)));
}

const [command, ...rest] = process.argv.slice(2);
switch (command) {
  case "serve":
    await serve(rest);
    break;
  case "asyncapi":
    // The module may have started servers of its own: the document is out, so exit.
    process.exit(await asyncapiCommand(rest));
  case "hash-password":
    process.exitCode = await hashPasswordCommand(rest);
    break;
  case "--help":
  case "-h":
  case "help":
    console.log(USAGE);
    break;
  default:
    // Usage goes to stderr when it answers a mistake, so that it never pollutes piped output.
    console.error(USAGE);
    process.exitCode = command === undefined ? 0 : 2;
}
