import { type DescEnum, type DescField, type DescMessage, ScalarType } from "@bufbuild/protobuf";
import { isFieldError } from "@bufbuild/protobuf/reflect";
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";

// What is wrong with a request that does not parse, found only after the
// parser refused it: protobuf-es names no field ("premature EOF", "cannot
// decode enum media.v1.MediaState from JSON"), while callers are promised an
// INVALID_ARGUMENT that starts with the field at fault. Both ports use these.

/** The first problem found; `field` is a path like `key`, `labels["app"]` or `ids[2]`, unset when none can be named. */
export interface RequestProblem {
  readonly field: string | undefined;
  /** Follows the field name ("is truncated"), or stands alone when there is none. */
  readonly problem: string;
}

// fromBinary's default, which both ports parse with.
const RECURSION_LIMIT = 100;
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

const WIRE_TYPE_NAMES: Record<WireType, string> = {
  [WireType.Varint]: "varint",
  [WireType.Bit64]: "64-bit",
  [WireType.LengthDelimited]: "length-delimited",
  [WireType.StartGroup]: "start group",
  [WireType.EndGroup]: "end group",
  [WireType.Bit32]: "32-bit",
};

/** What one field value holds: a scalar, an enum or a message. */
type Element =
  | { readonly kind: "scalar"; readonly scalar: ScalarType; readonly utf8: boolean }
  | { readonly kind: "enum"; readonly enum: DescEnum }
  | { readonly kind: "message"; readonly message: DescMessage };

function element(field: DescField): Element {
  switch (field.fieldKind) {
    case "scalar":
      return { kind: "scalar", scalar: field.scalar, utf8: field.utf8Validation };
    case "enum":
      return { kind: "enum", enum: field.enum };
    case "message":
      return { kind: "message", message: field.message };
    case "list":
      if (field.listKind === "scalar") return { kind: "scalar", scalar: field.scalar, utf8: field.utf8Validation };
      return field.listKind === "enum"
        ? { kind: "enum", enum: field.enum }
        : { kind: "message", message: field.message };
    case "map":
      if (field.mapKind === "scalar") return { kind: "scalar", scalar: field.scalar, utf8: field.utf8Validation };
      return field.mapKind === "enum"
        ? { kind: "enum", enum: field.enum }
        : { kind: "message", message: field.message };
  }
}

function wireTypeOf(value: Element): WireType {
  if (value.kind === "enum") return WireType.Varint;
  if (value.kind === "message") return WireType.LengthDelimited;
  switch (value.scalar) {
    case ScalarType.STRING:
    case ScalarType.BYTES:
      return WireType.LengthDelimited;
    case ScalarType.DOUBLE:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return WireType.Bit64;
    case ScalarType.FLOAT:
    case ScalarType.FIXED32:
    case ScalarType.SFIXED32:
      return WireType.Bit32;
    default:
      return WireType.Varint;
  }
}

/** The reader's errors, in words: a RangeError is always a read past the end. */
function describe(error: unknown): string {
  if (error instanceof RangeError) return "is truncated (the message ends inside it)";
  const message = error instanceof Error ? error.message : String(error);
  if (message.includes("recursion depth")) return `nests groups deeper than ${RECURSION_LIMIT} levels`;
  return `is malformed (${message})`;
}

function wrongWireType(name: string, wireType: WireType, type: string, expected: WireType): RequestProblem {
  return {
    field: name,
    problem: `is sent as wire type ${wireType} (${WIRE_TYPE_NAMES[wireType]}); ${type} fields are ${WIRE_TYPE_NAMES[expected]}`,
  };
}

/** Reads one value of `value`'s type at the reader, checking what fromBinary checks. */
function readValue(
  reader: BinaryReader,
  wireType: WireType,
  value: Element,
  name: string,
  depth: number,
): RequestProblem | undefined {
  const expected = wireTypeOf(value);
  if (wireType !== expected) {
    const type = value.kind === "scalar" ? ScalarType[value.scalar].toLowerCase() : value.kind;
    return wrongWireType(name, wireType, type, expected);
  }
  let bytes: Uint8Array;
  try {
    if (expected === WireType.Varint) reader.uint64();
    else if (expected === WireType.Bit64) reader.fixed64();
    else if (expected === WireType.Bit32) reader.fixed32();
    if (expected !== WireType.LengthDelimited) return undefined;
    bytes = reader.bytes();
  } catch (error) {
    return { field: name, problem: describe(error) };
  }
  if (value.kind === "message") return walkMessage(value.message, bytes, name, depth + 1);
  if (value.kind === "scalar" && value.scalar === ScalarType.STRING && value.utf8) {
    try {
      utf8.decode(bytes);
    } catch {
      return { field: name, problem: "is not valid UTF-8" };
    }
  }
  return undefined;
}

