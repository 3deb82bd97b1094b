import { invalidArgument } from "./errors.js";

// Page tokens are opaque to callers: base64url of "<kind>:<last id>". The kind
// keeps a token from one list from being replayed against another.

export function encodePageToken(kind: string, lastId: string): string {
  return Buffer.from(`${kind}:${lastId}`).toString("base64url");
}

/** The id a token continues from, or undefined for an empty token. */
export function decodePageToken(field: string, kind: string, token: string): string | undefined {
  if (token === "") return undefined;
  const match = /^([a-z]+):([1-9][0-9]{0,18})$/.exec(Buffer.from(token, "base64url").toString());
  if (match === null || match[1] !== kind) {
    throw invalidArgument(field, "is not a token from this list; pass next_page_token unchanged or leave it empty");
  }
  return match[2];
}
