import { performance } from "node:perf_hooks";
import { dropExpiredEvents, prepareEventPartitions, withTransaction } from "@media/server/db";
import {
  type ClaimCursor,
  type ClaimResult,
  checkBlastRadius,
  claimDueBatch,
  claimPurgeBatch,
  getDeletionControl,
  hasClaimRoom,
  newerSweepRunning,
  parseSweepPayload,
  pruneRuns,
  reclaimExpiredClaim,
  recordRun,
  settleExpiredClaims,
} from "@media/server/deletion";
import type { Logger } from "@media/server/logger";
import { foldStateDeltas, sweepAttestations } from "@media/server/media";
import { traceJob } from "@media/server/telemetry";
import type { JobHelpers } from "graphile-worker";
import { jobLogger, type TaskContext } from "./context.ts";

/** Batches claimed per sweep at most; the next sweep carries on. */
const MAX_BATCHES_PER_SWEEP = 10_000;
/**
 * While the claims ahead are at their bound (hasClaimRoom), the sweep looks
 * again this often, for this long at most: jobs that make no room meanwhile
 * are stuck or gone, and the next sweep, which takes back expired claims first,
 * carries on.
 */
const CLAIM_ROOM_POLL_MS = 100;
const CLAIM_ROOM_WAIT_MS = 30_000;

interface SweepCounts {
  claimed: number;
  reclaimed: number;
}

/**
 * The sweep (crontab, or triggered by an admin): takes back deletion claims
 * whose lease expired (their job died, hung or was stopped) and settles the
 * expired claims of purges, restores and erasures, applies the blast-radius
 * guard, then claims due rows batch by batch (each batch in its own
 * transaction with its delete_batch job), then tombstones due for purging
 * (each batch with its purge_batch job), never further ahead of the jobs than
 * hasClaimRoom allows (at the bound it waits, or gives way to a newer sweep).
 * Safe in several workers at once: claims skip rows another sweep has locked. Its span
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
        note = await runSweep(ctx, log, counts, { jobId: helpers.job.id, stopping: helpers.abortSignal });
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
async function runSweep(
  { pool, settings }: TaskContext,
  log: Logger,
  counts: SweepCounts,
  self: SweepSelf,
): Promise<string> {
  // First, paused or not: settling touches no storage, and an interrupted restore or erasure must
  // not stay claimed (refused to everyone) for as long as a pause lasts.
  for (;;) {
    const settled = await settleExpiredClaims(pool);
    if (settled.claims === 0) break;
    log.warn(settled, "settled purges, restores or erasures whose lease expired");
  }
  // The per-state totals' deltas, folded so that reading them stays cheap (media/state-totals.ts).
  await foldStateDeltas(pool);
  // The audit log: partitions for the months ahead, and whole months past EVENTS_RETENTION dropped.
  await prepareEventPartitions(pool);
  const droppedMonths = await dropExpiredEvents(pool, settings.eventsRetentionSeconds);
  if (droppedMonths > 0) log.info({ partitions: droppedMonths }, "dropped event partitions past EVENTS_RETENTION");
  // Attestations past their time expire, paused or not (no file is touched), and closed ones' pairs are dropped.
  const attested = await sweepAttestations(pool);
  if (attested.expired > 0 || attested.dropped > 0) log.info(attested, "expired attestations, dropped attested pairs");
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
  const claim = (cursor: ClaimCursor | undefined) =>
    claimDueBatch(pool, settings.batchSize, settings.claimTimeoutSeconds, cursor);
  const purge = (cursor: ClaimCursor | undefined) =>
    claimPurgeBatch(pool, settings.batchSize, settings.claimTimeoutSeconds, cursor);
  const deletions = await claimAll(pool, claim, self);
  // After a stall too: tombstones due for purging must not wait behind a deletion backlog.
  const purges =
    deletions.ended === "done" || deletions.ended === "stalled"
      ? await claimAll(pool, purge, self)
      : { ...deletions, claimed: 0 };
  counts.claimed += deletions.claimed + purges.claimed;
  if (counts.claimed > 0) {
    log.info({ claimed: deletions.claimed, purges: purges.claimed }, "sweep claimed due media");
  }
  const ended = purges.ended === "done" ? deletions.ended : purges.ended;
  switch (ended) {
    case "done":
      return "";
    case "paused":
      return "deletions paused during the sweep";
    case "stalled":
      log.warn("the claims ahead stayed at their bound: no job finished a batch meanwhile; the next sweep carries on");
      return "stopped early: the batches claimed ahead were not being finished";
    case "stopping":
      return "stopped early: the worker is shutting down";
    case "yielded":
      return "stopped at the claim bound: a newer sweep carries on";
    default: {
      const unknown: never = ended;
      throw new Error(`claims ended as ${String(unknown)}`);
    }
  }
}

/**
 * Room for another claim within CLAIM_ROOM_WAIT_MS (see hasClaimRoom), unless
 * the worker is stopping or a newer sweep is running (it carries on instead).
 */
async function waitForClaimRoom(
  pool: TaskContext["pool"],
  self: SweepSelf,
): Promise<"room" | "stalled" | "stopping" | "yielded"> {
  const giveUp = performance.now() + CLAIM_ROOM_WAIT_MS;
  for (;;) {
    if (self.stopping.aborted) return "stopping";
    if (await hasClaimRoom(pool)) return "room";
    if (await newerSweepRunning(pool, self.jobId)) return "yielded";
    if (performance.now() >= giveUp) return "stalled";
    await new Promise((resolve) => setTimeout(resolve, CLAIM_ROOM_POLL_MS));
  }
}

/** How a sweep's claims ended: none left due, deletions paused, no room made, the worker stopping, a newer sweep running. */
type ClaimsEnded = "done" | "paused" | "stalled" | "stopping" | "yielded";

/** The running sweep: its job, and the signal of its worker's shutdown. */
interface SweepSelf {
  readonly jobId: string;
  readonly stopping: AbortSignal;
}

/**
 * Claims batch after batch in the claim's order, never more ahead of the jobs
 * than hasClaimRoom allows, until none is due, deletions are paused meanwhile,
 * the jobs make no room, or the worker is shutting down.
 */
async function claimAll(
  pool: TaskContext["pool"],
  claimBatch: (after: ClaimCursor | undefined) => Promise<ClaimResult>,
  self: SweepSelf,
): Promise<{ claimed: number; ended: ClaimsEnded }> {
  let cursor: ClaimCursor | undefined;
  let claimed = 0;
  for (let batch = 0; batch < MAX_BATCHES_PER_SWEEP; batch++) {
    const room = await waitForClaimRoom(pool, self);
    if (room !== "room") return { claimed, ended: room };
    // After any wait for room, right before the claim: a pause meanwhile claims nothing more.
    if ((await getDeletionControl(pool)).paused) return { claimed, ended: "paused" };
    const result = await claimBatch(cursor);
    claimed += result.claimed;
    cursor = result.cursor;
    if (cursor === undefined) break;
  }
  return { claimed, ended: "done" };
}
