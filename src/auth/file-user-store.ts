import { createHash, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import { parse } from "smol-toml";
import { WebSocketError } from "../errors.ts";
import type { Principal } from "./principal.ts";
import { isScryptPhc, parseScryptPhc, verifyScryptPhc, type ScryptPhc } from "./scrypt-phc.ts";

/** Where a file user store's TOML lives (SPEC §9.2): `[[users]]` with `username`, `password` and `scopes`. */
export interface FileUserStoreConfig {
  /** The TOML file, read when the service is attached. */
  path: string;
}

interface StoredUser {
  scopes: readonly string[];
  /** SHA-256 of a plain password: both sides hashed to one length, so comparing them leaks nothing. */
  plainDigest?: Buffer;
  phc?: ScryptPhc;
}

/** @internal The users of a TOML file, checked against Basic credentials. */
export class FileUserStore {
  private constructor(private readonly users: ReadonlyMap<string, StoredUser>) {}

  /**
   * Reads and checks the whole file now, so that a broken one fails at attach, not at the first login.
   * @throws WebSocketError naming `path` and the file for a missing or unreadable file, bad TOML or a bad entry.
   */
  static load(config: FileUserStoreConfig): FileUserStore {
    const path = config.path;
    const fail = (what: string, cause?: unknown): never => {
      throw new WebSocketError(`fileUserStoreConfig.path ${JSON.stringify(path)}: ${what}`, cause === undefined ? {} : { cause });
    };
    if (typeof path !== "string" || path === "") fail("must be the path of a TOML file");
    let document: Record<string, unknown>;
    try {
      document = parse(readFileSync(path, "utf8"));
    } catch (error) {
      return fail(error instanceof Error && "code" in error ? `cannot read the file (${String(error.code)})` : "is not valid TOML", error);
    }
    const entries = document["users"] ?? [];
    if (!Array.isArray(entries)) return fail("`users` must be an array of tables ([[users]])");
    const users = new Map<string, StoredUser>();
    entries.forEach((entry: unknown, index) => {
      const at = `users[${index}]`;
      if (typeof entry !== "object" || entry === null || Array.isArray(entry)) fail(`${at} must be a table`);
      const { username, password, scopes = [] } = entry as Record<string, unknown>;
      if (typeof username !== "string" || username === "") fail(`${at}.username must be a non-empty string`);
      if (typeof password !== "string") fail(`${at}.password must be a string`);
      if (!Array.isArray(scopes) || !scopes.every((scope) => typeof scope === "string")) fail(`${at}.scopes must be an array of strings`);
      const name = username as string;
      if (users.has(name)) fail(`${at}.username ${JSON.stringify(name)} appears twice`);
      const stored: StoredUser = { scopes: Object.freeze([...(scopes as string[])]) };
      if (isScryptPhc(password as string)) {
        try {
          stored.phc = parseScryptPhc(password as string);
        } catch (error) {
          fail(`${at}.password: ${(error as Error).message}`);
        }
      } else {
        stored.plainDigest = digest(password as string);
      }
      users.set(name, stored);
    });
    return new FileUserStore(users);
  }

  /** The principal for a right user name and password; undefined otherwise. */
  async verify(username: string, password: string): Promise<Principal | undefined> {
    const user = this.users.get(username);
    if (user === undefined) return undefined;
    const ok = user.phc !== undefined ? await verifyScryptPhc(password, user.phc) : timingSafeEqual(digest(password), user.plainDigest!);
    return ok ? { name: username, scopes: user.scopes } : undefined;
  }
}

function digest(text: string): Buffer {
  return createHash("sha256").update(text, "utf8").digest();
}
