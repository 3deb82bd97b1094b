import { createHash, timingSafeEqual } from "node:crypto";
import type { ApiToken, TokenScope } from "../config.ts";

/** What a request needs: MediaService calls, AdminService calls (and previews), or /metrics. */
export type Permission = "service" | "admin" | "metrics";

const GRANTS: Readonly<Record<TokenScope, ReadonlySet<Permission>>> = {
  service: new Set(["service"]),
  admin: new Set(["service", "admin", "metrics"]),
  metrics: new Set(["metrics"]),
};

export const grants = (token: ApiToken, permission: Permission): boolean => GRANTS[token.scope].has(permission);

export type Authentication =
  | { readonly ok: true; readonly token: ApiToken }
  | { readonly ok: false; readonly reason: "missing" | "unknown" }
  /** The peer (as its limit counts it) sent too many calls without a valid token: refused unread. */
  | { readonly ok: false; readonly reason: "throttled"; readonly peer: string; readonly retryAfterSeconds: number };

/** Finds the token an `authorization: Bearer <secret>` header carries. */
export interface Authenticator {
  /** peer: the caller's address, for a limit on failures per address (limitAuthFailures). */
  authenticate(authorization: string | null | undefined, peer?: string): Authentication;
}

const digest = (secret: string) => createHash("sha256").update(secret).digest();

/**
 * Compares SHA-256 digests in constant time, against every token without an
 * early exit: neither the position of a match nor a common prefix shows in
 * the timing. Digests also make every comparison the same length.
 */
export function createAuthenticator(tokens: readonly ApiToken[]): Authenticator {
  const known = tokens.map((token) => ({ token, digest: digest(token.secret) }));
  return {
    authenticate(authorization) {
      // Whitespace around a header's value is not part of it (RFC 9110), on either port.
      const match = /^[ \t]*Bearer[ ]+(\S+)[ \t]*$/i.exec(authorization ?? "");
      if (match?.[1] === undefined) return { ok: false, reason: "missing" };
      const presented = digest(match[1]);
      let found: ApiToken | undefined;
      for (const candidate of known) {
        if (timingSafeEqual(candidate.digest, presented)) found = candidate.token;
      }
      return found === undefined ? { ok: false, reason: "unknown" } : { ok: true, token: found };
    },
  };
}
