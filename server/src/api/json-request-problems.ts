import type { DescEnum, DescField, DescMessage } from "@bufbuild/protobuf";
import { isFieldError } from "@bufbuild/protobuf/reflect";
import { element, type RequestProblem } from "./request-problems.ts";

// Which field of a JSON request fromJson refused, and why: the parsed JSON is
// walked against the schema for unknown fields and enum names (protobuf-es
// names no field for those), else the field fromJson's error blames is used.
// Separate from the binary walk
// (binary-request-problems.ts) because the two share only the field model
// (request-problems.ts): this one reads a parsed object, that one wire bytes.

/** A JSON key as a field name: itself when it looks like one, quoted and cut short otherwise. */
const nameOf = (key: string) => (/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(key) ? key : JSON.stringify(key.slice(0, 64)));

function enumProblem(desc: DescEnum, value: unknown, name: string): RequestProblem | undefined {
  if (typeof value !== "string" || desc.values.some((v) => v.name === value)) return undefined;
  return {
    field: name,
    problem: `unknown value ${JSON.stringify(value.slice(0, 64))}; use one of ${desc.values.map((v) => v.name).join(", ")}`,
  };
}

function jsonValueProblem(field: DescField, json: unknown, name: string): RequestProblem | undefined {
  const value = element(field);
  const entries =
    field.fieldKind === "list"
      ? Array.isArray(json)
        ? json.map((v, i) => [`${name}[${i}]`, v] as const)
        : []
      : field.fieldKind === "map"
        ? typeof json === "object" && json !== null
          ? Object.entries(json).map(([k, v]) => [`${name}[${JSON.stringify(k.slice(0, 64))}]`, v] as const)
          : []
        : [[name, json] as const];
  for (const [entryName, v] of entries) {
    const problem =
      value.kind === "enum"
        ? enumProblem(value.enum, v, entryName)
        : value.kind === "message"
          ? jsonMessageProblem(value.message, v, entryName)
          : undefined;
    if (problem !== undefined) return problem;
  }
  return undefined;
}

function jsonMessageProblem(desc: DescMessage, json: unknown, path: string): RequestProblem | undefined {
  // Well-known types have JSON forms of their own (a Timestamp is a string).
  if (desc.typeName.startsWith("google.protobuf.") || typeof json !== "object" || json === null) return undefined;
  for (const [key, value] of Object.entries(json)) {
    const name = path === "" ? nameOf(key) : `${path}.${nameOf(key)}`;
    const field = desc.fields.find((f) => f.jsonName === key || f.name === key);
    if (field === undefined) return { field: name, problem: `is not a field of ${desc.typeName}` };
    const problem = value === null ? undefined : jsonValueProblem(field, value, name);
    if (problem !== undefined) return problem;
  }
  return undefined;
}

/**
 * Says which field of parsed JSON fromJson refused, and why: an unknown field
 * or enum name found by walking it, else the field its error blames (a value
 * of the wrong type); undefined when neither names one.
 */
export function jsonProblem(desc: DescMessage, json: unknown, error: unknown): RequestProblem | undefined {
  const found = jsonMessageProblem(desc, json, "");
  if (found !== undefined) return found;
  const cause = error instanceof Error ? error.cause : undefined;
  return isFieldError(cause) ? { field: cause.field().name, problem: cause.message } : undefined;
}
