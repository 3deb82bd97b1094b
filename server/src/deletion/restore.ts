import { randomUUID } from "node:crypto";
import type pg from "pg";
import type { MediaRow, MediaStateName } from "../db/schema.ts";
import { isUniqueViolation } from "../db/sql-errors.ts";
import { withTransaction } from "../db/transaction.ts";
import {
  formatStoreFailure,
  groupByStore,
  type MediaObject,
  type ObjectStore,
  type PlaceResult,
} from "../storage/object-store.ts";
import { stillClaimed } from "./claims.ts";
import { ClaimLease, type LeaseTiming } from "./lease.ts";
import { RESTORE_INTERRUPTED } from "./trash.ts";

// Restoring tombstones: the one way back from the trash, for RestoreMedia (the
// server) and bulk restores (the worker). A restore is a claim (kind
// 'restore') with a lease, like a deletion's, so no purge or erasure acts on
// the same tombstones meanwhile and a restorer that froze cannot act after
// its lease. In order:
//   1. claim the tombstones whose key no live media holds;
//   2. put a copy of each trashed file back at its key, never overwriting
//      (ObjectStore.placeFromTrash), inside the confirmed lease;
//   3. record the restored rows (ORPHANED with a fresh grace period, or
//      LINKED to the owner) in one transaction; a key registered again
//      meanwhile makes the row's update collide with the live media there,
//      and that row stays TRASHED;
//   4. drop the trashed copies of the restored media, inside the lease again,
//      and end the claim: only then are they schedulable again (they stay
//      claimed till here, so no deletion can trash them anew under the drop).
// A crash after 2 leaves the tombstone claimed until its lease expires; the
// sweep then holds it (trash.ts, RESTORE_INTERRUPTED), and a restore run again
// recognises its own copy at the key. A crash after 3 leaves trashed copies
// of live media behind: never acted on again except by that media's next
// trashing, which replaces them.

export interface RestoreRequest {
  /** Media ids, at most 1000 (one storage request per store). */
  readonly ids: readonly string[];
  /** Link to this owner as it is restored (LINKED); undefined: restore ORPHANED. */
  readonly owner: string | undefined;
  /** Who asked (the events' actor) and why. */
  readonly actor: string;
  readonly reason: string;
  /** The bulk action restoring them, for the events; undefined for RestoreMedia. */
  readonly bulkActionId: string | undefined;
  /** GRACE_PERIOD: an ORPHANED restore is due for deletion again this long from now. */
  readonly graceSeconds: number;
}

export type RestoreOutcome =
  | { readonly kind: "restored"; readonly media: MediaRow }
  | { readonly kind: "not_found" }
  /** Nothing changed; why says so (not TRASHED, busy, the key taken, no trashed copy). */
  | { readonly kind: "refused"; readonly why: string; readonly state: MediaStateName }
  /** The store could not put the file back; the media stays TRASHED, last_error says why. */
  | { readonly kind: "failed"; readonly why: string };

/** At most this many media per restoreMedia call. */
export const MAX_RESTORE_IDS = 1000;

interface Claimed extends MediaObject {
  readonly store: string;
}

/** Why a media was not claimed for a restore, from its row now. */
async function whyNotClaimed(pool: pg.Pool, ids: readonly string[]): Promise<Map<string, RestoreOutcome>> {
  const outcomes = new Map<string, RestoreOutcome>(ids.map((id) => [id, { kind: "not_found" }]));
  if (ids.length === 0) return outcomes;
  const { rows } = await pool.query<{
    id: string;
    state: MediaStateName;
    claimed: boolean;
    live_id: string | null;
    sibling_id: string | null;
  }>(
    `SELECT m.id, m.state, m.claim_token IS NOT NULL AS claimed,
       (SELECT l.id FROM media l WHERE l.store = m.store AND l.key = m.key AND l.trash_time IS NULL LIMIT 1) AS live_id,
       (SELECT o.id FROM media o WHERE o.store = m.store AND o.key = m.key AND o.id <> m.id
          AND o.trash_time IS NOT NULL AND o.claim_token IS NOT NULL LIMIT 1) AS sibling_id
     FROM media m WHERE m.id = ANY($1::bigint[])`,
    [ids],
  );
  for (const row of rows) {
    const why =
      row.state !== "TRASHED"
        ? `media is ${row.state}: only TRASHED media can be restored`
        : row.live_id !== null
          ? `its key is taken by media ${row.live_id}: nothing is overwritten; delete or move that media first`
          : row.claimed
            ? "media is being purged, restored or erased right now: try again in a moment"
            : row.sibling_id !== null
              ? `media ${row.sibling_id}, an older or newer media of the same key, is being restored: one key, one restore`
              : "media is locked by a concurrent change: try again";
    outcomes.set(row.id, { kind: "refused", why, state: row.state });
  }
  return outcomes;
}

