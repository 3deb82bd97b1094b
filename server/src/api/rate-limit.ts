/** Admits calls per key (a token name) at a sustained rate with a burst allowance. */
export interface RateLimiter {
  /** True when the call may go ahead; false when the key is over its limit. */
  admit(key: string): boolean;
}

/**
 * A token bucket per key: each key refills at ratePerSecond up to burst, so one
 * busy caller runs out of its own budget without touching anyone else's.
 * ratePerSecond 0 admits everything.
 */
export function createRateLimiter(ratePerSecond: number, burst: number, now = () => performance.now()): RateLimiter {
  if (ratePerSecond === 0) return { admit: () => true };
  const buckets = new Map<string, { tokens: number; at: number }>();
  return {
    admit(key) {
      const t = now();
      const bucket = buckets.get(key) ?? { tokens: burst, at: t };
      bucket.tokens = Math.min(burst, bucket.tokens + ((t - bucket.at) / 1000) * ratePerSecond);
      bucket.at = t;
      buckets.set(key, bucket);
      if (bucket.tokens < 1) return false;
      bucket.tokens -= 1;
      return true;
    },
  };
}
