import { randomUUID } from "node:crypto";
import type pg from "pg";

// The deletion engine's SQL. Every statement that changes state writes its
// events in the same statement (so the same transaction). Claims carry a token:
// a job can only finish or release the rows still claimed with its own token,
// so a stale job (its claim reclaimed after a timeout) cannot act on them.

/** The rows a sweep may claim: unheld, unreferenced, past their delete_time. Served by media_due_idx. */
const DUE = `state IN ('PENDING', 'ORPHANED') AND hold_reason IS NULL AND delete_time <= now()`;

export interface DeletionControl {
  readonly paused: boolean;
  readonly pauseReason: string;
  readonly guardTrippedTime: Date | null;
  readonly guardDueCount: bigint | null;
  readonly guardAllowance: bigint;
}

export async function getDeletionControl(pool: pg.Pool): Promise<DeletionControl> {
  const { rows } = await pool.query(
    "SELECT paused, pause_reason, guard_tripped_time, guard_due_count, guard_allowance FROM deletion_control",
  );
  const row = rows[0];
  return {
    paused: row.paused,
    pauseReason: row.pause_reason,
    guardTrippedTime: row.guard_tripped_time,
    guardDueCount: row.guard_due_count === null ? null : BigInt(row.guard_due_count),
    guardAllowance: BigInt(row.guard_allowance),
  };
}

export async function pauseDeletions(pool: pg.Pool, reason: string): Promise<void> {
  await pool.query("UPDATE deletion_control SET paused = true, pause_reason = $1, update_time = now()", [reason]);
}

/**
 * Resumes deletions. After a blast-radius trip, resuming needs confirmTripped:
 * the confirmation lets sweeps delete the backlog the admin saw (plus the
 * normal limit of newcomers). Returns false when a trip was not confirmed.
 */
export async function resumeDeletions(pool: pg.Pool, confirmTripped: boolean, limit: number): Promise<boolean> {
  const { rowCount } = await pool.query(
    `UPDATE deletion_control SET paused = false, pause_reason = '', update_time = now(),
       guard_allowance = CASE WHEN guard_tripped_time IS NULL THEN guard_allowance ELSE guard_due_count + $2 END,
       guard_tripped_time = NULL, guard_due_count = NULL
     WHERE guard_tripped_time IS NULL OR $1`,
    [confirmTripped, limit],
  );
  return rowCount === 1;
}

export type GuardVerdict = { readonly proceed: true } | { readonly proceed: false; readonly due: bigint };

/**
 * The blast-radius guard. Counts due files (index-only, capped); when more are
 * due than the limit (or a confirmed allowance), pauses deletions and records
 * why, so nothing is claimed until an admin confirms.
 */
export async function checkBlastRadius(pool: pg.Pool, limit: number): Promise<GuardVerdict> {
  const control = await getDeletionControl(pool);
  const ceiling = control.guardAllowance > BigInt(limit) ? control.guardAllowance : BigInt(limit);
  const { rows } = await pool.query(`SELECT count(*)::bigint AS n FROM (SELECT 1 FROM media WHERE ${DUE} LIMIT $1) d`, [
    (ceiling + 1n).toString(),
  ]);
  const capped = BigInt(rows[0].n);
  if (capped <= ceiling) {
    // Back within the normal limit: a confirmed allowance has been used up.
    if (capped <= BigInt(limit) && control.guardAllowance > 0n) {
      await pool.query("UPDATE deletion_control SET guard_allowance = 0");
    }
    return { proceed: true };
  }
  const exact = await pool.query(`SELECT count(*)::bigint AS n FROM media WHERE ${DUE}`);
  const due = BigInt(exact.rows[0].n);
  await pool.query(
    `UPDATE deletion_control SET paused = true, guard_tripped_time = now(), guard_due_count = $1::bigint,
       update_time = now(),
       pause_reason = 'blast-radius guard: ' || $1::bigint || ' files are due, more than the limit of ' || $2::int ||
                      '; an admin must confirm before any is deleted'`,
    [due.toString(), limit],
  );
  return { proceed: false, due };
}

/** Where a sweep's previous claim ended, in the due order (delete_time as text keeps microseconds). */
export interface ClaimCursor {
  readonly deleteTime: string;
  readonly id: string;
}

