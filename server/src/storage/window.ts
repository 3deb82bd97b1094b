// When storage may act for a deletion. The deletion engine opens a window each
// time it confirms a claim's lease (deletion/lease.ts); a store acts only
// while it is open, so no storage call starts after the lease has less than
// its safety margin left.

/** A moment on both clocks this process has. */
export interface Instant {
  /** process.hrtime.bigint(): monotonic, shared by every thread of the process. */
  readonly monoNs: bigint;
  /** Date.now(): wall time. */
  readonly wallMs: number;
}

export const instantNow = (): Instant => ({ monoNs: process.hrtime.bigint(), wallMs: Date.now() });

/**
 * Seconds since `t`, the larger of what the two clocks say: the monotonic
 * clock stands still while the machine sleeps, the wall clock can be set back,
 * and a window must close by whichever has moved on further.
 */
export function secondsSince(t: Instant): number {
  const mono = Number(process.hrtime.bigint() - t.monoNs) / 1e9;
  const wall = (Date.now() - t.wallMs) / 1000;
  return Math.max(mono, wall);
}

/** `t` moved forward by `seconds` on both clocks. */
export const instantAfter = (t: Instant, seconds: number): Instant => ({
  monoNs: t.monoNs + BigInt(Math.floor(seconds * 1e9)),
  wallMs: t.wallMs + seconds * 1000,
});

/** True until `t` has passed on either clock. */
export const isBefore = (t: Instant): boolean => process.hrtime.bigint() < t.monoNs && Date.now() < t.wallMs;

/** The time in which a store may act on a claim's objects. */
export interface StorageWindow {
  /** When the window closes: a store checks isBefore(closes) before each call it makes. */
  readonly closes: Instant;
  /** Aborts a storage request that outlasts STORAGE_TIMEOUT. */
  readonly signal: AbortSignal;
}

/**
 * A window open for `seconds`, for code that acts on a store without a claim
 * (benchmarks, tests, the demo seed). The deletion engine never uses it: its
 * windows come from a confirmed lease (deletion/lease.ts).
 */
export const fixedWindow = (seconds: number): StorageWindow => ({
  closes: instantAfter(instantNow(), seconds),
  signal: AbortSignal.timeout(Math.max(0, seconds * 1000)),
});
