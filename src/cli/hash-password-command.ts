import { createInterface } from "node:readline";
import { Writable } from "node:stream";
import { hashPassword } from "../auth/scrypt-phc.ts";

/** The usage line of `ferry hash-password`. */
export const HASH_PASSWORD_USAGE = `ferry hash-password
  hash-password  reads a password (without echo on a terminal, else one line of stdin) and
                 prints its scrypt PHC string for a file user store's \`password\``;

/** Runs `ferry hash-password`; resolves to the exit code. */
export async function hashPasswordCommand(args: string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    console.log(`Usage: ${HASH_PASSWORD_USAGE}`);
    return 0;
  }
  if (args.length > 0) {
    console.error(`ferry hash-password takes no arguments (a password on the command line would stay in the shell's history)\nUsage: ${HASH_PASSWORD_USAGE}`);
    return 2;
  }
  const password = process.stdin.isTTY ? await readHidden() : await readLine();
  if (password === undefined || password === "") {
    console.error("ferry hash-password: no password given");
    return 2;
  }
  console.log(await hashPassword(password));
  return 0;
}

/** The first line of piped stdin, without its line ending; undefined when stdin is empty. */
async function readLine(): Promise<string | undefined> {
  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of lines) {
    lines.close();
    return line;
  }
  return undefined;
}

/** A line typed on the terminal, echoed nowhere: readline writes its echo to a sink. */
function readHidden(): Promise<string | undefined> {
  process.stderr.write("Password: ");
  const sink = new Writable({ write: (_chunk, _encoding, done) => done() });
  const lines = createInterface({ input: process.stdin, output: sink, terminal: true });
  return new Promise((resolve) => {
    const finish = (line: string | undefined): void => {
      process.stderr.write("\n");
      lines.close();
      resolve(line);
    };
    lines.once("line", finish);
    lines.once("SIGINT", () => finish(undefined));
    lines.once("close", () => resolve(undefined));
  });
}
