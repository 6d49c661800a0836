import { WebSocketError } from "../errors.ts";
import { FileUserStore, type FileUserStoreConfig } from "./file-user-store.ts";
import type { Principal } from "./principal.ts";

/** One scope or several: a principal needs any one of them. */
export type Scopes = string | string[];

/**
 * One way a service accepts logins (SPEC §9.2), tried in list order. Only the file user
 * store exists so far; the LDAP user store, JWT validation and OAuth2 introspection of
 * SPEC §9.2 join this union later.
 */
export type ListenerAuthConfig = {
  /** Users, plain or scrypt passwords and scopes from a TOML file, for `Basic` credentials. */
  fileUserStoreConfig: FileUserStoreConfig;
  /** Scopes of which a principal must hold one, else 403. [none required] */
  scopes?: Scopes;
};

/** @internal What the listener does with an upgrade: go on with a principal, or answer 401/403. */
export type AuthVerdict =
  | { principal: Principal; refusal?: undefined }
  | { principal?: undefined; refusal: { status: number; body: string; headers?: Record<string, string> } };

interface Entry {
  store: FileUserStore;
  scopes: readonly string[];
}

const BASIC_CHALLENGE = 'Basic realm="ferry", charset="UTF-8"';
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const utf8 = new TextDecoder("utf-8", { fatal: true });

/** @internal A service's `auth` list, loaded at attach, which decides each upgrade's `Authorization`. */
export class ListenerAuth {
  private constructor(private readonly entries: readonly Entry[]) {}

  /**
   * Loads every entry's files now.
   * @throws WebSocketError for an empty list, an entry of no known kind, or a user store that does not load.
   */
  static load(configs: readonly ListenerAuthConfig[]): ListenerAuth {
    if (!Array.isArray(configs) || configs.length === 0) {
      throw new WebSocketError("ServiceConfig.auth must list at least one way to log in, or be left out");
    }
    return new ListenerAuth(
      configs.map((config, index) => {
        if (typeof config !== "object" || config === null || config.fileUserStoreConfig === undefined) {
          throw new WebSocketError(`ServiceConfig.auth[${index}] must have fileUserStoreConfig (the only kind so far)`);
        }
        const scopes = config.scopes === undefined ? [] : typeof config.scopes === "string" ? [config.scopes] : [...config.scopes];
        return { store: FileUserStore.load(config.fileUserStoreConfig), scopes };
      }),
    );
  }

  /** Decides an upgrade from its `Authorization` header; never throws. */
  async check(authorization: string | undefined): Promise<AuthVerdict> {
    const credentials = parseBasic(authorization);
    if (credentials !== undefined) {
      for (const entry of this.entries) {
        const principal = await entry.store.verify(credentials.username, credentials.password);
        if (principal === undefined) continue;
        if (entry.scopes.length > 0 && !entry.scopes.some((scope) => principal.scopes.includes(scope))) {
          return { refusal: { status: 403, body: "Forbidden: none of the required scopes" } };
        }
        return { principal };
      }
    }
    return { refusal: { status: 401, body: "Unauthorized", headers: { "WWW-Authenticate": BASIC_CHALLENGE } } };
  }
}

/** RFC 7617 credentials; undefined for another scheme or anything malformed, which all mean 401. */
function parseBasic(header: string | undefined): { username: string; password: string } | undefined {
  if (header === undefined) return undefined;
  const match = /^basic +(\S*) *$/i.exec(header);
  if (match === null || !BASE64.test(match[1]!)) return undefined;
  let decoded: string;
  try {
    decoded = utf8.decode(Buffer.from(match[1]!, "base64"));
  } catch {
    return undefined;
  }
  const colon = decoded.indexOf(":");
  if (colon < 0) return undefined;
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}
