import { performance } from "node:perf_hooks";
import { withTransaction } from "@media/server/db";
import {
  type ClaimCursor,
  checkBlastRadius,
  claimDueBatch,
  getDeletionControl,
  parseSweepPayload,
  pruneRuns,
  reclaimExpiredClaim,
  recordRun,
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
      const startedAt = new Date();
      const log = jobLogger(ctx.log, helpers);
      const counts: SweepCounts = { claimed: 0, reclaimed: 0 };
      let note = "";
      try {
        note = await runSweep(ctx, log, counts);
      } catch (error) {
        // The dashboard shows the note: a code, never a database message (it may quote values); the log has it all.
        const code = (error as { code?: unknown }).code;
        note = `failed${typeof code === "string" ? ` (${code})` : ""}: see the worker log`;
        throw error;
      } finally {
        ctx.metrics.observeSweep({ seconds: (performance.now() - started) / 1000, ...counts });
        span.setAttributes({ "media.sweep.claimed": counts.claimed, "media.sweep.reclaimed": counts.reclaimed });
        await recordSweep(ctx, log, {
          jobId: helpers.job.id,
          startedAt,
          durationMs: performance.now() - started,
          note,
          ...counts,
        });
      }
    });
  };
}

/**
 * The sweep's deletion_runs row, and the retention of runs and heartbeats, in
 * one transaction. Never fails the sweep: its claims are committed already.
 */
async function recordSweep(
  { pool, workerId }: TaskContext,
  log: Logger,
  run: SweepCounts & { jobId: string; startedAt: Date; durationMs: number; note: string },
): Promise<void> {
  try {
    await withTransaction(pool, async (client) => {
      await recordRun(client, {
        kind: "sweep",
        workerId,
        jobId: run.jobId,
        startedAt: run.startedAt,
        durationMs: run.durationMs,
        files: run.claimed,
        reclaimed: run.reclaimed,
        note: run.note,
      });
      await pruneRuns(client);
    });
  } catch (err) {
    log.warn({ err }, "could not record the sweep's run");
  }
}

/** Runs the sweep; answers why it did less than usual ("" when it ran through). */
async function runSweep({ pool, settings }: TaskContext, log: Logger, counts: SweepCounts): Promise<string> {
  if ((await getDeletionControl(pool)).paused) return "deletions paused";
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
    return `blast-radius guard tripped: ${verdict.due} due, limit ${settings.blastRadiusLimit}`;
  }
  let cursor: ClaimCursor | undefined;
  let note = "";
  for (let batch = 0; batch < MAX_BATCHES_PER_SWEEP; batch++) {
    if (batch > 0 && (await getDeletionControl(pool)).paused) {
      note = "deletions paused during the sweep";
      break;
    }
    const result = await claimDueBatch(pool, settings.batchSize, settings.claimTimeoutSeconds, cursor);
    counts.claimed += result.claimed;
    cursor = result.cursor;
    if (cursor === undefined) break;
  }
  if (counts.claimed > 0) log.info({ claimed: counts.claimed }, "sweep claimed due media");
  return note;
}
