import { randomUUID } from "node:crypto";
import type pg from "pg";
import { DUE_NOW, SCHEDULED } from "./due.ts";
import { type ClaimTask, enqueueClaimJob, jobTraceParameter, TASKS } from "./jobs.ts";
import { HEARTBEAT_INTERVAL_SECONDS } from "./runs.ts";

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
 * `tokenSql`, in `state` (DELETING for a deletion's claim, TRASHED for a
 * purge's or a restore's). Written so that no index on state or claim_token
 * can serve it, and every statement using it finds its rows by primary key
 * (the claim's media_ids): a mass claim leaves the statistics believing almost
 * nothing is DELETING, and plans built on that belief scanned every DELETING
 * row, hundreds of milliseconds per statement at a million.
 */
export const stillClaimed = (alias: string, tokenSql: string, state: "DELETING" | "TRASHED" = "DELETING"): string =>
  `${alias}.claim_token IS NOT DISTINCT FROM ${tokenSql} AND ${alias}.state IS NOT DISTINCT FROM '${state}'`;

/**
 * Where a sweep's previous claim ended, in the claim's order: (delete_time,
 * id) for deletions, (purge_time, id) for purges; the time as text keeps microseconds.
 */
export interface ClaimCursor {
  readonly time: string;
  readonly id: string;
}

export interface ClaimResult {
  readonly claimed: number;
  /** Continue the next claim after this; undefined when nothing was due. */
  readonly cursor: ClaimCursor | undefined;
}

/**
 * SQL column that enqueues the delete_batch job of the claim token in
 * `tokenSql` when the count in `countSql` is above 0, continuing the trace in
 * `traceSql` (jobTraceParameter's value: the sweep's). It is there for its side
 * effect only: nothing reads the column, and its value says nothing about the
 * job (a row-valued IS NOT NULL is false as soon as any field of the row is
 * null, and a job fresh from add_job has null fields, locked_at for one).
 */
export const enqueueColumn = (
  tokenSql: string,
  countSql: string,
  traceSql: string,
  task: ClaimTask = TASKS.deleteBatch,
) => `(SELECT ${enqueueClaimJob(task, tokenSql, traceSql)} WHERE ${countSql} > 0) IS NOT NULL AS enqueued_job`;

/**
 * The one claim statement, which claimDueBatch and claimMedia differ in only
 * by which rows `due` selects, who the CLAIMED events name (`event`: SQL
 * expressions) and whether the job is enqueued. `due` returns
 * (id, state, delete_time) of the rows to claim, each unheld PENDING or
 * ORPHANED (SCHEDULED or narrower), locked FOR UPDATE SKIP LOCKED; $2 is the
 * claim's token, $3 its lease in seconds, `due` has $1, $4 and on for its
 * own, and with enqueue $6 is the trace the job continues (jobTraceParameter).
 * The rows are marked DELETING with the token, unless a reference row
 * exists (re-checked here whatever the counter says); each gets a CLAIMED
 * event; the claim gets its lease row and, with enqueue, one delete_batch job
 * (graphile_worker.add_job, so without enqueue the statement runs on a
 * database that has no graphile_worker schema yet). It answers one row: n
 * claimed, the last row `due` read in (delete_time, id) order (a sweep's
 * cursor) and the ids claimed (null when none).
 */
function claimStatement(due: string, event: { actor: string; reason: string }, enqueue: boolean): string {
  return `WITH due AS (
       ${due}
     ), claimed AS (
       UPDATE media m SET state = 'DELETING', claim_token = $2, claim_time = now(), update_time = now()
       FROM due
       WHERE m.id = due.id AND m.reference_count = 0
         AND NOT EXISTS (SELECT 1 FROM media_references r WHERE r.media_id = m.id)
       RETURNING m.id, due.state AS from_state, m.store
     ), events AS (
       INSERT INTO media_events (media_id, type, from_state, to_state, actor, reason, store)
       SELECT id, 'CLAIMED', from_state, 'DELETING', ${event.actor}, ${event.reason}, store FROM claimed
     ), counted AS (SELECT count(*)::int AS n FROM claimed),
     lease AS (
       INSERT INTO deletion_claims (token, lease_expire_time, media_ids)
       SELECT $2, now() + make_interval(secs => $3), array_agg(id) FROM claimed HAVING count(*) > 0
       RETURNING media_ids
     ),
     last AS (SELECT delete_time::text AS delete_time, id FROM due ORDER BY delete_time DESC, id DESC LIMIT 1)
     SELECT n, last.delete_time, last.id, (SELECT media_ids FROM lease) AS media_ids${
       enqueue ? `, ${enqueueColumn("$2", "n", "$6")}` : ""
     }
     FROM counted LEFT JOIN last ON true`;
}

/** claimDueBatch's statement: the head of the due order, after the cursor ($4, $5) if any. */
const CLAIM_DUE_BATCH = claimStatement(
  `SELECT id, state, delete_time FROM media
       WHERE ${DUE_NOW} AND ($4::timestamptz IS NULL OR (delete_time, id) > ($4::timestamptz, $5::bigint))
       ORDER BY delete_time, id LIMIT $1
       FOR UPDATE SKIP LOCKED`,
  { actor: "'worker'", reason: "'due for deletion'" },
  true,
);

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
  const { rows } = await pool.query(CLAIM_DUE_BATCH, [
    batchSize,
    randomUUID(),
    leaseSeconds,
    after?.time ?? null,
    after?.id ?? null,
    jobTraceParameter(),
  ]);
  const row = rows[0];
  return {
    claimed: row.n as number,
    cursor: row.id === null ? undefined : { time: row.delete_time, id: row.id },
  };
}

