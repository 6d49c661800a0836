/**
 * The custom-dispatch name rule (SPEC §6): split the value on runs of characters that are
 * not letters or digits, capitalise each word's first letter and keep the rest, prefix `on`.
 * "connection_init" → onConnectionInit, "_ping" → onPing, "getUser" → onGetUser.
 */
export function methodNameFor(value: string): string {
  let name = "on";
  for (const word of value.split(/[^\p{L}\p{N}]+/u)) {
    if (word === "") continue;
    const first = String.fromCodePoint(word.codePointAt(0)!);
    name += first.toUpperCase() + word.slice(first.length);
  }
  return name;
}
