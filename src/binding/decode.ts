import type { StandardSchemaV1 } from "@standard-schema/spec";
import { PayloadValidationError } from "../errors.ts";
import type { Binding } from "./bind.ts";
import { bindBinary, bindJson, bindText } from "./kinds.ts";
import { parseXml } from "./xml.ts";

/**
 * Turns a received message into what its binding asks for (SPEC §5). Schemas validate the
 * JSON unless `validation` is false; a schema may validate asynchronously, and then so does
 * this. Throws (or rejects with) PayloadBindingError or PayloadValidationError.
 */
export function decodeMessage(binding: Binding, data: string | Uint8Array, validation: boolean): unknown {
  switch (binding) {
    case "text":
      return bindText(data);
    case "binary":
      return bindBinary(data);
    case "json":
      return bindJson(data);
    case "xml":
      return parseXml(bindText(data));
    default:
      return validate(binding, bindJson(data), validation);
  }
}

/** Validates already-parsed JSON against a schema: the handler gets the schema's output. */
export function validate(schema: StandardSchemaV1, json: unknown, validation: boolean): unknown {
  if (!validation) return json;
  const result = schema["~standard"].validate(json);
  return result instanceof Promise ? result.then(outcome) : outcome(result);
}

function outcome(result: StandardSchemaV1.Result<unknown>): unknown {
  if (result.issues === undefined) return result.value;
  throw new PayloadValidationError(`data validation failed: ${describeIssues(result.issues)}`, { cause: result.issues });
}

function describeIssues(issues: readonly StandardSchemaV1.Issue[]): string {
  return issues
    .map((issue) => {
      const path = (issue.path ?? []).map((segment) => String(typeof segment === "object" ? segment.key : segment)).join(".");
      return path === "" ? issue.message : `${path}: ${issue.message}`;
    })
    .join("; ");
}
