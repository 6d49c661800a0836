import { PayloadBindingError } from "../errors.ts";
import { isUtf8 } from "../protocol/utf8.ts";

/** The binding kinds of SPEC §5 that need no parser beyond JSON (XML and schemas build on them). */
export type BindingKind = "text" | "binary" | "json";

function bytesOf(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/** @internal A text frame as is; a binary frame decoded as UTF-8, refused when it is not. */
export function bindText(data: string | Uint8Array): string {
  if (typeof data === "string") return data;
  if (!isUtf8(data)) throw new PayloadBindingError("data binding failed: the binary message is not valid UTF-8 text");
  return bytesOf(data).toString("utf8");
}

/** @internal A binary frame as is; a text frame as its UTF-8 bytes. */
export function bindBinary(data: string | Uint8Array): Uint8Array {
  return typeof data === "string" ? Buffer.from(data, "utf8") : data;
}

/** @internal */
export function bindJson(data: string | Uint8Array): unknown {
  const text = bindText(data);
  try {
    return JSON.parse(text);
  } catch (cause) {
    const detail = cause instanceof Error ? cause.message : String(cause);
    throw new PayloadBindingError(`data binding failed: ${detail}`, { cause });
  }
}
