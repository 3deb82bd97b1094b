import { performance } from "node:perf_hooks";
import {
  type ClaimCursor,
  checkBlastRadius,
  claimDueBatch,
  getDeletionControl,
  parseSweepPayload,
  reclaimExpiredClaim,
} from "@media/server/deletion";
import type { Logger } from "@media/server/logger";
import { traceJob } from "@media/server/telemetry";
import type { JobHelpers } from "graphile-worker";
import { jobLogger, type TaskContext } from "./context.ts";

/** Batches claimed per sweep at most; the next sweep carries on. */
const MAX_BATCHES_PER_SWEEP = 10_000;

interface SweepCounts {
  claimed: number;
  reclaimed: number;
}

/**
 * The sweep (crontab, or triggered by an admin): takes back claims whose lease
 * expired (their job died, hung or was stopped), applies the blast-radius guard, then claims due rows batch by batch,
 * each batch in its own transaction with its delete_batch job. Safe to run in
 * several workers at once: claims skip rows another sweep has locked. Its span
 * continues the trace of the call that asked for it (RunSweep), and the
 * delete_batch jobs it enqueues continue its own.
 */
export function createSweepTask(ctx: TaskContext) {
  return async function sweep(payload: unknown, helpers: JobHelpers): Promise<void> {
    await traceJob(helpers.job, parseSweepPayload(payload), async (span) => {
      const started = performance.now();
      const counts: SweepCounts = { claimed: 0, reclaimed: 0 };
      try {
        await runSweep(ctx, jobLogger(ctx.log, helpers), counts);
      } finally {
        ctx.metrics.observeSweep({ seconds: (performance.now() - started) / 1000, ...counts });
        span.setAttributes({ "media.sweep.claimed": counts.claimed, "media.sweep.reclaimed": counts.reclaimed });
      }
    });
  };
}

async function runSweep({ pool, settings }: TaskContext, log: Logger, counts: SweepCounts): Promise<void> {
  if ((await getDeletionControl(pool)).paused) return;
  for (;;) {
    const reclaimed = await reclaimExpiredClaim(pool, settings.claimTimeoutSeconds);
    if (!reclaimed.found) break;
    counts.reclaimed += reclaimed.media;
  }
  if (counts.reclaimed > 0) log.warn({ reclaimed: counts.reclaimed }, "reclaimed media whose claim's lease expired");

  const verdict = await checkBlastRadius(pool, settings.blastRadiusLimit);
  if (!verdict.proceed) {
    log.warn(
      { due: verdict.due.toString(), limit: settings.blastRadiusLimit },
      "blast-radius guard tripped: deletions paused until an admin confirms",
    );
    return;
  }
  let cursor: ClaimCursor | undefined;
  for (let batch = 0; batch < MAX_BATCHES_PER_SWEEP; batch++) {
    if (batch > 0 && (await getDeletionControl(pool)).paused) break;
    const result = await claimDueBatch(pool, settings.batchSize, settings.claimTimeoutSeconds, cursor);
    counts.claimed += result.claimed;
    cursor = result.cursor;
    if (cursor === undefined) break;
  }
  if (counts.claimed > 0) log.info({ claimed: counts.claimed }, "sweep claimed due media");
}
