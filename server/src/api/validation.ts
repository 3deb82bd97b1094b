import type { Duration, Timestamp } from "@bufbuild/protobuf/wkt";
import { MediaState } from "@media/proto/media/v1/media_pb";
import type { MediaStateName } from "../db/schema.ts";
import { stateFromProto } from "../media/mapping.ts";
import { MEDIA_ORDERS, type MediaFilter, type MediaOrder } from "../media/media-list.ts";
import { startsInTrash, TRASH_FOLDER } from "../storage/object-store.ts";
import { invalidArgument } from "./errors.ts";

// Boundary checks for every request field. Each throws INVALID_ARGUMENT naming
// the field, before any side effect.

// Control characters (Cc: C0, C1, DEL, NUL) and invisible format characters
// (Cf: bidi overrides, zero-width spaces and joiners, ...), which would let one
// owner, key or label pass for another in the dashboard.
const CONTROL_OR_FORMAT = /[\p{Cc}\p{Cf}]/u;

export const MAX_BATCH = 1000;
export const MAX_KEY_BYTES = 1024;
export const MAX_OWNER_LENGTH = 512;
export const MAX_SEGMENT_BYTES = 255;

/** A positive int64 id, returned as the decimal string the database layer uses. */
export function requireId(field: string, value: bigint): string {
  if (value <= 0n) throw invalidArgument(field, "must be a positive media id");
  return value.toString();
}

export function requireText(field: string, value: string, max: number): string {
  if (value === "") throw invalidArgument(field, "must not be empty");
  if (!value.isWellFormed()) throw invalidArgument(field, "must be well-formed Unicode (no lone surrogates)");
  if (value.length > max) throw invalidArgument(field, `must be at most ${max} characters`);
  const hidden = CONTROL_OR_FORMAT.exec(value)?.[0];
  if (hidden !== undefined) {
    const code = `U+${hidden.codePointAt(0)?.toString(16).toUpperCase().padStart(4, "0")}`;
    throw invalidArgument(field, `must not contain control or invisible format characters (found ${code})`);
  }
  return value;
}

export function requireOwner(field: string, value: string): string {
  return requireText(field, value, MAX_OWNER_LENGTH);
}

/**
 * A key that means the same object on disk and in S3: relative, "/"-separated,
 * with no empty, "." or ".." segments (those would alias or escape on disk).
 */
export function requireKey(field: string, value: string): string {
  requireText(field, value, MAX_KEY_BYTES);
  if (Buffer.byteLength(value, "utf8") > MAX_KEY_BYTES) {
    throw invalidArgument(field, `must be at most ${MAX_KEY_BYTES} bytes of UTF-8`);
  }
  if (value.startsWith("/")) throw invalidArgument(field, 'must be relative (no leading "/")');
  if (value.includes("\\")) throw invalidArgument(field, 'must use "/" as separator, not "\\"');
  if (startsInTrash(value)) {
    throw invalidArgument(field, `must not start with "${TRASH_FOLDER}/": that folder is the store's trash`);
  }
  for (const segment of value.split("/")) {
    if (segment === "") throw invalidArgument(field, 'must not contain empty segments ("//" or a trailing "/")');
    if (segment === "." || segment === "..") throw invalidArgument(field, 'must not contain "." or ".." segments');
    if (Buffer.byteLength(segment, "utf8") > MAX_SEGMENT_BYTES) {
      throw invalidArgument(field, `segments must be at most ${MAX_SEGMENT_BYTES} bytes (a file name limit on disk)`);
    }
  }
  return value;
}

/**
 * A key prefix to walk (empty: the whole store): the start of keys requireKey
 * accepts, so its folders ("a/b/" of "a/b/c") are segments requireKey allows
 * and it does not reach into the trash.
 */
export function requireKeyPrefix(field: string, value: string): string {
  if (value === "") return value;
  requireText(field, value, MAX_KEY_BYTES);
  if (value.startsWith("/")) throw invalidArgument(field, 'must be relative (no leading "/")');
  if (value.includes("\\")) throw invalidArgument(field, 'must use "/" as separator, not "\\"');
  if (startsInTrash(value)) throw invalidArgument(field, `must not start with "${TRASH_FOLDER}": the store's trash`);
  const folders = value.split("/").slice(0, -1);
  if (folders.some((s) => s === "" || s === "." || s === "..")) {
    throw invalidArgument(field, 'must not contain empty, "." or ".." segments');
  }
  return value;
}

export function requireStore(field: string, value: string, known: ReadonlySet<string>): string {
  if (value === "") throw invalidArgument(field, `must name a configured store (${[...known].join(", ")})`);
  if (!known.has(value)) {
    throw invalidArgument(field, `unknown store "${value.slice(0, 64)}"; configured: ${[...known].join(", ")}`);
  }
  return value;
}

export function optionalText(field: string, value: string, max: number): string {
  return value === "" ? value : requireText(field, value, max);
}

/**
 * The largest size_bytes accepted: 1 PiB, twenty times the largest object S3
 * stores (50 TB) and far past any file on disk. The database refuses larger
 * values too (migration 0005), and sums over media stay exact (numeric).
 */
export const MAX_SIZE_BYTES = 1n << 50n;

export function requireSize(field: string, value: bigint): bigint {
  if (value < 0n) throw invalidArgument(field, "must not be negative");
  if (value > MAX_SIZE_BYTES) throw invalidArgument(field, `must be at most ${MAX_SIZE_BYTES} bytes (1 PiB)`);
  return value;
}

