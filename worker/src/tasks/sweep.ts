import {
  type ClaimCursor,
  checkBlastRadius,
  claimDueBatch,
  getDeletionControl,
  reclaimStaleBatch,
} from "@media/server/deletion";
import { BATCH_JOB_ATTEMPTS, type TaskContext } from "./context.js";

/** Batches claimed per sweep at most; the next sweep carries on. */
const MAX_BATCHES_PER_SWEEP = 10_000;

/**
 * The sweep (crontab, or triggered by an admin): reclaims claims whose worker
 * died, applies the blast-radius guard, then claims due rows batch by batch,
 * each batch in its own transaction with its delete_batch job. Safe to run in
 * several workers at once: claims skip rows another sweep has locked.
 */
export function createSweepTask(ctx: TaskContext) {
  const { pool, settings, log } = ctx;
  return async function sweep(): Promise<void> {
    if ((await getDeletionControl(pool)).paused) return;
    let reclaimed = 0;
    for (;;) {
      const n = await reclaimStaleBatch(pool, settings.claimTimeoutSeconds, settings.batchSize, BATCH_JOB_ATTEMPTS);
      reclaimed += n;
      if (n < settings.batchSize) break;
    }
    if (reclaimed > 0) log.warn({ reclaimed }, "reclaimed claims whose worker stopped");

    const verdict = await checkBlastRadius(pool, settings.blastRadiusLimit);
    if (!verdict.proceed) {
      log.warn(
        { due: verdict.due.toString(), limit: settings.blastRadiusLimit },
        "blast-radius guard tripped: deletions paused until an admin confirms",
      );
      return;
    }
    let claimed = 0;
    let cursor: ClaimCursor | undefined;
    for (let batch = 0; batch < MAX_BATCHES_PER_SWEEP; batch++) {
      if (batch > 0 && (await getDeletionControl(pool)).paused) break;
      const result = await claimDueBatch(pool, settings.batchSize, BATCH_JOB_ATTEMPTS, cursor);
      claimed += result.claimed;
      cursor = result.cursor;
      if (cursor === undefined) break;
    }
    if (claimed > 0) log.info({ claimed }, "sweep claimed due media");
  };
}