/** The lock that makes restore claims one at a time, so that two never claim tombstones of one key. */
const RESTORE_CLAIM_LOCK = 7_236_211_881;

/**
 * Step 1: claims the given tombstones that are unclaimed and whose key no
 * live media holds and no other tombstone's restore has claimed, at most one
 * per key (the lowest id): two copies placed at one key at once could not both
 * be right, and on a store that cannot refuse an overwrite one would replace
 * the other.
 */
async function claimForRestore(pool: pg.Pool, ids: readonly string[], token: string, leaseSeconds: number) {
  return withTransaction(pool, async (client) => {
    await client.query("SELECT pg_advisory_xact_lock($1)", [RESTORE_CLAIM_LOCK]);
    const { rows } = await client.query<Claimed>(
      `WITH target AS (
         SELECT DISTINCT ON (m.store, m.key) m.id FROM media m
         WHERE m.id = ANY($1::bigint[]) AND m.state = 'TRASHED' AND m.claim_token IS NULL
           AND NOT EXISTS (SELECT 1 FROM media l WHERE l.store = m.store AND l.key = m.key AND l.trash_time IS NULL)
           AND NOT EXISTS (
             SELECT 1 FROM media o JOIN deletion_claims c ON c.token = o.claim_token AND c.kind = 'restore'
             WHERE o.store = m.store AND o.key = m.key AND o.id <> m.id)
         ORDER BY m.store, m.key, m.id
       ), locked AS (
         SELECT m.id FROM media m JOIN target USING (id) ORDER BY m.id FOR UPDATE OF m SKIP LOCKED
       ), claimed AS (
         UPDATE media m SET claim_token = $2, claim_time = now() FROM locked
         WHERE m.id = locked.id AND m.claim_token IS NULL
         RETURNING m.id, m.store, m.key
       ), lease AS (
         INSERT INTO deletion_claims (token, kind, lease_expire_time, media_ids)
         SELECT $2, 'restore', now() + make_interval(secs => $3), array_agg(id) FROM claimed HAVING count(*) > 0
       )
       SELECT id, store, key FROM claimed ORDER BY id`,
      [ids, token, leaseSeconds],
    );
    return rows;
  });
}

/** Step 2, for one store: puts the copies back, confirming the lease before each request. */
async function placeAll(store: ObjectStore, lease: ClaimLease, objects: readonly MediaObject[]): Promise<PlaceResult> {
  const placed = new Set<string>();
  const taken = new Map<string, string>();
  const gone = new Set<string>();
  const failed: PlaceResult["failed"] = new Map();
  let pending = [...objects];
  while (pending.length > 0) {
    const window = await lease.confirm();
    const result = await store.placeFromTrash(pending, window);
    for (const id of result.placed) placed.add(id);
    for (const [id, what] of result.taken) taken.set(id, what);
    for (const id of result.gone) gone.add(id);
    for (const [id, failure] of result.failed) failed.set(id, failure);
    const left = new Set(result.notAttempted);
    pending = pending.filter((o) => left.has(o.id));
  }
  return { placed, taken, gone, failed, notAttempted: [] };
}

/**
 * The UPDATE that makes one or more placed tombstones live again ($1 ids, $2
 * token, $3 owner, $4 grace, $5 actor, $6 reason, $7 bulk action, $8 the
 * interrupted restore's hold reason, lifted with an UNHELD event). They stay
 * claimed: a restored media must not be deleted again before its trashed
 * copy is dropped (SCHEDULED leaves claimed media out), or the drop would take
 * the new one.
 */
