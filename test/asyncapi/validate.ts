import assert from "node:assert/strict";
import { type AsyncAPIDocumentInterface, DiagnosticSeverity, Parser } from "@asyncapi/parser";

const parser = new Parser();

const parsed = new WeakMap<object, Promise<AsyncAPIDocumentInterface>>();

/**
 * Parses a document with @asyncapi/parser, failing on any diagnostic of severity error. The
 * parser lints as it goes (half a second a document): each document is parsed once.
 */
export function parseValid(document: object): Promise<AsyncAPIDocumentInterface> {
  let parsing = parsed.get(document);
  if (parsing === undefined) {
    parsing = parse(document);
    parsed.set(document, parsing);
  }
  return parsing;
}

async function parse(document: object): Promise<AsyncAPIDocumentInterface> {
  const { document: result, diagnostics } = await parser.parse(JSON.stringify(document));
  const errors = diagnostics.filter((diagnostic) => diagnostic.severity === DiagnosticSeverity.Error);
  assert.deepEqual(
    errors.map((error) => `${error.code} at ${error.path.join("/")}: ${error.message}`),
    [],
    "the AsyncAPI parser found errors",
  );
  assert.ok(result !== undefined, "the parser gave no document");
  return result;
}
