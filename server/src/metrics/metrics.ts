import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import { type BuildInfo, buildInfo } from "../build-info.ts";

// The process's Prometheus series, on a registry of its own (never prom-client's
// global one: tests create several). Counters and histograms here are
// process-local; the lifecycle gauges (lifecycle.ts) read the shared database.

/** 1 ms to 10 s. */
const RPC_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** A delete_batch job: up to 1000 files from storage, then one transaction. */
const BATCH_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
/** A sweep: from a paused no-op to claiming a large backlog. */
const SWEEP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

export interface SweepObservation {
  readonly seconds: number;
  /** Rows this sweep claimed (moved to DELETING). */
  readonly claimed: number;
  /** Timed-out claims this sweep gave a new token and job. */
  readonly reclaimed: number;
}

export interface DeleteBatchObservation {
  readonly seconds: number;
  /** Files deleted together with their rows, per store. */
  readonly deleted: ReadonlyArray<{ readonly store: string; readonly files: number; readonly bytes: number }>;
  /** Files storage did not delete in this batch, per store. */
  readonly failedByStore: ReadonlyMap<string, number>;
  /** Failed files rescheduled with a backoff (ORPHANED again). */
  readonly retried: number;
  /** Failed files out of attempts (now FAILED). */
  readonly exhausted: number;
}

export interface Metrics {
  readonly registry: Registry;
  /** Content-Type of text(): the Prometheus text exposition format. */
  readonly contentType: string;
  /** Every series, in the Prometheus text format (runs the lifecycle gauges' collection). */
  text(): Promise<string>;
  /**
   * One finished RPC. method: "media.v1.MediaService/GetMedia"; code: "ok" or
   * the Connect code name in snake case (rpcCodeName).
   */
  observeRpc(method: string, code: string, seconds: number): void;
  /** Starts the per-store worker series at 0, so the first deletion in a store shows in increase(). */
  initStores(stores: Iterable<string>): void;
  /** One sweep run (paused or failed runs included). */
  observeSweep(sweep: SweepObservation): void;
  /** One delete_batch job that processed files. */
  observeDeleteBatch(batch: DeleteBatchObservation): void;
  /** One purge_batch job that processed trashed files. */
  observePurgeBatch(batch: PurgeBatchObservation): void;
}

export interface PurgeBatchObservation {
  /** Trashed files purged together with their rows, per store. */
  readonly purged: DeleteBatchObservation["deleted"];
  /** Trashed files storage did not delete in this purge, per store. */
  readonly failedByStore: ReadonlyMap<string, number>;
}

export interface MetricsOptions {
  /** process_* and nodejs_* series (CPU, memory, event loop lag, GC); default true. */
  readonly defaultMetrics?: boolean;
  /** The labels of media_build_info; default buildInfo(). */
  readonly buildInfo?: BuildInfo;
}

/**
 * prom-client's default gauges named like counters (promtool check metrics
 * refuses a gauge ending in _total). Each is the sum of the by-type gauge of
 * the same name without the suffix (nodejs_active_handles{type}, ...), which
 * stays: sum without (type) (nodejs_active_handles).
 */
const COUNTER_NAMED_GAUGES = [
  "nodejs_active_handles_total",
  "nodejs_active_requests_total",
  "nodejs_active_resources_total",
] as const;

