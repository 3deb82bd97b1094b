import type pg from "pg";
import type { DeletionConfig } from "../config.ts";
import { isDataFault } from "../db/sql-errors.ts";
import { withTransaction } from "../db/transaction.ts";
import { stillClaimed } from "./claims.ts";
import { recordRun } from "./runs.ts";

export interface RetryPolicy {
  /** Failed attempts after which a media becomes FAILED. */
  readonly maxAttempts: number;
  /** First retry delay; doubles per attempt, up to six hours, plus jitter. */
  readonly baseDelaySeconds: number;
}

/** The retry policy the deletion settings (DELETE_MAX_ATTEMPTS, DELETE_RETRY_DELAY) describe. */
export const retryPolicyOf = (settings: Pick<DeletionConfig, "maxAttempts" | "retryDelaySeconds">): RetryPolicy => ({
  maxAttempts: settings.maxAttempts,
  baseDelaySeconds: settings.retryDelaySeconds,
});

/** Files (and their rows) one batch deleted from one store. */
export interface StoreDeletions {
  readonly store: string;
  readonly files: number;
  /** The size_bytes of the deleted rows. */
  readonly bytes: number;
}

export interface BatchOutcome {
  readonly deleted: number;
  readonly retried: number;
  readonly failed: number;
  /** deleted, per store (stores with none left out). */
  readonly deletedByStore: readonly StoreDeletions[];
  /**
   * Rows the database refused to record (see finishBatch), by id, with why.
   * Those it could mark are FAILED (counted in failed); any it could not even
   * mark stay claimed, and the claim with them, to be taken back later.
   */
  readonly isolated: ReadonlyMap<string, string>;
}

/** Which job finishes the batch, for its deletion_runs row (written in the batch's transaction). */
export interface BatchRun {
  readonly workerId: string;
  readonly jobId: string;
  readonly startedAt: Date;
  /** Milliseconds since the job started (performance.now() then). */
  readonly elapsedMs: () => number;
}

/** The stable code of a row whose file is gone but whose row could not be recorded. */
export const ROW_NOT_RECORDED = "ROW_NOT_RECORDED";

/** What recording some of a batch's rows changed. */
interface Recorded {
  readonly byStore: Map<string, { files: number; bytes: bigint }>;
  retried: number;
  failed: number;
}

const emptyRecord = (): Recorded => ({ byStore: new Map(), retried: 0, failed: 0 });

/** Rows whose files are gone: deleted, with their DELETED events. */
async function recordDeleted(client: pg.PoolClient, token: string, ids: readonly string[], into: Recorded) {
  if (ids.length === 0) return;
  const gone = await client.query<{ store: string; files: number; bytes: string }>(
    `WITH gone AS (
       DELETE FROM media m WHERE m.id = ANY($1::bigint[]) AND ${stillClaimed("m", "$2::uuid")}
       RETURNING id, store, size_bytes
     ), events AS (
       INSERT INTO media_events (media_id, type, from_state, actor, reason)
       SELECT id, 'DELETED', 'DELETING', 'worker', 'file and row deleted' FROM gone
     )
     SELECT store, count(*)::int AS files, sum(size_bytes)::numeric::text AS bytes FROM gone GROUP BY store`,
    [ids, token],
  );
  for (const r of gone.rows) {
    const total = into.byStore.get(r.store) ?? { files: 0, bytes: 0n };
    into.byStore.set(r.store, { files: total.files + r.files, bytes: total.bytes + BigInt(r.bytes) });
  }
}

/**
 * Rows whose files could not be deleted: back to ORPHANED with a backoff
 * delete_time, or FAILED once out of attempts (maxAttempts 0: FAILED at once).
 */