/** Claims a sweep keeps waiting at most, per job slot of the live workers other than its own. */
export const CLAIMS_AHEAD_PER_SLOT = 4;
/** The bound however few those slots: a default worker's (four slots) worth. */
export const CLAIMS_AHEAD_MIN = 4 * CLAIMS_AHEAD_PER_SLOT;

/**
 * Whether a sweep may claim another batch: fewer deletion and purge claims are
 * outstanding (claimed, not yet finished) than CLAIMS_AHEAD_PER_SLOT times the
 * job slots of the live workers (their WORKER_CONCURRENCY, heartbeat within
 * three intervals) less the one the sweep itself runs in, and at least
 * CLAIMS_AHEAD_MIN. With no other slot (one worker of concurrency 1, or no
 * heartbeat yet) there is always room: no job could make any while the sweep
 * waits. Claiming far ahead of the jobs gains nothing: the media wait DELETING
 * (refusing links) for longer, and a lease can run out before its job starts
 * (the claim is taken back, its work wasted). Measured, it also cost time: the
 * direct delete of 1,000,000 files with half of them claimed ahead was slower
 * than bounded (docs/performance.md).
 */
export async function hasClaimRoom(pool: pg.Pool): Promise<boolean> {
  const { rows } = await pool.query<{ room: boolean }>(
    `WITH live AS (
       SELECT coalesce(sum(concurrency), 0) - 1 AS other_slots FROM worker_heartbeats
       WHERE last_seen_at >= now() - make_interval(secs => $3)
     )
     SELECT other_slots <= 0
       OR (SELECT count(*) FROM deletion_claims WHERE kind IN ('delete', 'purge'))
         < greatest($1::bigint, $2 * other_slots) AS room
     FROM live`,
    [CLAIMS_AHEAD_MIN, CLAIMS_AHEAD_PER_SLOT, 3 * HEARTBEAT_INTERVAL_SECONDS],
  );
  return rows[0]?.room === true;
}

/**
 * Whether a sweep newer than the sweep job `jobId` is running (one the crontab
 * or RunSweep queued while this one ran). A sweep at its claim bound then gives
 * way to it instead of waiting beside it, so sweeps never pile up in the job
 * slots the batches need; the newest carries on, and a sweep job left locked
 * by a worker that died is older than any that follow, so it holds none up.
 */
export async function newerSweepRunning(pool: pg.Pool, jobId: string): Promise<boolean> {
  const { rows } = await pool.query<{ newer: boolean }>(
    `SELECT EXISTS (
       SELECT 1 FROM graphile_worker.jobs j JOIN graphile_worker.jobs me ON me.id = $2::bigint
       WHERE j.task_identifier = $1 AND j.id <> me.id AND j.locked_at > me.locked_at
     ) AS newer`,
    [TASKS.sweep, jobId],
  );
  return rows[0]?.newer === true;
}

/** What claimMedia claimed. */
export interface MediaClaim {
  /** The claim's token (its lease row's and its media's); names no claim when nothing was claimed. */
  readonly token: string;
  /** The ids claimed, ascending; the others were not claimable, or were locked. */
  readonly claimed: string[];
}

/** claimMedia's statement: the given ids ($1) that are SCHEDULED, in ascending id order; the event's actor and reason $4, $5. */
const CLAIM_MEDIA = claimStatement(
  `SELECT id, state, delete_time FROM media
       WHERE id = ANY($1::bigint[]) AND ${SCHEDULED}
       ORDER BY id
       FOR UPDATE SKIP LOCKED`,
  { actor: "$4", reason: "$5" },
  false,
);

