import { trashRetentionOf } from "@media/server/config";
import { finishBatch, releaseBatch, retryPolicyOf, TASKS } from "@media/server/deletion";
import type { StoreFailure } from "@media/server/storage";
import { createClaimBatchTask } from "./claim-batch.ts";
import type { TaskContext } from "./context.ts";

/**
 * Deletes one claimed batch: each file moved to its store's trash (or deleted
 * outright where the store's trash retention is 0), outside any transaction,
 * after noting what is at each key (disk: the file's identity, so a file put
 * in place since is left alone) and confirming the lease; then, in one
 * transaction, the rows still claimed with this job's token become TRASHED
 * tombstones (or are deleted), and the rest are rescheduled (finishBatch).
 */
export function createDeleteBatchTask(ctx: TaskContext) {
  const { settings, metrics } = ctx;
  const policy = retryPolicyOf(settings);
  return createClaimBatchTask(ctx, {
    task: TASKS.deleteBatch,
    state: "DELETING",
    release: (pool, token) => releaseBatch(pool, token, "deletions paused before the batch ran"),
    async act(store, files, lease) {
      const noted = await store.note(files.map((f) => f.key));
      // After the noting: a job stopped in between finds out here.
      const window = await lease.confirm();
      if (trashRetentionOf(settings, store.name) > 0) return store.trashMany(files, window, noted);
      const idOf = new Map(files.map((f) => [f.key, f.id]));
      const result = await store.deleteMany(
        files.map((f) => f.key),
        window,
        noted,
      );
      const failed = new Map<string, StoreFailure>();
      for (const [key, failure] of result.failed) failed.set(idOf.get(key) as string, failure);
      return { failed, notAttempted: result.notAttempted.map((key) => idOf.get(key) as string) };
    },
    doneValue: (store) => trashRetentionOf(settings, store),
    finish: (pool, token, storage, run) => finishBatch(pool, token, storage, policy, run),
    report(result, failedByStore, seconds, log) {
      metrics.observeDeleteBatch({
        seconds,
        deleted: result.deletedByStore,
        failedByStore,
        retried: result.retried,
        exhausted: result.failed,
      });
      const bytes = result.deletedByStore.reduce((sum, s) => sum + s.bytes, 0);
      log.info({ deleted: result.deleted, bytes, retried: result.retried, failed: result.failed }, "batch finished");
    },
  });
}