async function recordFailed(
  client: pg.PoolClient,
  token: string,
  failures: ReadonlyMap<string, string>,
  policy: RetryPolicy,
  into: Recorded,
) {
  if (failures.size === 0) return;
  const counts = await client.query<{ retried: number; failed: number }>(
    `WITH f AS (SELECT * FROM unnest($1::bigint[], $2::text[]) AS f(id, error)),
     updated AS (
       UPDATE media m SET
         delete_attempts = m.delete_attempts + 1,
         last_error = left(f.error, 2000),
         state = (CASE WHEN m.delete_attempts + 1 >= $4 THEN 'FAILED' ELSE 'ORPHANED' END)::media_state,
         delete_time = CASE WHEN m.delete_attempts + 1 >= $4 THEN NULL
           ELSE now() + make_interval(secs => least($5 * power(2, m.delete_attempts), 21600) + random() * $5) END,
         orphan_time = coalesce(m.orphan_time, now()),
         claim_token = NULL, claim_time = NULL, update_time = now()
       FROM f WHERE m.id = f.id AND ${stillClaimed("m", "$3::uuid")}
       RETURNING m.id, m.state, f.error
     ), events AS (
       INSERT INTO media_events (media_id, type, from_state, to_state, actor, reason)
       SELECT id, 'DELETE_FAILED', 'DELETING', state, 'worker', left(error, 2000) FROM updated
     )
     SELECT count(*) FILTER (WHERE state = 'ORPHANED')::int AS retried,
            count(*) FILTER (WHERE state = 'FAILED')::int AS failed
     FROM updated`,
    [[...failures.keys()], [...failures.values()], token, policy.maxAttempts, policy.baseDelaySeconds],
  );
  into.retried += counts.rows[0]?.retried ?? 0;
  into.failed += counts.rows[0]?.failed ?? 0;
}

/**
 * Writes the batch's deletion_runs row under a savepoint: the row is a report,
 * and a report the database refuses must never stop the batch from finishing
 * (the rows' own outcome is what matters), so a data fault rolls back only it.
 */
async function recordRunApart(
  client: pg.PoolClient,
  run: BatchRun,
  deleted: number,
  bytes: bigint,
  recorded: Recorded,
  isolated: ReadonlyMap<string, string>,
): Promise<void> {
  await client.query("SAVEPOINT deletion_run");
  try {
    await recordRun(client, {
      kind: "batch",
      workerId: run.workerId,
      jobId: run.jobId,
      startedAt: run.startedAt,
      durationMs: run.elapsedMs(),
      files: deleted,
      bytes,
      failures: recorded.retried + recorded.failed,
      note: isolated.size > 0 ? `${isolated.size} rows could not be recorded: set apart as FAILED` : "",
    });
    await client.query("RELEASE SAVEPOINT deletion_run");
  } catch (error) {
    if (!isDataFault(error)) throw error;
    await client.query("ROLLBACK TO SAVEPOINT deletion_run");
  }
}

/** Adds the batch to the hour's tally; last, so the hour's row is locked only until the commit right after. */
async function tally(
  client: pg.PoolClient,
  recorded: Recorded,
  isolated: ReadonlyMap<string, string>,
  run: BatchRun | undefined,
): Promise<BatchOutcome> {
  const deletedByStore = [...recorded.byStore].map(([store, s]) => ({ store, files: s.files, bytes: Number(s.bytes) }));
  const deleted = deletedByStore.reduce((sum, s) => sum + s.files, 0);
  // Exact bytes (numeric): the per-store figures above are numbers for the metrics.
  const bytes = [...recorded.byStore.values()].reduce((sum, s) => sum + s.bytes, 0n);
  if (run !== undefined) await recordRunApart(client, run, deleted, bytes, recorded, isolated);
  if (deleted + recorded.retried + recorded.failed > 0) {
    await client.query(
      `INSERT INTO deletion_hourly AS h (hour, deleted_count, deleted_bytes, failed_count)
       VALUES (date_trunc('hour', now(), 'UTC'), $1, $2, $3)
       ON CONFLICT (hour) DO UPDATE SET deleted_count = h.deleted_count + EXCLUDED.deleted_count,
         deleted_bytes = h.deleted_bytes + EXCLUDED.deleted_bytes, failed_count = h.failed_count + EXCLUDED.failed_count`,
      [deleted, bytes.toString(), recorded.retried + recorded.failed],
    );
  }
  return { deleted, retried: recorded.retried, failed: recorded.failed, deletedByStore, isolated };
}

