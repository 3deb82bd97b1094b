import { randomUUID } from "node:crypto";
import type pg from "pg";
import { type ClaimCursor, type ClaimResult, enqueueColumn, stillClaimed } from "./claims.ts";
import { PURGE_DUE_NOW } from "./due.ts";
import { jobTraceParameter, TASKS } from "./jobs.ts";

// The trash's claims. A purge claims TRASHED tombstones whose purge_time has
// passed (a lease row of kind 'purge' and one purge_batch job, like a
// deletion's claim); restores and erasures claim the media they act on
// (restore.ts, erase.ts). A claimed tombstone keeps its state: its
// claim_token alone keeps every other purge, restore and erasure off it.

/** The reason an interrupted restore's hold gives (see settleExpiredClaims). */
export const RESTORE_INTERRUPTED =
  "restore interrupted before it was recorded: a copy of the file may be at its key. " +
  "Restore it again (the restore recognises its own copy), or release this hold to let it be purged";

/** claimPurgeBatch's statement: due tombstones after the cursor ($4, $5), locked SKIP LOCKED. */
const CLAIM_PURGE_BATCH = `WITH due AS (
       SELECT id, purge_time FROM media
       WHERE ${PURGE_DUE_NOW} AND ($4::timestamptz IS NULL OR (purge_time, id) > ($4::timestamptz, $5::bigint))
       ORDER BY purge_time, id LIMIT $1
       FOR UPDATE SKIP LOCKED
     ), claimed AS (
       UPDATE media m SET claim_token = $2, claim_time = now() FROM due WHERE m.id = due.id RETURNING m.id
     ), counted AS (SELECT count(*)::int AS n FROM claimed),
     lease AS (
       INSERT INTO deletion_claims (token, kind, lease_expire_time, media_ids)
       SELECT $2, 'purge', now() + make_interval(secs => $3), array_agg(id) FROM claimed HAVING count(*) > 0
     ),
     last AS (SELECT purge_time::text AS purge_time, id FROM due ORDER BY purge_time DESC, id DESC LIMIT 1)
     SELECT n, last.purge_time, last.id, ${enqueueColumn("$2", "n", "$6", TASKS.purgeBatch)}
     FROM counted LEFT JOIN last ON true`;

/**
 * Claims up to batchSize tombstones due for purging (unheld, unclaimed,
 * purge_time passed) in purge_time order after the cursor, with a lease of
 * leaseSeconds and one purge_batch job, in one statement. No event: the
 * purge's PURGED event says it all.
 */
export async function claimPurgeBatch(
  pool: pg.Pool,
  batchSize: number,
  leaseSeconds: number,
  after?: ClaimCursor,
): Promise<ClaimResult> {
  const { rows } = await pool.query(CLAIM_PURGE_BATCH, [
    batchSize,
    randomUUID(),
    leaseSeconds,
    after?.time ?? null,
    after?.id ?? null,
    jobTraceParameter(),
  ]);
  const row = rows[0];
  return { claimed: row.n as number, cursor: row.id === null ? undefined : { time: row.purge_time, id: row.id } };
}

/** Hands a purge back unprocessed (deletions were paused after it was claimed), and ends its lease. */
export async function releasePurge(pool: pg.Pool, token: string): Promise<number> {
  const { rows } = await pool.query(
    `WITH ended AS (DELETE FROM deletion_claims WHERE token = $1 RETURNING media_ids),
     released AS (
       UPDATE media m SET claim_token = NULL, claim_time = NULL
       FROM ended WHERE m.id = ANY(ended.media_ids) AND ${stillClaimed("m", "$1::uuid", "TRASHED")} RETURNING m.id
     )
     SELECT count(*)::int AS n FROM released`,
    [token],
  );
  return rows[0].n as number;
}

/** What settleExpiredClaims did, in media. */
export interface SettledClaims {
  /** Claims found (0: none is left). */
  readonly claims: number;
  readonly purges: number;
  readonly restores: number;
  readonly erasures: number;
}

