import { performance } from "node:perf_hooks";
import {
  type BatchRun,
  type ClaimedFile,
  ClaimLease,
  claimedFiles,
  finishBatch,
  getDeletionControl,
  LeaseLostError,
  parseDeleteBatchPayload,
  recordRun,
  releaseBatch,
  retryPolicyOf,
} from "@media/server/deletion";
import type { Logger } from "@media/server/logger";
import { formatStoreFailure, type ObjectStore, type StoreFailure } from "@media/server/storage";
import { traceJob } from "@media/server/telemetry";
import type { JobHelpers } from "graphile-worker";
import { jobLogger, type TaskContext } from "./context.ts";

/** Failures logged in full (key, code, detail) per batch; the rest are only counted. */
const LOGGED_FAILURES = 20;

/** What storage did to one claim's files. */
interface StorageOutcome {
  readonly deleted: string[];
  /** By media id: formatStoreFailure's `CODE: message`, what media.last_error and the event record. */
  readonly failures: Map<string, string>;
  readonly failedByStore: Map<string, number>;
}

/**
 * Deletes one claimed batch: files first, outside any transaction, then in one
 * transaction the rows still claimed with this job's token. Storage is touched
 * only inside a confirmed lease: the job renews it before every storage
 * request and stops, touching nothing more, once it cannot. Idempotent: run
 * again after a crash, it finds the rows still claimed (a missing file counts
 * as deleted) or none at all. Its span continues the trace of the sweep that
 * claimed the batch.
 */
export function createDeleteBatchTask(ctx: TaskContext) {
  const { pool, settings, metrics } = ctx;
  return async function deleteBatch(payload: unknown, helpers: JobHelpers): Promise<void> {
    const { token, ...trace } = parseDeleteBatchPayload(payload);
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
    // A batch that ends early is recorded on its own; a finished one in finishBatch's transaction.
    const recordEarlyEnd = (note: string) =>
      recordRun(pool, { kind: "batch", ...run, durationMs: run.elapsedMs(), note }).catch((err: unknown) =>
        log.warn({ err }, "could not record the batch's run"),
      );
    const lease = new ClaimLease(pool, token, settings);
    let outcome: StorageOutcome;
    try {
      // The lease first: a job whose claim was taken back stops before reading anything.
      await lease.confirm();
      if ((await getDeletionControl(pool)).paused) {
        const released = await releaseBatch(pool, lease.token, "deletions paused before the batch ran");
        log.info({ released }, "deletions paused: batch handed back");
        await recordEarlyEnd(`deletions paused: ${released} media handed back`);
        return;
      }
      const files = await claimedFiles(pool, lease.token);
      if (files.length === 0) return;
      outcome = await deleteFiles(ctx, lease, files, log);
    } catch (error) {
      if (!(error instanceof LeaseLostError)) throw error;
      log.warn({ reason: error.message }, "lease lost: stopped without touching storage again; the new owner finishes");
      await recordEarlyEnd(`lease lost: ${error.message}`);
      return;
    }
    const result = await finishBatch(
      pool,
      lease.token,
      outcome.deleted,
      outcome.failures,
      retryPolicyOf(settings),
      run,
    );
    if (result.isolated.size > 0) {
      log.error(
        { isolated: Object.fromEntries([...result.isolated].slice(0, 20)), count: result.isolated.size },
        "the database refused to record some rows of the batch: set apart as FAILED, the rest finished",
      );
    }
    metrics.observeDeleteBatch({
      seconds: (performance.now() - started) / 1000,
      deleted: result.deletedByStore,
      failedByStore: outcome.failedByStore,
      retried: result.retried,
      exhausted: result.failed,
    });
    const bytes = result.deletedByStore.reduce((sum, s) => sum + s.bytes, 0);
    log.info(
      {
        files: outcome.deleted.length + outcome.failures.size,
        deleted: result.deleted,
        bytes,
        retried: result.retried,
        failed: result.failed,
      },
      "batch finished",
    );
  }
}

/**
 * Per store: notes what is at each key, then deletes in requests of the
 * store's size, confirming the lease before each (the authoritative check,
 * after the noting, so a job stopped in between finds out) and again for any
 * keys a request left untried because its window closed.
 */
async function deleteFiles(
  ctx: TaskContext,
  lease: ClaimLease,
  files: readonly ClaimedFile[],
  log: Logger,
): Promise<StorageOutcome> {
  const outcome: StorageOutcome = { deleted: [], failures: new Map(), failedByStore: new Map() };
  // The full detail (server paths, endpoints) goes to the logs only; rows get the code and message.
  const logged: { store: string; key: string; code: string; detail: string }[] = [];
  let failedFiles = 0;
  const byStore = new Map<string, ClaimedFile[]>();
  for (const f of files) {
    const group = byStore.get(f.store);
    if (group === undefined) byStore.set(f.store, [f]);
    else group.push(f);
  }
  for (const [storeName, group] of byStore) {
    const store = ctx.stores.get(storeName);
    const failed =
      store === undefined
        ? new Map(group.map((f) => [f.key, notConfigured(storeName)]))
        : await deleteFromStore(
            store,
            lease,
            group.map((f) => f.key),
          );
    for (const f of group) {
      const failure = failed.get(f.key);
      if (failure === undefined) {
        outcome.deleted.push(f.id);
        continue;
      }
      outcome.failures.set(f.id, formatStoreFailure(failure));
      failedFiles++;
      if (logged.length < LOGGED_FAILURES) {
        logged.push({ store: storeName, key: f.key, code: failure.code, detail: failure.detail });
      }
    }
    if (failed.size > 0) outcome.failedByStore.set(storeName, failed.size);
  }
  if (failedFiles > 0) {
    log.warn({ failures: logged, count: failedFiles }, "storage could not delete some files of the batch");
  }
  return outcome;
}

function notConfigured(store: string): StoreFailure {
  const message = `store "${store}" is not configured on this worker`;
  return { code: "STORE_NOT_CONFIGURED", message, detail: message };
}

async function deleteFromStore(
  store: ObjectStore,
  lease: ClaimLease,
  keys: readonly string[],
): Promise<Map<string, StoreFailure>> {
  const failed = new Map<string, StoreFailure>();
  const noted = await store.note(keys);
  for (let i = 0; i < keys.length; i += store.keysPerRequest) {
    let pending = keys.slice(i, i + store.keysPerRequest);
    while (pending.length > 0) {
      const window = await lease.confirm();
      const result = await store.deleteMany(pending, window, noted);
      for (const [key, error] of result.failed) failed.set(key, error);
      pending = [...result.notAttempted];
    }
  }
  return failed;
}
