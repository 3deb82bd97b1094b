import { performance } from "node:perf_hooks";
import { claimedFiles, finishBatch, getDeletionControl, releaseBatch } from "@media/server/deletion";
import type { JobHelpers } from "graphile-worker";
import { jobLogger, type TaskContext } from "./context.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Deletes one claimed batch: files first, outside any transaction, then in one
 * transaction the rows still claimed with this job's token. Idempotent: run
 * again after a crash, it finds the rows still claimed (a missing file counts
 * as deleted) or none at all.
 */
export function createDeleteBatchTask(ctx: TaskContext) {
  const { pool, stores, settings, metrics } = ctx;
  return async function deleteBatch(payload: unknown, helpers: JobHelpers): Promise<void> {
    const log = jobLogger(ctx.log, helpers);
    const started = performance.now();
    const token = (payload as { token?: unknown } | null)?.token;
    if (typeof token !== "string" || !UUID.test(token)) throw new Error("delete_batch needs a claim token");

    if ((await getDeletionControl(pool)).paused) {
      const released = await releaseBatch(pool, token, "deletions paused before the batch ran");
      log.info({ claim: token, released }, "deletions paused: batch handed back");
      return;
    }
    const files = await claimedFiles(pool, token);
    if (files.length === 0) return;

    const deleted: string[] = [];
    const failures = new Map<string, string>();
    const failedByStore = new Map<string, number>();
    const byStore = new Map<string, typeof files>();
    for (const f of files) {
      const group = byStore.get(f.store);
      if (group === undefined) byStore.set(f.store, [f]);
      else group.push(f);
    }
    for (const [storeName, group] of byStore) {
      const store = stores.get(storeName);
      if (store === undefined) {
        for (const f of group) failures.set(f.id, `store "${storeName}" is not configured on this worker`);
        failedByStore.set(storeName, group.length);
        continue;
      }
      const failedKeys = await store.deleteMany(group.map((f) => f.key));
      for (const f of group) {
        const error = failedKeys.get(f.key);
        if (error === undefined) deleted.push(f.id);
        else failures.set(f.id, error);
      }
      if (failedKeys.size > 0) failedByStore.set(storeName, group.filter((f) => failedKeys.has(f.key)).length);
    }
    const outcome = await finishBatch(pool, token, deleted, failures, {
      maxAttempts: settings.maxAttempts,
      baseDelaySeconds: settings.retryDelaySeconds,
    });
    metrics.observeDeleteBatch({
      seconds: (performance.now() - started) / 1000,
      deleted: outcome.deletedByStore,
      failedByStore,
      retried: outcome.retried,
      exhausted: outcome.failed,
    });
    const { deleted: deletedFiles, retried, failed } = outcome;
    const bytes = outcome.deletedByStore.reduce((sum, s) => sum + s.bytes, 0);
    log.info({ claim: token, files: files.length, deleted: deletedFiles, bytes, retried, failed }, "batch finished");
  };
}