/**
 * Settles up to 100 claims of purges, restores and erasures whose lease
 * expired (the process working on them died or froze): their media are
 * freed, and left where nothing is lost.
 * - A purge's tombstones become unclaimed again; the next sweep claims them anew.
 * - A restore's tombstones stay TRASHED, held (RESTORE_INTERRUPTED): the restore
 *   may have put a copy at the key already, which a purge would then orphan.
 *   Its media already restored (recorded, their trashed copy not yet dropped)
 *   only lose the claim: their trashed copies stay behind.
 * - An erasure's live media (DELETING) become FAILED with last_error
 *   ERASE_INTERRUPTED, its tombstones are due for purging now; either way,
 *   their references are gone already (the erasure removed them first).
 */
export async function settleExpiredClaims(pool: pg.Pool): Promise<SettledClaims> {
  const { rows } = await pool.query(
    `WITH expired AS (
       SELECT token FROM deletion_claims WHERE lease_expire_time < now() AND kind <> 'delete'
       ORDER BY lease_expire_time LIMIT 100 FOR UPDATE SKIP LOCKED
     ), dropped AS (
       DELETE FROM deletion_claims c USING expired WHERE c.token = expired.token
       RETURNING c.token, c.kind, c.media_ids
     ), tombstones AS (
       UPDATE media m SET claim_token = NULL, claim_time = NULL, update_time = now(),
         hold_reason = CASE WHEN d.kind = 'restore' THEN coalesce(m.hold_reason, $1) ELSE m.hold_reason END,
         purge_time = CASE WHEN d.kind = 'erase' THEN least(m.purge_time, now()) ELSE m.purge_time END,
         last_error = CASE WHEN d.kind = 'erase' THEN $2 ELSE m.last_error END
       FROM dropped d WHERE m.id = ANY(d.media_ids) AND ${stillClaimed("m", "d.token", "TRASHED")}
       RETURNING m.id, d.kind, m.hold_reason = $1 AS held_here
     ), erased AS (
       UPDATE media m SET state = 'FAILED', claim_token = NULL, claim_time = NULL, delete_time = NULL,
         last_error = $2, update_time = now()
       FROM dropped d WHERE d.kind = 'erase' AND m.id = ANY(d.media_ids) AND ${stillClaimed("m", "d.token")}
       RETURNING m.id
     ), restored AS (
       -- Restored and recorded, its trashed copy not yet dropped: live, only the claim to end.
       UPDATE media m SET claim_token = NULL, claim_time = NULL
       FROM dropped d WHERE d.kind = 'restore' AND m.id = ANY(d.media_ids) AND m.claim_token = d.token
         AND m.state <> 'TRASHED'
       RETURNING m.id
     ), events AS (
       INSERT INTO media_events (media_id, type, from_state, to_state, actor, reason)
       SELECT id, 'HELD', 'TRASHED'::media_state, 'TRASHED'::media_state, 'worker', $1 FROM tombstones
       WHERE kind = 'restore' AND held_here
       UNION ALL
       SELECT id, 'ERASE_FAILED', 'TRASHED', 'TRASHED', 'worker', $2 FROM tombstones WHERE kind = 'erase'
       UNION ALL
       SELECT id, 'ERASE_FAILED', 'DELETING'::media_state, 'FAILED'::media_state, 'worker', $2 FROM erased
     )
     SELECT (SELECT count(*) FROM dropped)::int AS claims,
       (SELECT count(*) FROM tombstones WHERE kind = 'purge')::int AS purges,
       ((SELECT count(*) FROM tombstones WHERE kind = 'restore') + (SELECT count(*) FROM restored))::int AS restores,
       ((SELECT count(*) FROM tombstones WHERE kind = 'erase') + (SELECT count(*) FROM erased))::int AS erasures`,
    [RESTORE_INTERRUPTED, ERASE_INTERRUPTED],
  );
  return rows[0];
}

/** last_error of an erasure that stopped before it was recorded. */
export const ERASE_INTERRUPTED =
  "ERASE_INTERRUPTED: the erasure stopped before it was recorded (its references are removed); call EraseMedia again";
