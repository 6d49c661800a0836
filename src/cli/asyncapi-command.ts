import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { type AsyncAPIOptions, type DescribableListener, toAsyncAPI } from "../asyncapi/asyncapi-document.ts";

export const ASYNCAPI_USAGE = `ferry asyncapi <module> [--output file] [--export name] [--title T] [--api-version V]
                        [--description D] [--server [name=]url]...
  asyncapi  print the AsyncAPI 3.0.0 document of the listener a module exports
            (its default export, else "listener"; a Listener or a function returning one)`;

/** Thrown for what the user can fix; main prints the message without a stack. */
class CommandError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

function isListener(value: unknown): value is DescribableListener {
  return value !== null && typeof value === "object" && typeof (value as Partial<DescribableListener>).attachments === "function";
}

async function importModule(specifier: string): Promise<Record<string, unknown>> {
  const path = resolve(process.cwd(), specifier);
  if (!existsSync(path)) throw new CommandError(`ferry asyncapi: no module at ${path}`, 1);
  const url = pathToFileURL(path).href;
  try {
    return (await import(url)) as Record<string, unknown>;
  } catch (error) {
    if ((error as { code?: unknown }).code === "ERR_UNKNOWN_FILE_EXTENSION") {
      throw new CommandError(`ferry asyncapi: cannot import ${specifier} with plain node; run ferry through tsx (node --import tsx …)`, 1);
    }
    throw error;
  }
}

/** The module's listener: the named export, else `default`, else `listener`; a function is called for it. */
async function listenerOf(module: Record<string, unknown>, specifier: string, exportName: string | undefined): Promise<DescribableListener> {
  const names = exportName !== undefined ? [exportName] : ["default", "listener"];
  const name = names.find((candidate) => module[candidate] !== undefined);
  if (name === undefined) throw new CommandError(`ferry asyncapi: ${specifier} has no export ${names.map((n) => `"${n}"`).join(" or ")}`, 1);
  let value = module[name];
  if (typeof value === "function") value = await (value as () => unknown)();
  if (!isListener(value)) throw new CommandError(`ferry asyncapi: the export "${name}" of ${specifier} is not a Listener (nor a function returning one)`, 1);
  return value;
}

/** `--server ws://host:9090` or `--server prod=wss://api.example.com`. */
function serversOf(values: readonly string[]): Record<string, string> | undefined {
  if (values.length === 0) return undefined;
  const servers: Record<string, string> = {};
  values.forEach((value, index) => {
    const named = /^([\w-]+)=(.+)$/.exec(value);
    const name = named?.[1] ?? (values.length === 1 ? "default" : `server${index + 1}`);
    servers[name] = named?.[2] ?? value;
  });
  return servers;
}

function write(stream: NodeJS.WriteStream, text: string): Promise<void> {
  return new Promise((done, fail) => stream.write(text, (error) => (error ? fail(error) : done())));
}

/** Runs `ferry asyncapi …`; resolves with the exit code once the output is written. */
export async function asyncapiCommand(args: string[]): Promise<number> {
  try {
    let parsed;
    try {
      parsed = parseArgs({
        args,
        allowPositionals: true,
        options: {
          output: { type: "string", short: "o" },
          export: { type: "string" },
          title: { type: "string" },
          "api-version": { type: "string" },
          description: { type: "string" },
          server: { type: "string", multiple: true },
          help: { type: "boolean", short: "h" },
        },
      });
    } catch (error) {
      throw new CommandError(`ferry asyncapi: ${(error as Error).message}\n${ASYNCAPI_USAGE}`, 2);
    }
    const { values, positionals } = parsed;
    if (values.help === true) {
      await write(process.stdout, `${ASYNCAPI_USAGE}\n`);
      return 0;
    }
    if (positionals.length !== 1) throw new CommandError(`ferry asyncapi: give one module\n${ASYNCAPI_USAGE}`, 2);
    const specifier = positionals[0]!;
    const listener = await listenerOf(await importModule(specifier), specifier, values.export);
    const options: AsyncAPIOptions = {};
    if (values.title !== undefined) options.title = values.title;
    if (values["api-version"] !== undefined) options.version = values["api-version"];
    if (values.description !== undefined) options.description = values.description;
    const servers = serversOf(values.server ?? []);
    if (servers !== undefined) options.servers = servers;
    const json = `${JSON.stringify(toAsyncAPI(listener, options), null, 2)}\n`;
    if (values.output === undefined) await write(process.stdout, json);
    else await writeFile(values.output, json);
    return 0;
  } catch (error) {
    if (error instanceof CommandError) {
      await write(process.stderr, `${error.message}\n`);
      return error.exitCode;
    }
    await write(process.stderr, `ferry asyncapi: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    return 1;
  }
}
