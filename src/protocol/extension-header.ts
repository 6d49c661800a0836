/** One element of a `Sec-WebSocket-Extensions` header: a name and its parameters, in order. */
export interface ExtensionElement {
  name: string;
  /** Parameters as written; a parameter without `=` has the value `true`. Duplicates are kept. */
  params: [name: string, value: string | true][];
}

/** RFC 7230 §3.2.6 tchar, indexed by character code. */
const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") TCHAR[c.charCodeAt(0)] = 1;

function isTchar(code: number): boolean {
  return code < 128 && TCHAR[code] === 1;
}

function isSpace(code: number): boolean {
  return code === 0x20 || code === 0x09;
}

/**
 * Parses a `Sec-WebSocket-Extensions` value (RFC 6455 §9.1, with RFC 7230 list rules: optional
 * whitespace around separators, empty list elements ignored) in one pass over the string.
 * Returns undefined when the value does not follow the grammar, including a quoted value
 * that is not a token once unescaped. Repeated header lines joined with ", " parse as one list.
 */
export function parseExtensionHeader(value: string): ExtensionElement[] | undefined {
  const elements: ExtensionElement[] = [];
  const length = value.length;
  let i = 0;

  const skipSpace = (): void => {
    while (i < length && isSpace(value.charCodeAt(i))) i++;
  };
  const readToken = (): string | undefined => {
    const start = i;
    while (i < length && isTchar(value.charCodeAt(i))) i++;
    return i === start ? undefined : value.slice(start, i);
  };
  const readQuoted = (): string | undefined => {
    // At the opening quote; RFC 6455 §9.1 wants a token inside, so only tchars may appear.
    i++;
    let text = "";
    for (;;) {
      if (i >= length) return undefined;
      let code = value.charCodeAt(i++);
      if (code === 0x22) break;
      if (code === 0x5c) {
        if (i >= length) return undefined;
        code = value.charCodeAt(i++);
      }
      if (!isTchar(code)) return undefined;
      text += value[i - 1];
    }
    return text === "" ? undefined : text;
  };

  for (;;) {
    skipSpace();
    if (i >= length) break;
    if (value.charCodeAt(i) === 0x2c) {
      i++;
      continue;
    }
    const name = readToken();
    if (name === undefined) return undefined;
    const element: ExtensionElement = { name, params: [] };
    elements.push(element);
    skipSpace();
    while (i < length && value.charCodeAt(i) === 0x3b) {
      i++;
      skipSpace();
      const param = readToken();
      if (param === undefined) return undefined;
      skipSpace();
      let paramValue: string | true = true;
      if (i < length && value.charCodeAt(i) === 0x3d) {
        i++;
        skipSpace();
        const read = i < length && value.charCodeAt(i) === 0x22 ? readQuoted() : readToken();
        if (read === undefined) return undefined;
        paramValue = read;
        skipSpace();
      }
      element.params.push([param, paramValue]);
    }
    if (i < length) {
      if (value.charCodeAt(i) !== 0x2c) return undefined;
      i++;
    }
  }
  return elements;
}

/** Writes one extension element; values that are tokens go unquoted. */
export function formatExtension(element: ExtensionElement): string {
  let text = element.name;
  for (const [name, value] of element.params) text += value === true ? `; ${name}` : `; ${name}=${value}`;
  return text;
}