export function createMetrics(options: MetricsOptions = {}): Metrics {
  const registry = new Registry();
  if (options.defaultMetrics ?? true) {
    collectDefaultMetrics({ register: registry });
    for (const name of COUNTER_NAMED_GAUGES) registry.removeSingleMetric(name);
  }
  const registers = [registry];

  const build = options.buildInfo ?? buildInfo();
  const buildLabels = {
    version: build.version,
    node_version: build.node,
    ...(build.commit === undefined ? {} : { commit: build.commit }),
  };
  new Gauge({
    name: "media_build_info",
    help: "Always 1; its labels say which build runs: version (package.json), node_version, commit (MEDIA_BUILD_COMMIT, when set).",
    labelNames: Object.keys(buildLabels),
    registers,
  }).set(buildLabels, 1);

  const rpcRequests = new Counter({
    name: "media_rpc_requests_total",
    help: "RPCs answered, by full method name and result code (ok, not_found, unauthenticated, ...).",
    labelNames: ["method", "code"] as const,
    registers,
  });
  const rpcDuration = new Histogram({
    name: "media_rpc_duration_seconds",
    help: "Time to answer an RPC, by full method name.",
    labelNames: ["method"] as const,
    buckets: RPC_BUCKETS,
    registers,
  });
  const deletedFiles = new Counter({
    name: "media_deleted_files_total",
    help: "Files this worker moved to the trash, or deleted where the trash retention is 0, with their rows recorded, by store.",
    labelNames: ["store"] as const,
    registers,
  });
  const deletedBytes = new Counter({
    name: "media_deleted_bytes_total",
    help: "size_bytes of the media this worker moved to the trash or deleted, by store.",
    labelNames: ["store"] as const,
    registers,
  });
  const purgedFiles = new Counter({
    name: "media_purged_files_total",
    help: "Trashed files this worker purged (deleted for good with their rows) after their retention, by store.",
    labelNames: ["store"] as const,
    registers,
  });
  const purgedBytes = new Counter({
    name: "media_purged_bytes_total",
    help: "Bytes reclaimed by this worker's purges (size_bytes of the purged rows), by store.",
    labelNames: ["store"] as const,
    registers,
  });
  const purgeFailures = new Counter({
    name: "media_purge_failures_total",
    help: "Trashed files storage failed to delete in this worker's purges, by store (each failed attempt counts).",
    labelNames: ["store"] as const,
    registers,
  });
  const deletionFailures = new Counter({
    name: "media_deletion_failures_total",
    help: "Files storage failed to delete in this worker's batches, by store (each failed attempt counts).",
    labelNames: ["store"] as const,
    registers,
  });
  const deletionRetries = new Counter({
    name: "media_deletion_retries_total",
    help: "Failed files this worker rescheduled for another attempt with a backoff.",
    registers,
  });
  const deletionExhausted = new Counter({
    name: "media_deletion_exhausted_total",
    help: "Failed files out of attempts that this worker marked FAILED (an admin must retry them).",
    registers,
  });
  const claimedFiles = new Counter({
    name: "media_claimed_files_total",
    help: "Due files this worker's sweeps claimed for deletion.",
    registers,
  });
  const reclaimedFiles = new Counter({
    name: "media_reclaimed_files_total",
    help: "Claims whose worker stopped or hung (older than CLAIM_TIMEOUT) that this worker's sweeps took over.",
    registers,
  });
  const sweepDuration = new Histogram({
    name: "media_sweep_duration_seconds",
    help: "Time a sweep took on this worker (paused and failed runs included).",
    buckets: SWEEP_BUCKETS,
    registers,
  });
  const batchDuration = new Histogram({
    name: "media_delete_batch_duration_seconds",
    help: "Time a delete_batch job took on this worker: storage deletes plus the closing transaction.",
    buckets: BATCH_BUCKETS,
    registers,
  });

  return {
    registry,
    contentType: registry.contentType,
    text: () => registry.metrics(),
    observeRpc(method, code, seconds) {
      rpcRequests.inc({ method, code });
      rpcDuration.observe({ method }, seconds);
    },
    initStores(stores) {
      for (const store of stores)
        for (const counter of [deletedFiles, deletedBytes, deletionFailures, purgedFiles, purgedBytes, purgeFailures])
          counter.inc({ store }, 0);
    },
    observePurgeBatch({ purged, failedByStore }) {
      for (const { store, files, bytes } of purged) {
        purgedFiles.inc({ store }, files);
        purgedBytes.inc({ store }, bytes);
      }
      for (const [store, files] of failedByStore) purgeFailures.inc({ store }, files);
    },
    observeSweep({ seconds, claimed, reclaimed }) {
      sweepDuration.observe(seconds);
      if (claimed > 0) claimedFiles.inc(claimed);
      if (reclaimed > 0) reclaimedFiles.inc(reclaimed);
    },
    observeDeleteBatch(batch) {
      batchDuration.observe(batch.seconds);
      for (const { store, files, bytes } of batch.deleted) {
        deletedFiles.inc({ store }, files);
        deletedBytes.inc({ store }, bytes);
      }
      for (const [store, files] of batch.failedByStore) deletionFailures.inc({ store }, files);
      if (batch.retried > 0) deletionRetries.inc(batch.retried);
      if (batch.exhausted > 0) deletionExhausted.inc(batch.exhausted);
    },
  };
}
