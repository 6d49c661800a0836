import { PayloadBindingError } from "../errors.ts";

/**
 * The default binding of `onMessage` (SPEC §5): text parsed as JSON; a binary frame decoded
 * as UTF-8 first.
 */
export function bindJson(data: string | Uint8Array): unknown {
  const text = typeof data === "string" ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString("utf8");
  try {
    return JSON.parse(text);
  } catch (cause) {
    const detail = cause instanceof Error ? cause.message : String(cause);
    throw new PayloadBindingError(`data binding failed: ${detail}`, { cause });
  }
}