const RECORD_RESTORED = `WITH lifted AS (
       SELECT id FROM media m
       WHERE m.id = ANY($1::bigint[]) AND ${stillClaimed("m", "$2::uuid", "TRASHED")} AND m.hold_reason = $8
     ), restored AS (
       UPDATE media m SET
         state = (CASE WHEN $3::text IS NULL THEN 'ORPHANED' ELSE 'LINKED' END)::media_state,
         reference_count = CASE WHEN $3::text IS NULL THEN 0 ELSE 1 END,
         orphan_time = CASE WHEN $3::text IS NULL THEN now() END,
         delete_time = CASE WHEN $3::text IS NULL THEN now() + make_interval(secs => $4) END,
         trash_time = NULL, purge_time = NULL,
         delete_attempts = 0, last_error = NULL, update_time = now(),
         -- The hold an interrupted restore left has done its job once the restore is done.
         hold_reason = CASE WHEN m.hold_reason = $8 THEN NULL ELSE m.hold_reason END
       WHERE m.id = ANY($1::bigint[]) AND ${stillClaimed("m", "$2::uuid", "TRASHED")}
       RETURNING m.*
     ), refs AS (
       INSERT INTO media_references (media_id, owner) SELECT id, $3 FROM restored WHERE $3::text IS NOT NULL
     ), events AS (
       INSERT INTO media_events (media_id, type, from_state, to_state, owner, actor, reason, bulk_action_id)
       SELECT id, 'RESTORED', 'TRASHED'::media_state, state, $3, $5, $6, $7::bigint FROM restored
       UNION ALL
       SELECT r.id, 'UNHELD', r.state, r.state, NULL, $5, 'hold lifted: the interrupted restore is done', $7::bigint
       FROM restored r JOIN lifted USING (id)
     )
     SELECT * FROM restored`;

/** Step 3: records the restored rows; a row whose key was registered again meanwhile stays TRASHED. */
async function recordRestored(
  pool: pg.Pool,
  token: string,
  ids: readonly string[],
  request: RestoreRequest,
): Promise<{ restored: MediaRow[]; collided: string[] }> {
  const params = (some: readonly string[]) => [
    some,
    token,
    request.owner ?? null,
    request.graceSeconds,
    request.actor,
    request.reason,
    request.bulkActionId ?? null,
    RESTORE_INTERRUPTED,
  ];
  if (ids.length === 0) return { restored: [], collided: [] };
  try {
    const { rows } = await pool.query<MediaRow>(RECORD_RESTORED, params(ids));
    return { restored: rows, collided: [] };
  } catch (error) {
    if (!isUniqueViolation(error)) throw error;
  }
  // One at a time: the rows whose keys collide with a live media (the live-key index) are set apart.
  return withTransaction(pool, async (client) => {
    const restored: MediaRow[] = [];
    const collided: string[] = [];
    for (const id of ids) {
      await client.query("SAVEPOINT restore_row");
      try {
        restored.push(...(await client.query<MediaRow>(RECORD_RESTORED, params([id]))).rows);
        await client.query("RELEASE SAVEPOINT restore_row");
      } catch (error) {
        if (!isUniqueViolation(error)) throw error;
        await client.query("ROLLBACK TO SAVEPOINT restore_row");
        collided.push(id);
      }
    }
    return { restored, collided };
  });
}

/** Tombstones the restore did not restore: unclaimed again, with why in last_error when the store failed. */
async function unclaim(pool: pg.Pool, token: string, errors: ReadonlyMap<string, string | null>): Promise<void> {
  if (errors.size === 0) return;
  await pool.query(
    `UPDATE media m SET claim_token = NULL, claim_time = NULL, last_error = coalesce(e.error, m.last_error)
     FROM unnest($1::bigint[], $2::text[]) AS e(id, error)
     WHERE m.id = e.id AND ${stillClaimed("m", "$3::uuid", "TRASHED")}`,
    [[...errors.keys()], [...errors.values()], token],
  );
}