/** Runs fn inside a savepoint: its changes are kept when it succeeds, undone (and its error returned) when not. */
async function inSavepoint(client: pg.PoolClient, fn: () => Promise<void>): Promise<Error | undefined> {
  await client.query("SAVEPOINT finish_row");
  try {
    await fn();
    await client.query("RELEASE SAVEPOINT finish_row");
    return undefined;
  } catch (error) {
    if (!isDataFault(error)) throw error;
    await client.query("ROLLBACK TO SAVEPOINT finish_row");
    return error as Error;
  }
}

/**
 * The batch again, one row at a time: every row the database accepts is
 * recorded as usual; a row it refuses becomes FAILED with the reason (its
 * file is gone already, so a retry only records it). The claim ends only if
 * every row was settled one way or the other.
 */
async function finishRowByRow(
  client: pg.PoolClient,
  token: string,
  deletedIds: readonly string[],
  failures: ReadonlyMap<string, string>,
  policy: RetryPolicy,
  run: BatchRun | undefined,
): Promise<BatchOutcome> {
  const recorded = emptyRecord();
  const refused = new Map<string, string>();
  for (const id of deletedIds) {
    const error = await inSavepoint(client, () => recordDeleted(client, token, [id], recorded));
    if (error !== undefined)
      refused.set(id, `${ROW_NOT_RECORDED}: the file was deleted, but its row could not be: ${error.message}`);
  }
  for (const [id, reason] of failures) {
    const error = await inSavepoint(client, () =>
      recordFailed(client, token, new Map([[id, reason]]), policy, recorded),
    );
    if (error !== undefined)
      refused.set(id, `${ROW_NOT_RECORDED}: ${reason}; and its row could not be updated: ${error.message}`);
  }
  let unsettled = 0;
  for (const [id, reason] of refused) {
    const error = await inSavepoint(client, () =>
      recordFailed(client, token, new Map([[id, reason]]), { ...policy, maxAttempts: 0 }, recorded),
    );
    if (error !== undefined) unsettled++;
  }
  if (unsettled === 0) await client.query("DELETE FROM deletion_claims WHERE token = $1", [token]);
  return tally(client, recorded, refused, run);
}

/**
 * Records what storage did, in one transaction: rows whose files are gone are
 * deleted (with their DELETED events); rows whose files could not be deleted
 * go back to ORPHANED with a backoff delete_time, or to FAILED when out of
 * attempts; the claim and its lease end. deletedIds and failures together are
 * every file of the claim. Only rows still claimed with this token are touched.
 *
 * When PostgreSQL refuses the batch for its data (a value out of range, a
 * constraint, a trigger), running it again would fail again and hold every
 * row of the batch hostage: the batch is then recorded row by row, and the
 * rows it refuses are set apart as FAILED.
 *
 * With `run`, the batch's deletion_runs row is written in the same transaction.
 */
export async function finishBatch(
  pool: pg.Pool,
  token: string,
  deletedIds: readonly string[],
  failures: ReadonlyMap<string, string>,
  policy: RetryPolicy,
  run?: BatchRun,
): Promise<BatchOutcome> {
  try {
    return await withTransaction(pool, async (client) => {
      const recorded = emptyRecord();
      await recordDeleted(client, token, deletedIds, recorded);
      await recordFailed(client, token, failures, policy, recorded);
      // The job reports on every file its claim held (claimedFiles), so the claim is done with.
      await client.query("DELETE FROM deletion_claims WHERE token = $1", [token]);
      return tally(client, recorded, new Map(), run);
    });
  } catch (error) {
    if (!isDataFault(error)) throw error;
    return withTransaction(pool, (client) => finishRowByRow(client, token, deletedIds, failures, policy, run));
  }
}
