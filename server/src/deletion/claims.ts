import { randomUUID } from "node:crypto";
import type pg from "pg";
import { DUE_NOW } from "./due.ts";
import { enqueueDeleteBatch } from "./jobs.ts";

// Claims and their leases. A claim is a batch of media marked DELETING with
// one token; its row in deletion_claims holds the lease. Every statement that
// changes media state writes its events in the same statement (so the same
// transaction), and every change a job makes is conditioned on its token.
//
// The lease is what makes a stale job harmless: a claim is taken back
// (reclaimExpiredClaim) only once its lease has expired, and a job renews its
// lease (renewLease) before every storage request, so a job that is told its
// renewal succeeded knows no other worker can act on its media for the
// lease's length from when it asked (see lease.ts for the margin it keeps).

/**
 * SQL condition: the media row `alias` is still claimed with the token in
 * `tokenSql`. Written so that no index on state or claim_token can serve it,
 * and every statement using it finds its rows by primary key (the claim's
 * media_ids): a mass claim leaves the statistics believing almost nothing is
 * DELETING, and plans built on that belief scanned every DELETING row,
 * hundreds of milliseconds per statement at a million.
 */
export const stillClaimed = (alias: string, tokenSql: string): string =>
  `${alias}.claim_token IS NOT DISTINCT FROM ${tokenSql} AND ${alias}.state IS NOT DISTINCT FROM 'DELETING'`;

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
 * writes CLAIMED events, grants the claim a lease of leaseSeconds and enqueues
 * one delete_batch job, all in one statement. A row that gained a reference
 * can never match: LINKED is not due, and the claim re-checks that no
 * reference row exists.
 *
 * With a cursor the scan starts after the previous batch instead of walking
 * again over index entries of rows already claimed (they stay in the due index
 * until vacuum). A row skipped because it was locked is left to the next sweep.
 */
export async function claimDueBatch(
  pool: pg.Pool,
  batchSize: number,
  leaseSeconds: number,
  after?: ClaimCursor,
): Promise<ClaimResult> {
  const { rows } = await pool.query(
    `WITH due AS (
       SELECT id, state, delete_time FROM media
       WHERE ${DUE_NOW} AND ($4::timestamptz IS NULL OR (delete_time, id) > ($4::timestamptz, $5::bigint))
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
     lease AS (
       INSERT INTO deletion_claims (token, lease_expire_time, media_ids)
       SELECT $2, now() + make_interval(secs => $3), array_agg(id) FROM claimed HAVING count(*) > 0
     ),
     last AS (SELECT delete_time::text AS delete_time, id FROM due ORDER BY delete_time DESC, id DESC LIMIT 1)
     SELECT n, last.delete_time, last.id, (SELECT ${enqueueDeleteBatch("$2")} WHERE n > 0) IS NOT NULL AS queued
     FROM counted LEFT JOIN last ON true`,
    [batchSize, randomUUID(), leaseSeconds, after?.deleteTime ?? null, after?.id ?? null],
  );
  const row = rows[0];
  return {
    claimed: row.n as number,
    cursor: row.id === null ? undefined : { deleteTime: row.delete_time, id: row.id },
  };
}

export interface Reclaimed {
  /** An expired lease was found (false: none is left). */
  readonly found: boolean;
  /** Its media still DELETING, now under a fresh token with a new lease and job. */
  readonly media: number;
}

/**
 * Takes back one claim whose lease expired (its job died, hung, or was
 * stopped): its media get a fresh token, a new lease and a new job. They stay
 * DELETING throughout, so Link keeps failing; the old job, if it ever wakes
 * up, can neither renew the old lease nor change a row under the old token.
 */
export async function reclaimExpiredClaim(pool: pg.Pool, leaseSeconds: number): Promise<Reclaimed> {
  const { rows } = await pool.query(
    `WITH expired AS (
       SELECT token FROM deletion_claims WHERE lease_expire_time < now()
       ORDER BY lease_expire_time LIMIT 1 FOR UPDATE SKIP LOCKED
     ), dropped AS (
       DELETE FROM deletion_claims c USING expired WHERE c.token = expired.token RETURNING c.token, c.media_ids
     ), moved AS (
       UPDATE media m SET claim_token = $1, claim_time = now(), update_time = now()
       FROM dropped WHERE m.id = ANY(dropped.media_ids) AND ${stillClaimed("m", "dropped.token")}
       RETURNING m.id
     ), events AS (
       INSERT INTO media_events (media_id, type, from_state, to_state, actor, reason)
       SELECT id, 'CLAIMED', 'DELETING', 'DELETING', 'worker', 'reclaimed: the previous lease expired' FROM moved
     ), counted AS (SELECT (SELECT count(*) FROM dropped)::int AS found, (SELECT count(*) FROM moved)::int AS n),
     lease AS (
       INSERT INTO deletion_claims (token, lease_expire_time, media_ids)
       SELECT $1, now() + make_interval(secs => $2), array_agg(id) FROM moved HAVING count(*) > 0
     )
     SELECT found, n, (SELECT ${enqueueDeleteBatch("$1")} WHERE n > 0) IS NOT NULL AS queued FROM counted`,
    [randomUUID(), leaseSeconds],
  );
  return { found: rows[0].found > 0, media: rows[0].n as number };
}

/**
 * Extends the claim's lease to leaseSeconds from now. False when the claim is
 * no longer this token's (it was taken back, or finished): the job must stop.
 */
export async function renewLease(pool: pg.Pool, token: string, leaseSeconds: number): Promise<boolean> {
  const { rowCount } = await pool.query(
    `UPDATE deletion_claims SET lease_expire_time = now() + make_interval(secs => $2), renew_time = now()
     WHERE token = $1`,
    [token, leaseSeconds],
  );
  return rowCount === 1;
}

export interface ClaimedFile {
  readonly id: string;
  readonly store: string;
  readonly key: string;
}

/** The files still claimed with this token (none when the claim is gone). */
export async function claimedFiles(pool: pg.Pool, token: string): Promise<ClaimedFile[]> {
  const { rows } = await pool.query(
    `SELECT m.id, m.store, m.key FROM deletion_claims c JOIN media m ON m.id = ANY(c.media_ids)
     WHERE c.token = $1 AND ${stillClaimed("m", "$1::uuid")} ORDER BY m.id`,
    [token],
  );
  return rows;
}

/** Hands a batch back unprocessed (deletions were paused after it was claimed), and ends its lease. */
export async function releaseBatch(pool: pg.Pool, token: string, reason: string): Promise<number> {
  const { rows } = await pool.query(
    `WITH ended AS (DELETE FROM deletion_claims WHERE token = $1 RETURNING media_ids),
     released AS (
       UPDATE media m SET state = 'ORPHANED', claim_token = NULL, claim_time = NULL, update_time = now(),
         orphan_time = coalesce(m.orphan_time, now())
       FROM ended WHERE m.id = ANY(ended.media_ids) AND ${stillClaimed("m", "$1::uuid")} RETURNING m.id
     ), events AS (
       INSERT INTO media_events (media_id, type, from_state, to_state, actor, reason)
       SELECT id, 'CLAIM_RELEASED', 'DELETING', 'ORPHANED', 'worker', $2 FROM released
     )
     SELECT count(*)::int AS n FROM released`,
    [token, reason],
  );
  return rows[0].n as number;
}
