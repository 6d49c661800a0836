/** Who authenticated on the upgrade (SPEC §9.2). */
export interface Principal {
  /** Who the user is: the user store's user name, or the token's subject. */
  readonly name: string;
  /** The scopes the user holds. */
  readonly scopes: readonly string[];
  /** The token's claims (a JWT's payload, or an introspection answer) when a token authenticated the user. */
  readonly claims?: Readonly<Record<string, unknown>>;
}
