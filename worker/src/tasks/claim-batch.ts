import { performance } from "node:perf_hooks";
import {
  type BatchOutcome,
  type BatchRun,
  type ClaimedFile,
  ClaimLease,
  type ClaimTask,
  claimedFiles,
  getDeletionControl,
  LeaseLostError,
  parseClaimPayload,
  recordRun,
  type StorageDone,
} from "@media/server/deletion";
import type { Logger } from "@media/server/logger";
import { formatStoreFailure, groupByStore, type ObjectStore, type StoreFailure } from "@media/server/storage";
import { traceJob } from "@media/server/telemetry";
import type { JobHelpers } from "graphile-worker";
import type pg from "pg";
import { jobLogger, type TaskContext } from "./context.ts";

// The run of one claim's job, shared by delete_batch (files to the trash, or
// deleted) and purge_batch (trashed files deleted): confirm the lease, hand
// the claim back if deletions are paused, act on storage store by store in
// requests of the store's size with the lease confirmed before each, then
// record everything in one transaction. What differs per task is a ClaimWork.

/** Failures logged in full (key, code, detail) per batch; the rest are only counted. */
const LOGGED_FAILURES = 20;

/** What one kind of claim job does. */
export interface ClaimWork {
  readonly task: ClaimTask;
  /** The state its claimed media are in. */
  readonly state: "DELETING" | "TRASHED";
  /** Hands the claim back unprocessed (deletions paused); answers how many media. */
  release(pool: pg.Pool, token: string): Promise<number>;
  /**
   * Acts on one store's files, at most store.keysPerRequest of them, inside
   * the window; answers the failures by media id, the ids left untried, and
   * the value `done` records for each id that succeeded.
   */
  act(
    store: ObjectStore,
    files: readonly ClaimedFile[],
    lease: ClaimLease,
  ): Promise<{ failed: Map<string, StoreFailure>; notAttempted: readonly string[] }>;
  /** The value StorageDone.done holds for a file of this store that succeeded. */
  doneValue(store: string): number;
  finish(pool: pg.Pool, token: string, storage: StorageDone, run: BatchRun): Promise<BatchOutcome>;
  /** After finishing: metrics and the log line. */
  report(outcome: BatchOutcome, failedByStore: ReadonlyMap<string, number>, seconds: number, log: Logger): void;
}

/** What storage did to one claim's files. */
interface StorageOutcome extends StorageDone {
  readonly done: Map<string, number>;
  /** By media id: formatStoreFailure's `CODE: message`, what media.last_error and the event record. */
  readonly failures: Map<string, string>;
  readonly failedByStore: Map<string, number>;
}

/**
 * A task running one claim: idempotent (run again after a crash, it finds the
 * rows still claimed, or none at all), and touching storage only inside a
 * confirmed lease: it stops, touching nothing more, once it cannot confirm.
 * Its span continues the trace of the sweep that made the claim.
 */
