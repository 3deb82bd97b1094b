import { finishPurge, releasePurge, retryPolicyOf, TASKS } from "@media/server/deletion";
import { createClaimBatchTask } from "./claim-batch.ts";
import type { TaskContext } from "./context.ts";

/**
 * Purges one claimed batch of tombstones whose trash retention is over: their
 * trashed files deleted, inside the confirmed lease, then in one transaction
 * the rows still claimed with this job's token deleted with their PURGED
 * events; a tombstone whose trashed file could not be deleted stays TRASHED
 * and is retried with backoff (finishPurge).
 */
export function createPurgeBatchTask(ctx: TaskContext) {
  const policy = retryPolicyOf(ctx.settings);
  return createClaimBatchTask(ctx, {
    task: TASKS.purgeBatch,
    state: "TRASHED",
    release: releasePurge,
    async act(store, files, lease) {
      return store.dropFromTrash(
        files.map((f) => f.id),
        await lease.confirm(),
      );
    },
    doneValue: () => 0,
    finish: (pool, token, storage, run) => finishPurge(pool, token, storage, policy, run),
    report(result, failedByStore, seconds, log) {
      ctx.metrics.observePurgeBatch({ purged: result.deletedByStore, failedByStore });
      const bytes = result.deletedByStore.reduce((sum, s) => sum + s.bytes, 0);
      log.info(
        { purged: result.deleted, bytes, retried: result.retried, seconds: Number(seconds.toFixed(3)) },
        "purge finished",
      );
    },
  });
}
