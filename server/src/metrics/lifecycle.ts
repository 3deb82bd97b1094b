import { performance } from "node:perf_hooks";
import type pg from "pg";
import { Gauge } from "prom-client";
import { MEDIA_STATES } from "../db/schema.ts";
import { withDeadline } from "../deadline.ts";
import type { Logger } from "../logger.ts";
import { type LifecycleSnapshot, readLifecycleSnapshot } from "./lifecycle-snapshot.ts";
import type { Metrics } from "./metrics.ts";

// Gauges read from the shared database at scrape time, so every process that
// registers them reports the same cluster-wide values (aggregate with max(),
// not sum()). The per-state counts scan the media table, so one snapshot is
// reused for ttlMs, only one read runs at a time (concurrent scrapes share
// it), and a scrape never waits more than scrapeWaitMs: when the read is slow
// or failing it answers with the last values, and media_lifecycle_metrics_stale
// says whether those values come from a successful read.

export interface LifecycleGaugeOptions {
  /** How long a read (successful or not) is reused before the next scrape reads again; default 15 s. */
  readonly ttlMs?: number;
  /** How long a scrape waits for a read in progress before answering with the last values; default 2 s. */
  readonly scrapeWaitMs?: number;
  /** statement_timeout of the read; it is abandoned 5 s after that in any case; default 30 s. */
  readonly queryTimeoutMs?: number;
  /** Told when reads start failing and when they recover (once each, not per scrape). */
  readonly log?: Logger;
}

/** Waits for a promise that never rejects, at most ms. */
function waitAtMost(promise: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const elapsed = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
    timer.unref();
  });
  return Promise.race([promise, elapsed]).finally(() => clearTimeout(timer));
}

/**
 * Adds media_files{state}, media_bytes{state}, media_overdue_files,
 * media_oldest_overdue_age_seconds, media_deletions_paused,
 * media_blast_radius_tripped and media_lifecycle_metrics_stale to the
 * metrics' registry, read through pool when scraped. Register once per Metrics.
 */
export function registerLifecycleGauges(metrics: Metrics, pool: pg.Pool, options: LifecycleGaugeOptions = {}): void {
  const ttlMs = options.ttlMs ?? 15_000;
  const scrapeWaitMs = options.scrapeWaitMs ?? 2_000;
  const queryTimeoutMs = options.queryTimeoutMs ?? 30_000;
  const log = options.log;

  let snapshot: LifecycleSnapshot | undefined;
  /** The latest finished read failed. */
  let failing = false;
  let finishedAt = Number.NEGATIVE_INFINITY;
  let inFlight: Promise<void> | undefined;

  function read(): Promise<void> {
    const attempt = withDeadline(readLifecycleSnapshot(pool, queryTimeoutMs), queryTimeoutMs + 5_000, "lifecycle read")
      .then((fresh) => {
        snapshot = fresh;
        if (failing) log?.info("lifecycle metrics: reading the database works again");
        failing = false;
      })
      .catch((err: unknown) => {
        if (!failing) {
          log?.warn(
            { err },
            "lifecycle metrics: reading the database failed; the gauges keep their last values and media_lifecycle_metrics_stale is 1",
          );
        }
        failing = true;
      })
      .finally(() => {
        finishedAt = performance.now();
        inFlight = undefined;
      });
    inFlight = attempt;
    return attempt;
  }

  /** Brings the snapshot up to date if it is older than ttlMs, waiting at most scrapeWaitMs. */
  async function current(): Promise<void> {
    const running = inFlight ?? (performance.now() - finishedAt >= ttlMs ? read() : undefined);
    if (running !== undefined) await waitAtMost(running, scrapeWaitMs);
  }

  // prom-client collects every metric of a scrape concurrently; they all share one read.
  const collect = async () => {
    await current();
    apply();
  };
  const registers = [metrics.registry];
  const files = new Gauge({
    name: "media_files",
    help: "Media rows by state (PENDING, LINKED, ORPHANED, DELETING, FAILED, TRASHED), cluster-wide.",
    labelNames: ["state"] as const,
    registers,
    collect,
  });
  const bytes = new Gauge({
    name: "media_bytes",
    help: "Sum of size_bytes of media rows by state, cluster-wide.",
    labelNames: ["state"] as const,
    registers,
    collect,
  });
  const overdue = new Gauge({
    name: "media_overdue_files",
    help: "Media due for deletion (unheld, PENDING or ORPHANED, delete_time passed) that no sweep has claimed yet.",
    registers,
    collect,
  });
  const oldestOverdue = new Gauge({
    name: "media_oldest_overdue_age_seconds",
    help: "Seconds since the delete_time of the oldest overdue media; 0 when none is overdue.",
    registers,
    collect,
  });
  const paused = new Gauge({
    name: "media_deletions_paused",
    help: "1 while deletions are paused (by an admin, DELETIONS_PAUSED, or the blast-radius guard).",
    registers,
    collect,
  });
  const tripped = new Gauge({
    name: "media_blast_radius_tripped",
    help: "1 while the blast-radius guard holds deletions until an admin confirms.",
    registers,
    collect,
  });
  const stale = new Gauge({
    name: "media_lifecycle_metrics_stale",
    help: "1 when the last read of the lifecycle gauges from the database failed (or none succeeded yet): they show older values.",
    registers,
    collect,
  });

  function apply(): void {
    stale.set(snapshot === undefined || failing ? 1 : 0);
    if (snapshot === undefined) return;
    for (const state of MEDIA_STATES) {
      files.set({ state }, snapshot.files.get(state) ?? 0);
      bytes.set({ state }, snapshot.bytes.get(state) ?? 0);
    }
    overdue.set(snapshot.overdueFiles);
    oldestOverdue.set(snapshot.oldestOverdueAgeSeconds);
    paused.set(snapshot.paused ? 1 : 0);
    tripped.set(snapshot.blastRadiusTripped ? 1 : 0);
  }
}