export function createClaimBatchTask(ctx: TaskContext, work: ClaimWork) {
  const { pool, settings } = ctx;
  return async function claimBatch(payload: unknown, helpers: JobHelpers): Promise<void> {
    const { token, ...trace } = parseClaimPayload(work.task, payload);
    await traceJob(helpers.job, trace, (span) => {
      span.setAttribute("media.deletion.claim", token);
      return runBatch(token, helpers);
    });
  };

  async function runBatch(token: string, helpers: JobHelpers): Promise<void> {
    const log = jobLogger(ctx.log, helpers).child({ claim: token });
    const started = performance.now();
    const run: BatchRun = {
      workerId: ctx.workerId,
      jobId: helpers.job.id,
      startedAt: new Date(),
      elapsedMs: () => performance.now() - started,
    };
    const kind = work.task === "purge_batch" ? "purge" : "batch";
    // A batch that ends early is recorded on its own; a finished one in its finishing transaction.
    const recordEarlyEnd = (note: string) =>
      recordRun(pool, { kind, ...run, durationMs: run.elapsedMs(), note }).catch((err: unknown) =>
        log.warn({ err }, "could not record the batch's run"),
      );
    const lease = new ClaimLease(pool, token, settings);
    let outcome: StorageOutcome;
    try {
      // The lease first: a job whose claim was taken back stops before reading anything.
      await lease.confirm();
      if ((await getDeletionControl(pool)).paused) {
        const released = await work.release(pool, lease.token);
        log.info({ released }, "deletions paused: batch handed back");
        await recordEarlyEnd(`deletions paused: ${released} media handed back`);
        return;
      }
      const files = await claimedFiles(pool, lease.token, work.state);
      if (files.length === 0) return;
      outcome = await actOnFiles(ctx, work, lease, files, log);
    } catch (error) {
      if (!(error instanceof LeaseLostError)) throw error;
      log.warn({ reason: error.message }, "lease lost: stopped without touching storage again; the new owner finishes");
      await recordEarlyEnd(`lease lost: ${error.message}`);
      return;
    }
    const result = await work.finish(pool, lease.token, outcome, run);
    if (result.isolated.size > 0) {
      log.error(
        { isolated: Object.fromEntries([...result.isolated].slice(0, 20)), count: result.isolated.size },
        "the database refused to record some rows of the batch: set apart, the rest finished",
      );
    }
    work.report(result, outcome.failedByStore, (performance.now() - started) / 1000, log);
  }
}

/** Per store, in requests of the store's size, confirming the lease before each (inside work.act). */
async function actOnFiles(
  ctx: TaskContext,
  work: ClaimWork,
  lease: ClaimLease,
  files: readonly ClaimedFile[],
  log: Logger,
): Promise<StorageOutcome> {
  const outcome: StorageOutcome = { done: new Map(), failures: new Map(), failedByStore: new Map() };
  // The full detail (server paths, endpoints) goes to the logs only; rows get the code and message.
  const logged: { store: string; key: string; code: string; detail: string }[] = [];
  for (const [storeName, group] of groupByStore(files)) {
    const store = ctx.stores.get(storeName);
    const failed =
      store === undefined ? notConfigured(storeName, group) : await actInRequests(work, store, lease, group);
    for (const f of group) {
      const failure = failed.get(f.id);
      if (failure === undefined) {
        outcome.done.set(f.id, work.doneValue(storeName));
        continue;
      }
      outcome.failures.set(f.id, formatStoreFailure(failure));
      if (logged.length < LOGGED_FAILURES) {
        logged.push({ store: storeName, key: f.key, code: failure.code, detail: failure.detail });
      }
    }
    if (failed.size > 0) outcome.failedByStore.set(storeName, failed.size);
  }
  if (outcome.failures.size > 0) {
    log.warn({ failures: logged, count: outcome.failures.size }, "storage could not act on some files of the batch");
  }
  return outcome;
}

function notConfigured(store: string, files: readonly ClaimedFile[]): Map<string, StoreFailure> {
  const message = `store "${store}" is not configured on this worker`;
  return new Map(files.map((f) => [f.id, { code: "STORE_NOT_CONFIGURED", message, detail: message }]));
}

/** One store's files in requests of its size; ids a request left untried (its window closed) go again. */
async function actInRequests(
  work: ClaimWork,
  store: ObjectStore,
  lease: ClaimLease,
  files: readonly ClaimedFile[],
): Promise<Map<string, StoreFailure>> {
  const failed = new Map<string, StoreFailure>();
  for (let i = 0; i < files.length; i += store.keysPerRequest) {
    let pending = files.slice(i, i + store.keysPerRequest);
    while (pending.length > 0) {
      const result = await work.act(store, pending, lease);
      for (const [id, error] of result.failed) failed.set(id, error);
      const left = new Set(result.notAttempted);
      pending = pending.filter((f) => left.has(f.id));
    }
  }
  return failed;
}
