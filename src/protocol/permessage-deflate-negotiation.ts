import { type ExtensionElement, formatExtension } from "./extension-header.ts";

export const PERMESSAGE_DEFLATE = "permessage-deflate";

/** What was agreed for one connection (RFC 7692 §7.1). Window bits are 8–15. */
export interface DeflateParameters {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  serverMaxWindowBits: number;
  clientMaxWindowBits: number;
}

/** The server's acceptance: the parameters and the `Sec-WebSocket-Extensions` value that states them. */
export interface DeflateAgreement {
  parameters: DeflateParameters;
  response: string;
}

/**
 * What one side asks for. On a server: what it imposes on every accepted offer. On a
 * client: what it offers. A window size left undefined is not mentioned (15 bits apply).
 */
export interface DeflateRequest {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  serverMaxWindowBits: number | undefined;
  clientMaxWindowBits: number | undefined;
}

/** The four parameters as an offer or a response states them. */
interface Stated {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  serverMaxWindowBits: number | undefined;
  /** `true`: the valueless form, allowed in offers only. */
  clientMaxWindowBits: number | true | undefined;
}

const MAX_BITS = 15;

/** RFC 7692 §7.1.2: a decimal integer 8–15 without leading zeros. */
function windowBits(value: string | true): number | undefined {
  return value !== true && /^(?:8|9|1[0-5])$/.test(value) ? Number(value) : undefined;
}

/**
 * Reads the parameters of one permessage-deflate element; a string explains what is wrong
 * (an unknown or repeated parameter, or a value that is not allowed).
 */
function readParameters(element: ExtensionElement, isOffer: boolean): Stated | string {
  const stated: Stated = {
    serverNoContextTakeover: false,
    clientNoContextTakeover: false,
    serverMaxWindowBits: undefined,
    clientMaxWindowBits: undefined,
  };
  const seen = new Set<string>();
  for (const [name, value] of element.params) {
    if (seen.has(name)) return `repeated parameter ${name}`;
    seen.add(name);
    switch (name) {
      case "server_no_context_takeover":
      case "client_no_context_takeover":
        if (value !== true) return `${name} takes no value`;
        if (name === "server_no_context_takeover") stated.serverNoContextTakeover = true;
        else stated.clientNoContextTakeover = true;
        break;
      case "server_max_window_bits": {
        const bits = windowBits(value);
        if (bits === undefined) return `invalid ${name} ${value === true ? "without a value" : `"${value}"`}`;
        stated.serverMaxWindowBits = bits;
        break;
      }
      case "client_max_window_bits": {
        if (value === true && isOffer) {
          stated.clientMaxWindowBits = true;
          break;
        }
        const bits = windowBits(value);
        if (bits === undefined) return `invalid ${name} ${value === true ? "without a value" : `"${value}"`}`;
        stated.clientMaxWindowBits = bits;
        break;
      }
      default:
        return `unknown parameter ${name}`;
    }
  }
  return stated;
}

/**
 * The server's side (RFC 7692 §5, §7.1): the first permessage-deflate offer that is valid is
 * accepted, with `policy` added to it; offers with unknown, repeated or invalid parameters
 * are declined. Every valid offer can be honoured (a window of 8 bits included, see
 * permessage-deflate.ts), so undefined means no valid offer: no compression.
 */
