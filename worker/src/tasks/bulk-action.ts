import { isDataFault, sqlStateOf } from "@media/server/db";
import { parseBulkActionPayload } from "@media/server/deletion";
import {
  BulkActionMovedError,
  type ChunkResult,
  finishBulkAction,
  runChangeChunk,
  runRestoreChunk,
  startBulkAction,
} from "@media/server/media";
import { traceJob } from "@media/server/telemetry";
import type { JobHelpers } from "graphile-worker";
import { jobLogger, type TaskContext } from "./context.ts";

/** The bulk action's last_error: a code and short words, never a database message (it may quote SQL or values). */
function failureOf(error: unknown): string {
  const code = sqlStateOf(error);
  if (error instanceof BulkActionMovedError) return `${error.code}: ${error.message}`;
  if (code !== undefined && /^[0-9A-Z]{5}$/.test(code)) return `DATABASE_ERROR (${code}): see the worker log`;
  return "INTERNAL: the job failed; see the worker log";
}

/**
 * The bulk_action job: marks the bulk action RUNNING, then runs chunk after
 * chunk (media/bulk-actions.ts) until none is left, then SUCCEEDED. Each chunk
 * commits its cursor and counts, so a job run again (a crash, a database
 * blip: graphile-worker retries) resumes where the last one stopped. An error
 * a retry cannot get past, or the last attempt's, ends it FAILED.
 */
export function createBulkActionTask(ctx: TaskContext) {
  return async function bulkAction(payload: unknown, helpers: JobHelpers): Promise<void> {
    const parsed = parseBulkActionPayload(payload);
    await traceJob(helpers.job, parsed, async (span) => {
      const log = jobLogger(ctx.log, helpers).child({ bulkActionId: parsed.id });
      span.setAttribute("media.bulk_action.id", parsed.id);
      const row = await startBulkAction(ctx.pool, parsed.id);
      if (row === undefined) {
        log.info("bulk action already finished or unknown; nothing to do");
        return;
      }
      const totals = { done: 0, skipped: 0, failed: 0 };
      try {
        for (;;) {
          const chunk: ChunkResult =
            row.action === "RESTORE"
              ? await runRestoreChunk(ctx.db, ctx.pool, ctx.stores, ctx.settings, ctx.gracePeriodSeconds, parsed.id)
              : await runChangeChunk(ctx.db, ctx.pool, parsed.id);
          if (chunk.settled === 0) break;
          totals.done += chunk.done;
          totals.skipped += chunk.skipped;
          totals.failed += chunk.failed;
        }
      } catch (error) {
        if (error instanceof BulkActionMovedError) {
          log.warn({ err: error }, "bulk action moved under this job; leaving it");
          return;
        }
        const lastAttempt = helpers.job.attempts >= helpers.job.max_attempts;
        // Anything but the data's fault (an outage, a deadlock, a timeout, a bug that may not recur) is
        // tried again by graphile-worker's next attempt, which resumes from the committed cursor.
        if (!isDataFault(error) && !lastAttempt) {
          log.warn({ err: error, ...totals }, "bulk action chunk failed; the job retries from its cursor");
          throw error;
        }
        log.error({ err: error, ...totals }, "bulk action failed");
        await finishBulkAction(ctx.pool, parsed.id, failureOf(error));
        return;
      }
      await finishBulkAction(ctx.pool, parsed.id, undefined);
      span.setAttributes({
        "media.bulk_action.done": totals.done,
        "media.bulk_action.skipped": totals.skipped,
        "media.bulk_action.failed": totals.failed,
      });
      log.info({ action: row.action, ...totals }, "bulk action finished");
    });
  };
}
