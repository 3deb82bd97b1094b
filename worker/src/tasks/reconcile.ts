import { setTimeout as sleep } from "node:timers/promises";
import { isDataFault, sqlStateOf } from "@media/server/db";
import { parseReconciliationPayload } from "@media/server/deletion";
import { failReconciliation, ReconciliationMovedError, reconcilePage, startReconciliation } from "@media/server/media";
import { traceJob } from "@media/server/telemetry";
import type { JobHelpers } from "graphile-worker";
import { jobLogger, type TaskContext } from "./context.ts";

/** Objects per page at most (one ListObjectsV2 page; one transaction). */
const PAGE_SIZE = 1000;

/** The reconciliation's last_error: a code and short words, never a database message. */
function failureOf(error: unknown): string {
  const code = sqlStateOf(error);
  if (code !== undefined && /^[0-9A-Z]{5}$/.test(code)) return `DATABASE_ERROR (${code}): see the worker log`;
  return "INTERNAL: the job failed; see the worker log";
}

/**
 * The reconcile job: marks the reconciliation RUNNING, then compares page
 * after page (media/reconciliations.ts) until the walk reaches the end, which
 * commits SUCCEEDED with the last page. At most RECONCILIATION_RATE objects a
 * second: pages of at most that many, spaced out. Each page commits its cursor,
 * findings and counts, so a job run again (a crash, a worker stopping: graphile-worker
 * retries) resumes where the last one stopped. An error a retry cannot get past,
 * or the last attempt's, ends it FAILED.
 */
export function createReconcileTask(ctx: TaskContext) {
  return async function reconcile(payload: unknown, helpers: JobHelpers): Promise<void> {
    const parsed = parseReconciliationPayload(payload);
    await traceJob(helpers.job, parsed, async (span) => {
      const log = jobLogger(ctx.log, helpers).child({ reconciliationId: parsed.id });
      span.setAttribute("media.reconciliation.id", parsed.id);
      const row = await startReconciliation(ctx.pool, parsed.id);
      if (row === undefined) {
        log.info("reconciliation already finished or unknown; nothing to do");
        return;
      }
      const store = ctx.stores.get(row.store);
      if (store === undefined) {
        await failReconciliation(
          ctx.pool,
          parsed.id,
          `STORE_NOT_CONFIGURED: store ${row.store} is not configured on this worker`,
        );
        return;
      }
      const rate = ctx.settings.reconciliationRate;
      const pageSize = Math.min(PAGE_SIZE, rate);
      const started = performance.now();
      let listed = 0;
      try {
        for (;;) {
          // A worker stopping: this attempt ends, and the job's retry goes on from the cursor.
          helpers.abortSignal?.throwIfAborted();
          const page = await reconcilePage(ctx.pool, store, parsed.id, pageSize);
          listed += page.listed;
          if (page.finished) break;
          const wait = started + (listed / rate) * 1000 - performance.now();
          if (wait > 0) await sleep(wait, undefined, { signal: helpers.abortSignal });
        }
      } catch (error) {
        if (error instanceof ReconciliationMovedError) {
          log.warn({ err: error }, "reconciliation moved under this job; leaving it");
          return;
        }
        const lastAttempt = helpers.job.attempts >= helpers.job.max_attempts;
        if (!isDataFault(error) && !lastAttempt) {
          log.warn({ err: error, listed }, "reconciliation page failed; the job retries from its cursor");
          throw error;
        }
        log.error({ err: error, listed }, "reconciliation failed");
        await failReconciliation(ctx.pool, parsed.id, failureOf(error));
        return;
      }
      span.setAttribute("media.reconciliation.listed", listed);
      log.info({ listed }, "reconciliation finished");
    });
  };
}
