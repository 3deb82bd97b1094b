import { type DescField, type DescMessage, ScalarType } from "@bufbuild/protobuf";
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import { type Element, element, type RequestProblem } from "./request-problems.ts";

// Which field of a binary protobuf request fromBinary refused, and why: the
// bytes are walked again with BinaryReader, checking each field's wire type,
// length and UTF-8 against the schema, down through nested messages and
// groups. Separate from the JSON walk (json-request-problems.ts) because the
// two share only the field model (request-problems.ts): this one reads the
// wire format, that one an already parsed object.

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