export interface ClaimResult {
  readonly claimed: number;
  /** Continue the next claim after this; undefined when nothing was due. */
  readonly cursor: ClaimCursor | undefined;
}

/**
 * Claims up to batchSize due rows (SKIP LOCKED, so sweeps never wait on each
 * other or on a Link in progress), marks them DELETING with a fresh token,
 * writes CLAIMED events and enqueues one delete_batch job, all in one
 * statement. A row that gained a reference can never match: LINKED is not
 * due, and the claim re-checks that no reference row exists.
 *
 * With a cursor the scan starts after the previous batch instead of walking
 * again over index entries of rows already claimed (they stay in the due index
 * until vacuum). A row skipped because it was locked is left to the next sweep.
 */
export async function claimDueBatch(
  pool: pg.Pool,
  batchSize: number,
  maxAttempts: number,
  after?: ClaimCursor,
): Promise<ClaimResult> {
  const token = randomUUID();
  const { rows } = await pool.query(
    `WITH due AS (
       SELECT id, state, delete_time FROM media
       WHERE ${DUE} AND ($4::timestamptz IS NULL OR (delete_time, id) > ($4::timestamptz, $5::bigint))
       ORDER BY delete_time, id LIMIT $1
       FOR UPDATE SKIP LOCKED
     ), claimed AS (
       UPDATE media m SET state = 'DELETING', claim_token = $2, claim_time = now(), update_time = now()
       FROM due
       WHERE m.id = due.id AND m.reference_count = 0
         AND NOT EXISTS (SELECT 1 FROM media_references r WHERE r.media_id = m.id)
       RETURNING m.id, due.state AS from_state
     ), events AS (
       INSERT INTO media_events (media_id, type, from_state, to_state, actor, reason)
       SELECT id, 'CLAIMED', from_state, 'DELETING', 'worker', 'due for deletion' FROM claimed
     ), counted AS (SELECT count(*)::int AS n FROM claimed),
     last AS (SELECT delete_time::text AS delete_time, id FROM due ORDER BY delete_time DESC, id DESC LIMIT 1)
     SELECT n, last.delete_time, last.id,
            (SELECT graphile_worker.add_job('delete_batch', json_build_object('token', $2::text),
                                            max_attempts := $3) WHERE n > 0) IS NOT NULL AS queued
     FROM counted LEFT JOIN last ON true`,
    [batchSize, token, maxAttempts, after?.deleteTime ?? null, after?.id ?? null],
  );
  const row = rows[0];
  return {
    claimed: row.n as number,
    cursor: row.id === null ? undefined : { deleteTime: row.delete_time, id: row.id },
  };
}

/**
 * Gives claims older than timeoutSeconds (their worker died or hung) a fresh
 * token and a new job. They stay DELETING throughout, so Link keeps failing;
 * the old job, if it ever wakes up, no longer holds the token.
 */
export async function reclaimStaleBatch(
  pool: pg.Pool,
  timeoutSeconds: number,
  batchSize: number,
  maxAttempts: number,
): Promise<number> {
  const token = randomUUID();
  const { rows } = await pool.query(
    `WITH stale AS (
       SELECT id FROM media WHERE state = 'DELETING' AND claim_time < now() - make_interval(secs => $1)
       ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED
     ), reclaimed AS (
       UPDATE media m SET claim_token = $3, claim_time = now(), update_time = now()
       FROM stale WHERE m.id = stale.id RETURNING m.id
     ), events AS (
       INSERT INTO media_events (media_id, type, from_state, to_state, actor, reason)
       SELECT id, 'CLAIMED', 'DELETING', 'DELETING', 'worker', 'reclaimed: the previous claim timed out' FROM reclaimed
     ), counted AS (SELECT count(*)::int AS n FROM reclaimed)
     SELECT n, (SELECT graphile_worker.add_job('delete_batch', json_build_object('token', $3::text),
                                               max_attempts := $4) WHERE n > 0) IS NOT NULL AS queued
     FROM counted`,
    [timeoutSeconds, batchSize, token, maxAttempts],
  );
  return rows[0].n as number;
}

export interface ClaimedFile {
  readonly id: string;
  readonly store: string;
  readonly key: string;
}

