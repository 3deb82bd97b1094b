import type { Authenticator } from "../auth/tokens.ts";

/** Admits calls per key (a token name) at a sustained rate with a burst allowance. */
export interface RateLimiter {
  /** True when the call may go ahead; false when the key is over its limit. */
  admit(key: string): boolean;
}

interface Bucket {
  tokens: number;
  at: number;
}

/** What a bucket holds at time t: refilled at ratePerSecond since it was last seen, up to burst. */
const tokensAt = (bucket: Bucket, t: number, ratePerSecond: number, burst: number) =>
  Math.min(burst, bucket.tokens + ((t - bucket.at) / 1000) * ratePerSecond);

/**
 * A token bucket per key: each key refills at ratePerSecond up to burst, so one
 * busy caller runs out of its own budget without touching anyone else's.
 * ratePerSecond 0 admits everything.
 */
export function createRateLimiter(ratePerSecond: number, burst: number, now = () => performance.now()): RateLimiter {
  if (ratePerSecond === 0) return { admit: () => true };
  const buckets = new Map<string, Bucket>();
  return {
    admit(key) {
      const t = now();
      const bucket = buckets.get(key) ?? { tokens: burst, at: t };
      bucket.tokens = tokensAt(bucket, t, ratePerSecond, burst);
      bucket.at = t;
      buckets.set(key, bucket);
      if (bucket.tokens < 1) return false;
      bucket.tokens -= 1;
      return true;
    },
  };
}

/**
 * The key a peer's failures count under: its address, an IPv4-mapped IPv6 one
 * as IPv4, and an IPv6 one by its /64 prefix, which one host usually holds whole.
 */
export function peerKeyOf(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  if (mapped !== undefined) return mapped;
  if (!address.includes(":")) return address;
  const [head = "", tail] = address.split("::");
  const groups = head === "" ? [] : head.split(":");
  if (tail !== undefined) {
    const rest = tail === "" ? [] : tail.split(":");
    groups.push(...Array<string>(Math.max(0, 8 - groups.length - rest.length)).fill("0"), ...rest);
  }
  return `${groups
    .slice(0, 4)
    .map((group) => Number.parseInt(group, 16).toString(16))
    .join(":")}::/64`;
}

/**
 * Limits calls without a valid token per peer address (peerKeyOf): each such
 * call takes one from the peer's bucket, refilled at ratePerSecond up to burst,
 * and while the bucket is empty every call from the peer is refused before its
 * token is looked at, so a guess costs no token work and tells nothing. Valid
 * calls take nothing. A call with no known peer is not limited;
 * ratePerSecond 0 turns the limit off.
 */
export function limitAuthFailures(
  authenticator: Authenticator,
  ratePerSecond: number,
  burst: number,
  now = () => performance.now(),
): Authenticator {
  if (ratePerSecond === 0) return authenticator;
  const buckets = new Map<string, Bucket>();
  // A bucket left alone this long is full again, the same as none: dropped, so
  // the addresses that ever failed cost no memory.
  const refillMs = (burst / ratePerSecond) * 1000;
  let sweptAt = now();
  return {
    authenticate(authorization, peer) {
      if (peer === undefined) return authenticator.authenticate(authorization);
      const key = peerKeyOf(peer);
      const t = now();
      const bucket = buckets.get(key);
      const tokens = bucket === undefined ? burst : tokensAt(bucket, t, ratePerSecond, burst);
      if (tokens < 1) {
        return {
          ok: false,
          reason: "throttled",
          peer: key,
          retryAfterSeconds: Math.ceil((1 - tokens) / ratePerSecond),
        };
      }
      const auth = authenticator.authenticate(authorization);
      if (auth.ok) return auth;
      buckets.set(key, { tokens: tokens - 1, at: t });
      if (t - sweptAt >= refillMs) {
        for (const [k, b] of buckets) if (t - b.at >= refillMs) buckets.delete(k);
        sweptAt = t;
      }
      return auth;
    },
  };
}
