import type pg from "pg";
import { DUE_NOW, PURGE_DUE_NOW } from "./due.ts";

// The deletion switchboard (one row, deletion_control): the global pause and
// the blast-radius guard.

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

/** SQL: the files a sweep would act on now, due for deletion or for purging, at most $1 of each. */
const DUE_FILES_CAPPED = `SELECT (SELECT count(*) FROM (SELECT 1 FROM media WHERE ${DUE_NOW} LIMIT $1) d)
       + (SELECT count(*) FROM (SELECT 1 FROM media WHERE ${PURGE_DUE_NOW} LIMIT $1) p) AS n`;

/**
 * The blast-radius guard. Counts due files, for deletion and for purging
 * (index-only, capped); when more are due than the limit (or a confirmed
 * allowance), pauses deletions and records why, so nothing is claimed until
 * an admin confirms.
 */
export async function checkBlastRadius(pool: pg.Pool, limit: number): Promise<GuardVerdict> {
  const control = await getDeletionControl(pool);
  const ceiling = control.guardAllowance > BigInt(limit) ? control.guardAllowance : BigInt(limit);
  const { rows } = await pool.query(DUE_FILES_CAPPED, [(ceiling + 1n).toString()]);
  const capped = BigInt(rows[0].n);
  if (capped <= ceiling) {
    // Back within the normal limit: a confirmed allowance has been used up.
    if (capped <= BigInt(limit) && control.guardAllowance > 0n) {
      await pool.query("UPDATE deletion_control SET guard_allowance = 0");
    }
    return { proceed: true };
  }
  const exact = await pool.query(
    `SELECT (SELECT count(*) FROM media WHERE ${DUE_NOW}) + (SELECT count(*) FROM media WHERE ${PURGE_DUE_NOW}) AS n`,
  );
  const due = BigInt(exact.rows[0].n);
  await pool.query(
    `UPDATE deletion_control SET paused = true, guard_tripped_time = now(), guard_due_count = $1::bigint,
       update_time = now(),
       pause_reason = 'blast-radius guard: ' || $1::bigint || ' files are due, more than the limit of ' || $2::int ||
                      '; an admin must confirm before any is deleted or purged'`,
    [due.toString(), limit],
  );
  return { proceed: false, due };
}