/** The files still claimed with this token. */
export async function claimedFiles(pool: pg.Pool, token: string): Promise<ClaimedFile[]> {
  const { rows } = await pool.query(
    "SELECT id, store, key FROM media WHERE claim_token = $1 AND state = 'DELETING' ORDER BY id",
    [token],
  );
  return rows;
}

/** Hands a batch back unprocessed (deletions were paused after it was claimed). */
export async function releaseBatch(pool: pg.Pool, token: string, reason: string): Promise<number> {
  const { rows } = await pool.query(
    `WITH released AS (
       UPDATE media SET state = 'ORPHANED', claim_token = NULL, claim_time = NULL, update_time = now(),
         orphan_time = coalesce(orphan_time, now())
       WHERE claim_token = $1 AND state = 'DELETING' RETURNING id
     ), events AS (
       INSERT INTO media_events (media_id, type, from_state, to_state, actor, reason)
       SELECT id, 'CLAIM_RELEASED', 'DELETING', 'ORPHANED', 'worker', $2 FROM released
     )
     SELECT count(*)::int AS n FROM released`,
    [token, reason],
  );
  return rows[0].n as number;
}

export interface RetryPolicy {
  /** Failed attempts after which a media becomes FAILED. */
  readonly maxAttempts: number;
  /** First retry delay; doubles per attempt, up to six hours, plus jitter. */
  readonly baseDelaySeconds: number;
}

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
}

/**
 * Records what storage did, in one transaction: rows whose files are gone are
 * deleted (with their DELETED events); rows whose files could not be deleted
 * go back to ORPHANED with a backoff delete_time, or to FAILED when out of
 * attempts. Only rows still claimed with this token are touched.
 */
export async function finishBatch(
  pool: pg.Pool,
  token: string,
  deletedIds: readonly string[],
  failures: ReadonlyMap<string, string>,
  policy: RetryPolicy,
): Promise<BatchOutcome> {
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    const gone = await client.query(
      `WITH gone AS (
         DELETE FROM media WHERE id = ANY($1::bigint[]) AND claim_token = $2 AND state = 'DELETING'
         RETURNING id, store, size_bytes
       ), events AS (
         INSERT INTO media_events (media_id, type, from_state, actor, reason)
         SELECT id, 'DELETED', 'DELETING', 'worker', 'file and row deleted' FROM gone
       )
       SELECT store, count(*)::int AS files, sum(size_bytes)::bigint AS bytes FROM gone GROUP BY store`,
      [deletedIds, token],
    );
    const failed = await client.query(
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
         FROM f WHERE m.id = f.id AND m.claim_token = $3 AND m.state = 'DELETING'
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
    // Exact total for the hourly tally; the per-store figures are numbers (metrics).
    const deletedBytes = gone.rows.reduce((sum, r: { bytes: string }) => sum + BigInt(r.bytes), 0n);
    const deletedByStore: StoreDeletions[] = gone.rows.map((r: { store: string; files: number; bytes: string }) => ({
      store: r.store,
      files: r.files,
      bytes: Number(r.bytes),
    }));
    const outcome: BatchOutcome = {
      deleted: deletedByStore.reduce((sum, s) => sum + s.files, 0),
      retried: failed.rows[0].retried,
      failed: failed.rows[0].failed,
      deletedByStore,
    };
    // Last, so the hour's row is locked only until the commit right after.
    if (outcome.deleted + outcome.retried + outcome.failed > 0) {
      await client.query(
        `INSERT INTO deletion_hourly AS h (hour, deleted_count, deleted_bytes, failed_count)
         VALUES (date_trunc('hour', now(), 'UTC'), $1, $2, $3)
         ON CONFLICT (hour) DO UPDATE SET deleted_count = h.deleted_count + EXCLUDED.deleted_count,
           deleted_bytes = h.deleted_bytes + EXCLUDED.deleted_bytes, failed_count = h.failed_count + EXCLUDED.failed_count`,
        [outcome.deleted, deletedBytes.toString(), outcome.retried + outcome.failed],
      );
    }
    await client.query("COMMIT");
    return outcome;
  } catch (error) {
    await client.query("ROLLBACK").catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}