/**
 * Claims the given media now, whatever their delete_time, in claimDueBatch's
 * own statement: only rows a sweep could ever claim (unheld PENDING or
 * ORPHANED with no reference row), locked in ascending id order and skipping
 * any another transaction holds, each marked DELETING with one fresh token and
 * a CLAIMED event naming `event`'s actor and reason, the claim with a lease of
 * leaseSeconds from now (negative: already expired). Ids that are not
 * claimable (held, linked, DELETING, FAILED, missing) are left out of `claimed`.
 *
 * The one rule of the sweep's it skips is that the media be due, so it never
 * enqueues a delete_batch job (and runs on a database whose job queue does not
 * exist yet): it is for tools acting on media they own (the demo seed), never
 * for the sweep. The caller confirms the lease (ClaimLease) before any storage
 * call of its own and ends the claim (finishBatch, releaseBatch), or leaves it
 * to a sweep to take back once the lease expires.
 */
export async function claimMedia(
  pool: pg.Pool,
  ids: readonly string[],
  leaseSeconds: number,
  event: { readonly actor: string; readonly reason: string },
): Promise<MediaClaim> {
  const token = randomUUID();
  const { rows } = await pool.query(CLAIM_MEDIA, [ids, token, leaseSeconds, event.actor, event.reason]);
  const claimed = (rows[0].media_ids as string[] | null) ?? [];
  return { token, claimed: claimed.sort((a, b) => Number(BigInt(a) - BigInt(b))) };
}

export interface Reclaimed {
  /** An expired lease was found (false: none is left). */
  readonly found: boolean;
  /** Its media still DELETING, now under a fresh token with a new lease and job. */
  readonly media: number;
}

/**
 * Takes back one deletion's claim whose lease expired (its job died, hung, or
 * was stopped): its media get a fresh token, a new lease and a new job. (The
 * other kinds of claim are settled by settleExpiredClaims, trash.ts.) They stay
 * DELETING throughout, so Link keeps failing; the old job, if it ever wakes
 * up, can neither renew the old lease nor change a row under the old token.
 */
export async function reclaimExpiredClaim(pool: pg.Pool, leaseSeconds: number): Promise<Reclaimed> {
  const { rows } = await pool.query(
    `WITH expired AS (
       SELECT token FROM deletion_claims WHERE lease_expire_time < now() AND kind = 'delete'
       ORDER BY lease_expire_time LIMIT 1 FOR UPDATE SKIP LOCKED
     ), dropped AS (
       DELETE FROM deletion_claims c USING expired WHERE c.token = expired.token RETURNING c.token, c.media_ids
     ), moved AS (
       UPDATE media m SET claim_token = $1, claim_time = now(), update_time = now()
       FROM dropped WHERE m.id = ANY(dropped.media_ids) AND ${stillClaimed("m", "dropped.token")}
       RETURNING m.id, m.store
     ), events AS (
       INSERT INTO media_events (media_id, type, from_state, to_state, actor, reason, store)
       SELECT id, 'CLAIMED', 'DELETING', 'DELETING', 'worker', 'reclaimed: the previous lease expired', store FROM moved
     ), counted AS (SELECT (SELECT count(*) FROM dropped)::int AS found, (SELECT count(*) FROM moved)::int AS n),
     lease AS (
       INSERT INTO deletion_claims (token, lease_expire_time, media_ids)
       SELECT $1, now() + make_interval(secs => $2), array_agg(id) FROM moved HAVING count(*) > 0
     )
     SELECT found, n, ${enqueueColumn("$1", "n", "$3")} FROM counted`,
    [randomUUID(), leaseSeconds, jobTraceParameter()],
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

/** The files still claimed with this token in `state` (none when the claim is gone). */
export async function claimedFiles(
  pool: pg.Pool,
  token: string,
  state: "DELETING" | "TRASHED" = "DELETING",
): Promise<ClaimedFile[]> {
  const { rows } = await pool.query(
    `SELECT m.id, m.store, m.key FROM deletion_claims c JOIN media m ON m.id = ANY(c.media_ids)
     WHERE c.token = $1 AND ${stillClaimed("m", "$1::uuid", state)} ORDER BY m.id`,
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
       FROM ended WHERE m.id = ANY(ended.media_ids) AND ${stillClaimed("m", "$1::uuid")} RETURNING m.id, m.store
     ), events AS (
       INSERT INTO media_events (media_id, type, from_state, to_state, actor, reason, store)
       SELECT id, 'CLAIM_RELEASED', 'DELETING', 'ORPHANED', 'worker', $2, store FROM released
     )
     SELECT count(*)::int AS n FROM released`,
    [token, reason],
  );
  return rows[0].n as number;
}