const LABEL_KEY = /^[A-Za-z0-9]([A-Za-z0-9_.-]{0,62})$/;

export function requireLabels(field: string, labels: Record<string, string>): Record<string, string> {
  const entries = Object.entries(labels);
  if (entries.length > 32) throw invalidArgument(field, "must have at most 32 entries");
  for (const [key, value] of entries) {
    if (!LABEL_KEY.test(key)) {
      throw invalidArgument(
        `${field}[${JSON.stringify(key.slice(0, 70))}]`,
        "key must be 1-63 letters, digits, _ . or -, starting with a letter or digit",
      );
    }
    optionalText(`${field}[${JSON.stringify(key)}]`, value, 255);
  }
  return labels;
}

/** 1..MAX_BATCH ids, duplicates removed, order of first appearance kept. */
export function requireIds(field: string, values: readonly bigint[]): string[] {
  if (values.length === 0) throw invalidArgument(field, "must list at least one id");
  if (values.length > MAX_BATCH) throw invalidArgument(field, `must list at most ${MAX_BATCH} ids`);
  return [...new Set(values.map((v, i) => requireId(`${field}[${i}]`, v)))];
}

export function pageSize(field: string, value: number, fallback: number): number {
  if (value < 0 || value > MAX_BATCH) throw invalidArgument(field, `must be from 0 to ${MAX_BATCH}`);
  return value === 0 ? fallback : value;
}

/** A number with a default: 0 means the fallback, anything else must lie in [min, max]. */
export function rangeOr(field: string, value: number, min: number, max: number, fallback: number): number {
  if (value === 0) return fallback;
  if (value < min || value > max) throw invalidArgument(field, `must be from ${min} to ${max} (or 0 for ${fallback})`);
  return value;
}

/** A state to filter by; undefined (no filter) for UNSPECIFIED. */
export function optionalState(field: string, state: MediaState): MediaStateName | undefined {
  if (state === MediaState.UNSPECIFIED) return undefined;
  const name = stateFromProto(state);
  if (name === undefined) throw invalidArgument(field, `unknown state ${state}`);
  return name;
}

/** One of the media list's orders, spaces and case aside; empty for the default (the first). */
export function requireOrder(field: string, orderBy: string): MediaOrder {
  const normalized = orderBy.trim().replace(/\s+/g, " ").toLowerCase();
  if (normalized === "") return MEDIA_ORDERS[0];
  const order = MEDIA_ORDERS.find((o) => o === normalized);
  if (order === undefined)
    throw invalidArgument(field, `must be one of: ${MEDIA_ORDERS.map((o) => `"${o}"`).join(", ")}`);
  return order;
}

const MAX_LABEL_FILTERS = 8;

/** The media list's filter fields; an empty field filters nothing. */
export function requireMediaFilter(req: {
  state: MediaState;
  store: string;
  owner: string;
  keyPrefix: string;
  labels: Record<string, string>;
  trashedAfter?: Timestamp | undefined;
  trashedBefore?: Timestamp | undefined;
  fileMissing?: boolean;
}): MediaFilter {
  const orNothing = (value: string) => (value === "" ? undefined : value);
  const state = optionalState("state", req.state);
  const store = orNothing(optionalText("store", req.store, 63));
  const owner = orNothing(optionalText("owner", req.owner, MAX_OWNER_LENGTH));
  const keyPrefix = orNothing(optionalText("key_prefix", req.keyPrefix, MAX_KEY_BYTES));
  if (Object.keys(req.labels).length > MAX_LABEL_FILTERS) {
    throw invalidArgument("labels", `must have at most ${MAX_LABEL_FILTERS} entries`);
  }
  const labels = requireLabels("labels", req.labels);
  const trashedAfter = optionalTime("trashed_after", req.trashedAfter);
  const trashedBefore = optionalTime("trashed_before", req.trashedBefore);
  if (trashedAfter !== undefined && trashedBefore !== undefined && trashedAfter >= trashedBefore) {
    throw invalidArgument("trashed_before", "must be later than trashed_after");
  }
  return {
    state,
    store,
    owner,
    keyPrefix,
    labels: Object.keys(labels).length === 0 ? undefined : labels,
    trashedAfter,
    trashedBefore,
    fileMissing: req.fileMissing === true ? true : undefined,
  };
}

/** An optional timestamp field as a Date (unset: undefined); refuses one outside years 1-9999. */
export function optionalTime(field: string, value: Timestamp | undefined): Date | undefined {
  if (value === undefined) return undefined;
  const ms = Number(value.seconds) * 1000 + Math.floor(value.nanos / 1e6);
  if (
    !Number.isFinite(ms) ||
    ms < -62135596800000 ||
    ms > 253402300799999 ||
    value.nanos < 0 ||
    value.nanos > 999_999_999
  ) {
    throw invalidArgument(field, "must be a valid timestamp between years 1 and 9999");
  }
  return new Date(ms);
}

/** An optional duration field in milliseconds (unset: 0), from 0 up to maxMs. */
export function requireWait(field: string, value: Duration | undefined, maxMs: number): number {
  if (value === undefined) return 0;
  const ms = Number(value.seconds) * 1000 + value.nanos / 1e6;
  const mixedSigns = (value.seconds > 0n && value.nanos < 0) || (value.seconds < 0n && value.nanos > 0);
  if (!Number.isFinite(ms) || ms < 0 || ms > maxMs || Math.abs(value.nanos) > 999_999_999 || mixedSigns) {
    throw invalidArgument(field, `must be from 0 to ${maxMs / 1000} s`);
  }
  return ms;
}
