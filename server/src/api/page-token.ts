import { invalidArgument } from "./errors.ts";

// Page tokens are opaque to callers: base64url of `<kind>:<JSON array of the
// last row's sort values>`. The kind names the list and its order, so a token
// from one is refused by another; each value is checked against a pattern
// before it reaches SQL.

/** A media or event id (18 digits at most, so it always fits a bigint). */
export const ID_PART = /^[1-9][0-9]{0,17}$/;
/** A time in microseconds since 1970 (up to about 2286), or infinity. */
export const MICROS_PART = /^(infinity|[0-9]{1,16})$/;
/** A row's create time in microseconds since 1970 (never infinity): the keyset of lists newest first. */
export const CREATE_MICROS_PART = /^[0-9]{1,16}$/;
/**
 * Any text (an owner name); it only ever travels as a bound parameter, but
 * PostgreSQL refuses NUL in text and a lone surrogate cannot be sent as UTF-8.
 */
export const TEXT_PART = /^[^\u0000\ud800-\udfff]{1,4096}$/u;

export function encodePageToken(kind: string, parts: readonly string[]): string {
  return Buffer.from(`${kind}:${JSON.stringify(parts)}`).toString("base64url");
}

/** The sort values a token continues after, or undefined for an empty token. */
export function decodePageToken(
  field: string,
  kind: string,
  token: string,
  patterns: readonly RegExp[],
): string[] | undefined {
  if (token === "") return undefined;
  const text = Buffer.from(token, "base64url").toString();
  let parts: unknown;
  try {
    parts = text.startsWith(`${kind}:`) ? JSON.parse(text.slice(kind.length + 1)) : undefined;
  } catch {
    parts = undefined;
  }
  const valid =
    Array.isArray(parts) &&
    parts.length === patterns.length &&
    parts.every((part, i) => typeof part === "string" && (patterns[i] as RegExp).test(part));
  if (!valid) {
    throw invalidArgument(field, "is not a token from this list; pass next_page_token unchanged or leave it empty");
  }
  return parts as string[];
}

/**
 * One page out of rows fetched with one extra (which only tells that another
 * page exists), and the token continuing after the page's last row.
 */
export function pageOf<T>(
  rows: readonly T[],
  limit: number,
  kind: string,
  cursorOf: (last: T) => string[],
): { page: T[]; nextPageToken: string } {
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  const more = rows.length > limit && last !== undefined;
  return { page, nextPageToken: more ? encodePageToken(kind, cursorOf(last)) : "" };
}