/** Packed repeated scalars: one length-delimited run of values, each named by its index in the list. */
function readPacked(
  reader: BinaryReader,
  value: Element,
  name: string,
  nextIndex: () => number,
): RequestProblem | undefined {
  let run: BinaryReader;
  try {
    run = new BinaryReader(reader.bytes());
  } catch (error) {
    return { field: name, problem: describe(error) };
  }
  while (run.pos < run.len) {
    const problem = readValue(run, wireTypeOf(value), value, `${name}[${nextIndex()}]`, 0);
    if (problem !== undefined) return problem;
  }
  return undefined;
}

/** A map entry: key (field 1) and value (field 2), named by a string key once that is read. */
function readMapEntry(
  reader: BinaryReader,
  wireType: WireType,
  field: Extract<DescField, { fieldKind: "map" }>,
  name: string,
  depth: number,
): RequestProblem | undefined {
  if (wireType !== WireType.LengthDelimited) return wrongWireType(name, wireType, "map", WireType.LengthDelimited);
  let bytes: Uint8Array;
  try {
    bytes = reader.bytes();
  } catch (error) {
    return { field: name, problem: describe(error) };
  }
  const entry = new BinaryReader(bytes);
  const keyType: Element = { kind: "scalar", scalar: field.mapKey, utf8: field.utf8Validation };
  let key: string | undefined;
  while (entry.pos < entry.len) {
    const tag = nextTag(entry);
    if (typeof tag === "string") return { field: name, problem: `has an entry whose tag ${tag}` };
    const [fieldNo, wireType] = tag;
    if (fieldNo === 1) {
      const start = entry.pos;
      const problem = readValue(entry, wireType, keyType, name, depth);
      if (problem !== undefined) return { field: name, problem: `has a key that ${problem.problem}` };
      if (field.mapKey === ScalarType.STRING) {
        key = JSON.stringify(new BinaryReader(bytes.subarray(start, entry.pos)).string().slice(0, 64));
      }
    } else if (fieldNo === 2) {
      const problem = readValue(entry, wireType, element(field), key === undefined ? name : `${name}[${key}]`, depth);
      if (problem !== undefined) return problem;
    } else {
      const problem = skipUnknown(entry, fieldNo, wireType, depth);
      if (problem !== undefined) return { field: name, problem };
    }
  }
  return undefined;
}

/** The next field's number and wire type, or what is wrong with its tag. */
function nextTag(reader: BinaryReader): [number, WireType] | string {
  try {
    return reader.tag();
  } catch (error) {
    return describe(error);
  }
}

function skipUnknown(reader: BinaryReader, fieldNo: number, wireType: WireType, depth: number): string | undefined {
  if (wireType === WireType.EndGroup) return `field ${fieldNo} ends a group that was never started`;
  try {
    reader.skip(wireType, fieldNo, RECURSION_LIMIT - depth);
    return undefined;
  } catch (error) {
    return `field ${fieldNo} ${describe(error)}`;
  }
}

function walkMessage(desc: DescMessage, bytes: Uint8Array, path: string, depth: number): RequestProblem | undefined {
  const at = path === "" ? undefined : path;
  if (depth > RECURSION_LIMIT) return { field: at, problem: `nests messages deeper than ${RECURSION_LIMIT} levels` };
  const reader = new BinaryReader(bytes);
  // Elements of repeated fields are named by their index in the list.
  const counts = new Map<number, number>();
  const nextIndex = (fieldNo: number) => {
    const index = counts.get(fieldNo) ?? 0;
    counts.set(fieldNo, index + 1);
    return index;
  };
  while (reader.pos < reader.len) {
    const tag = nextTag(reader);
    if (typeof tag === "string") return { field: at, problem: `a field tag ${tag}` };
    const [fieldNo, wireType] = tag;
    const field = desc.fields.find((f) => f.number === fieldNo);
    if (field === undefined) {
      const problem = skipUnknown(reader, fieldNo, wireType, depth);
      if (problem !== undefined) return { field: at, problem };
      continue;
    }
    const name = path === "" ? field.name : `${path}.${field.name}`;
    const value = element(field);
    const problem =
      field.fieldKind === "map"
        ? readMapEntry(reader, wireType, field, name, depth)
        : field.fieldKind !== "list"
          ? readValue(reader, wireType, value, name, depth)
          : wireType === WireType.LengthDelimited && wireTypeOf(value) !== WireType.LengthDelimited
            ? readPacked(reader, value, name, () => nextIndex(fieldNo))
            : readValue(reader, wireType, value, `${name}[${nextIndex(fieldNo)}]`, depth);
    if (problem !== undefined) return problem;
  }
  return undefined;
}

/**
 * Walks bytes that fromBinary refused with BinaryReader and says which field
 * fails and how (its wire type, its length, its UTF-8, the messages and groups
 * it nests); undefined when the walk finds nothing more precise than "does not
 * parse".
 */
export function binaryProblem(desc: DescMessage, bytes: Uint8Array): RequestProblem | undefined {
  return walkMessage(desc, bytes, "", 1);
}

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
