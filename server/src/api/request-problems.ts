import type { DescEnum, DescField, DescMessage, ScalarType } from "@bufbuild/protobuf";

// What is wrong with a request that does not parse, found only after the
// parser refused it: protobuf-es names no field ("premature EOF", "cannot
// decode enum media.v1.MediaState from JSON"), while callers are promised an
// INVALID_ARGUMENT that starts with the field at fault. Both ports use these.
// This module holds what the two walks share (the problem they report and
// what one field value holds); binary-request-problems.ts walks protobuf
// bytes, json-request-problems.ts walks parsed JSON.

/** The first problem found; `field` is a path like `key`, `labels["app"]` or `ids[2]`, unset when none can be named. */
export interface RequestProblem {
  readonly field: string | undefined;
  /** Follows the field name ("is truncated"), or stands alone when there is none. */
  readonly problem: string;
}

/** What one field value holds: a scalar, an enum or a message. */
export type Element =
  | { readonly kind: "scalar"; readonly scalar: ScalarType; readonly utf8: boolean }
  | { readonly kind: "enum"; readonly enum: DescEnum }
  | { readonly kind: "message"; readonly message: DescMessage };

/** What one value of the field holds: the field's own, a list element's or a map value's. */
export function element(field: DescField): Element {
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
