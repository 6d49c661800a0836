import { createRequire } from "node:module";
import type { Document } from "@xmldom/xmldom";
import { PayloadBindingError } from "../errors.ts";

/** A W3C DOM Document (xmldom's): what a message bound as "xml" is, and what a handler may return as text. */
export type { Document };

type XmlDom = typeof import("@xmldom/xmldom");
let loaded: XmlDom | undefined;

/**
 * xmldom is loaded on first use: most services never see XML, and the parser is a large
 * module that every process would otherwise keep on its heap.
 */
function xmldom(): XmlDom {
  return (loaded ??= createRequire(import.meta.url)("@xmldom/xmldom") as XmlDom);
}

/** @internal Parses XML text into a W3C DOM Document; malformed XML is a binding failure, never a log line. */
export function parseXml(text: string): Document {
  const parser = new (xmldom().DOMParser)({
    onError(level, message) {
      if (level !== "warning") throw new Error(message);
    },
  });
  try {
    return parser.parseFromString(text, "text/xml");
  } catch (cause) {
    const detail = cause instanceof Error ? cause.message : String(cause);
    throw new PayloadBindingError(`data binding failed: invalid XML: ${detail}`, { cause });
  }
}

/** @internal A DOM Document, from xmldom or any other W3C implementation that XMLSerializer can read. */
export function isXmlDocument(value: object): value is Document {
  return (value as { nodeType?: unknown }).nodeType === 9 && "documentElement" in value;
}

/** @internal */
export function serializeXml(document: Document): string {
  return new (xmldom().XMLSerializer)().serializeToString(document);
}