export function acceptDeflateOffer(
  offers: readonly ExtensionElement[],
  policy: DeflateRequest,
): DeflateAgreement | undefined {
  for (const offer of offers) {
    if (offer.name !== PERMESSAGE_DEFLATE) continue;
    const stated = readParameters(offer, true);
    if (typeof stated === "string") continue;

    const params: ExtensionElement["params"] = [];
    const serverNoContextTakeover = stated.serverNoContextTakeover || policy.serverNoContextTakeover;
    if (serverNoContextTakeover) params.push(["server_no_context_takeover", true]);
    // The client may always be told not to take over context (§7.1.1.2).
    const clientNoContextTakeover = stated.clientNoContextTakeover || policy.clientNoContextTakeover;
    if (clientNoContextTakeover) params.push(["client_no_context_takeover", true]);

    // Accepting the client's limit means answering with it or a smaller one (§7.1.2.1); a
    // server may also state a limit of its own that the client did not ask for.
    let serverBits = MAX_BITS;
    if (stated.serverMaxWindowBits !== undefined || policy.serverMaxWindowBits !== undefined) {
      serverBits = Math.min(stated.serverMaxWindowBits ?? MAX_BITS, policy.serverMaxWindowBits ?? MAX_BITS);
      params.push(["server_max_window_bits", String(serverBits)]);
    }

    // Only a client that offered client_max_window_bits may be given a limit (§7.1.2.2); one
    // that did not compresses with a full window, which the server then inflates.
    let clientBits = MAX_BITS;
    const offered = stated.clientMaxWindowBits;
    if (offered !== undefined && (offered !== true || policy.clientMaxWindowBits !== undefined)) {
      clientBits = Math.min(offered === true ? MAX_BITS : offered, policy.clientMaxWindowBits ?? MAX_BITS);
      params.push(["client_max_window_bits", String(clientBits)]);
    }

    return {
      parameters: { serverNoContextTakeover, clientNoContextTakeover, serverMaxWindowBits: serverBits, clientMaxWindowBits: clientBits },
      response: formatExtension({ name: PERMESSAGE_DEFLATE, params }),
    };
  }
  return undefined;
}

/** The client's offer: its requests, and always client_max_window_bits so that a server may limit it. */
export function deflateOffer(request: DeflateRequest): string {
  const params: ExtensionElement["params"] = [];
  if (request.serverNoContextTakeover) params.push(["server_no_context_takeover", true]);
  if (request.clientNoContextTakeover) params.push(["client_no_context_takeover", true]);
  if (request.serverMaxWindowBits !== undefined) params.push(["server_max_window_bits", String(request.serverMaxWindowBits)]);
  params.push(["client_max_window_bits", request.clientMaxWindowBits === undefined ? true : String(request.clientMaxWindowBits)]);
  return formatExtension({ name: PERMESSAGE_DEFLATE, params });
}

/**
 * The client's check of the server's answer to `deflateOffer(request)`: the agreed parameters,
 * or a string saying why the answer is not acceptable (the handshake then fails, RFC 7692 §5).
 * An empty list means the server declined: no compression.
 */
export function acceptDeflateResponse(
  extensions: readonly ExtensionElement[],
  request: DeflateRequest,
): DeflateParameters | undefined | string {
  if (extensions.length === 0) return undefined;
  const [element] = extensions;
  if (element!.name !== PERMESSAGE_DEFLATE) return `extension "${element!.name}" was not offered`;
  if (extensions.length > 1) {
    const other = extensions[1]!.name;
    return other === PERMESSAGE_DEFLATE ? "permessage-deflate accepted twice" : `extension "${other}" was not offered`;
  }
  const stated = readParameters(element!, false);
  if (typeof stated === "string") return `permessage-deflate answer has ${stated}`;

  if (request.serverNoContextTakeover && !stated.serverNoContextTakeover) {
    return "permessage-deflate answer lacks the server_no_context_takeover that was offered";
  }
  let serverBits = stated.serverMaxWindowBits ?? MAX_BITS;
  if (request.serverMaxWindowBits !== undefined) {
    if (stated.serverMaxWindowBits === undefined) return "permessage-deflate answer lacks the server_max_window_bits that was offered";
    if (stated.serverMaxWindowBits > request.serverMaxWindowBits) {
      return `permessage-deflate answer has server_max_window_bits=${stated.serverMaxWindowBits}, over the ${request.serverMaxWindowBits} offered`;
    }
    serverBits = stated.serverMaxWindowBits;
  }
  // readParameters refused the valueless form, so this is a number when present.
  const answeredClientBits = stated.clientMaxWindowBits as number | undefined;
  if (answeredClientBits !== undefined && request.clientMaxWindowBits !== undefined && answeredClientBits > request.clientMaxWindowBits) {
    return `permessage-deflate answer has client_max_window_bits=${answeredClientBits}, over the ${request.clientMaxWindowBits} offered`;
  }
  return {
    serverNoContextTakeover: stated.serverNoContextTakeover,
    // What the client offered binds it even when the server does not repeat it.
    clientNoContextTakeover: stated.clientNoContextTakeover || request.clientNoContextTakeover,
    serverMaxWindowBits: serverBits,
    clientMaxWindowBits: answeredClientBits ?? request.clientMaxWindowBits ?? MAX_BITS,
  };
}