/**
 * Restores the given TRASHED media (at most MAX_RESTORE_IDS): each file back
 * at its key (never overwriting anything there) and each row ORPHANED with a
 * fresh grace period, or LINKED to request.owner. Returns an outcome per id.
 */
export async function restoreMedia(
  pool: pg.Pool,
  stores: ReadonlyMap<string, ObjectStore>,
  timing: LeaseTiming,
  request: RestoreRequest,
): Promise<Map<string, RestoreOutcome>> {
  if (request.ids.length > MAX_RESTORE_IDS) throw new Error(`at most ${MAX_RESTORE_IDS} media per restore`);
  const token = randomUUID();
  const claimed = await claimForRestore(pool, request.ids, token, timing.claimTimeoutSeconds);
  const claimedIds = new Set(claimed.map((c) => c.id));
  const outcomes = await whyNotClaimed(
    pool,
    request.ids.filter((id) => !claimedIds.has(id)),
  );
  if (claimed.length === 0) return outcomes;

  const lease = new ClaimLease(pool, token, timing);
  const placed: string[] = [];
  const notRestored = new Map<string, string | null>();
  for (const [storeName, group] of groupByStore(claimed)) {
    const store = stores.get(storeName);
    if (store === undefined) {
      for (const c of group) {
        const why = `STORE_NOT_CONFIGURED: store "${storeName}" is not configured here`;
        outcomes.set(c.id, { kind: "failed", why });
        notRestored.set(c.id, why);
      }
      continue;
    }
    const result = await placeAll(store, lease, group);
    for (const c of group) {
      const failure = result.failed.get(c.id);
      const taken = result.taken.get(c.id);
      if (result.placed.has(c.id)) placed.push(c.id);
      else if (failure !== undefined) {
        const why = formatStoreFailure(failure);
        outcomes.set(c.id, { kind: "failed", why });
        notRestored.set(c.id, `RESTORE_FAILED: ${why}`);
      } else {
        const why =
          taken !== undefined
            ? `its key is taken (${taken}): nothing is overwritten; move that file away first`
            : "its trashed file is gone (it was missing when trashed, or purged): nothing to restore";
        outcomes.set(c.id, { kind: "refused", why, state: "TRASHED" });
        notRestored.set(c.id, null);
      }
    }
  }

  const { restored, collided } = await recordRestored(pool, token, placed, request);
  for (const row of restored) outcomes.set(row.id, { kind: "restored", media: row });
  const recorded = new Set([...restored.map((r) => r.id), ...collided]);
  for (const id of placed.filter((p) => !recorded.has(p))) {
    // Its claim was settled meanwhile (the lease expired): the tombstone is held, saying so.
    outcomes.set(id, {
      kind: "refused",
      why: "the restore took longer than its lease and was taken back: the media is held as interrupted; restore it again",
      state: "TRASHED",
    });
  }
  for (const id of collided) {
    outcomes.set(id, {
      kind: "refused",
      why: "its key was registered again while it was being restored: nothing is overwritten",
      state: "TRASHED",
    });
    notRestored.set(id, null);
  }
  await unclaim(pool, token, notRestored);

  // Step 4: the trashed copies of what is live again, inside the lease.
  const restoredIds = new Set(restored.map((r) => r.id));
  for (const [storeName, group] of groupByStore(claimed.filter((c) => restoredIds.has(c.id)))) {
    const store = stores.get(storeName) as ObjectStore;
    let pending = group.map((c) => c.id);
    while (pending.length > 0) {
      const window = await lease.confirm();
      pending = [...(await store.dropFromTrash(pending, window)).notAttempted];
    }
  }
  // Last: the restored media become schedulable again, and the claim ends.
  await withTransaction(pool, async (client) => {
    await client.query(
      `UPDATE media SET claim_token = NULL, claim_time = NULL WHERE id = ANY($1::bigint[]) AND claim_token = $2`,
      [[...restoredIds], token],
    );
    await client.query("DELETE FROM deletion_claims WHERE token = $1", [token]);
  });
  return outcomes;
}
