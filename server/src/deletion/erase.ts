import { randomUUID } from "node:crypto";
import type pg from "pg";
import type { MediaStateName } from "../db/schema.ts";
import { withTransaction } from "../db/transaction.ts";
import { formatStoreFailure, type ObjectStore, type StoreFailure } from "../storage/object-store.ts";
import { ClaimLease, type LeaseTiming } from "./lease.ts";

// Urgent erasure (a legal request): the one path that skips the grace period
// and the trash. It runs in the caller's request, as a claim (kind 'erase')
// with a lease like a deletion's, so no worker, purge or restore acts on the
// same media meanwhile, and storage is touched only inside the confirmed lease:
//   1. one transaction: lock the media; refuse held ones (a hold is a legal
//      hold and wins), ones a worker has claimed and unknown ids; claim the
//      rest (live media become DELETING, so Link fails from here on;
//      tombstones stay TRASHED, their key may belong to a new media), remove
//      their references and redact the owner names in their events;
//   2. delete each live media's file at its key (only the file noted, as a
//      deletion does) and every trashed copy;
//   3. ask the store again where each object is (stat, HEAD);
//   4. one transaction: delete the rows whose objects are verifiably gone
//      (ERASED events); the others become FAILED (live) or stay TRASHED due
//      for purging now (tombstones), with last_error, and an ERASE_FAILED event.
// An erasure interrupted after 1 is settled by the sweep once its lease
// expires (trash.ts, ERASE_INTERRUPTED).

export type ErasureOutcome =
  | { readonly kind: "erased"; readonly store: string; readonly key: string; readonly eraseTime: Date }
  | { readonly kind: "refused"; readonly why: string; readonly store: string; readonly key: string }
  | { readonly kind: "failed"; readonly why: string; readonly store: string; readonly key: string };

/** At most this many media per eraseMedia call. */
export const MAX_ERASE_IDS = 1000;

export interface EraseRequest {
  readonly ids: readonly string[];
  readonly actor: string;
  readonly reason: string;
}

interface Target {
  readonly id: string;
  readonly store: string;
  readonly key: string;
  readonly state: MediaStateName;
  readonly hold_reason: string | null;
  readonly claim_token: string | null;
}

/** Step 1. Returns the claimed media (with the state each was in) and the refusals. */
async function claimForErasure(
  pool: pg.Pool,
  request: EraseRequest,
  token: string,
  leaseSeconds: number,
): Promise<{ claimed: Target[]; outcomes: Map<string, ErasureOutcome> }> {
  return withTransaction(pool, async (client) => {
    const { rows } = await client.query<Target>(
      "SELECT id, store, key, state, hold_reason, claim_token FROM media WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE",
      [request.ids],
    );
    const outcomes = new Map<string, ErasureOutcome>();
    for (const id of request.ids) {
      outcomes.set(id, { kind: "refused", why: "no such media (never registered, or already deleted)", store: "", key: "" });
    }
    const claimed: Target[] = [];
    for (const row of rows) {
      const why =
        row.hold_reason !== null
          ? `media is held (${row.hold_reason}): a hold is a legal hold and wins; release it first`
          : row.claim_token !== null
            ? `media is ${row.state === "DELETING" ? "being deleted by a worker" : "being purged or restored"} right now: try again in a minute`
            : undefined;
      if (why === undefined) claimed.push(row);
      else outcomes.set(row.id, { kind: "refused", why, store: row.store, key: row.key });
    }
    if (claimed.length === 0) return { claimed, outcomes };
    const ids = claimed.map((c) => c.id);
    await client.query("DELETE FROM media_references WHERE media_id = ANY($1::bigint[])", [ids]);
    await client.query(
      `UPDATE media SET
         state = (CASE WHEN state = 'TRASHED' THEN 'TRASHED' ELSE 'DELETING' END)::media_state,
         reference_count = 0, claim_token = $2, claim_time = now(), update_time = now()
       WHERE id = ANY($1::bigint[])`,
      [ids, token],
    );
    // The erased owner names leave the audit log (the trigger allows exactly this change).
    await client.query("UPDATE media_events SET owner = NULL WHERE media_id = ANY($1::bigint[]) AND owner IS NOT NULL", [
      ids,
    ]);
    await client.query(
      `INSERT INTO media_events (media_id, type, from_state, to_state, actor, reason)
       SELECT m.id, 'CLAIMED', t.state, m.state, $2, 'erasure requested: ' || $3
       FROM media m JOIN unnest($1::bigint[], $4::media_state[]) AS t(id, state) ON t.id = m.id`,
      [ids, request.actor, request.reason, claimed.map((c) => c.state)],
    );
    await client.query(
      `INSERT INTO deletion_claims (token, kind, lease_expire_time, media_ids)
       VALUES ($1, 'erase', now() + make_interval(secs => $2), $3::bigint[])`,
      [token, leaseSeconds, ids],
    );
    return { claimed, outcomes };
  });
}

/** Step 2, for one store: live files at their keys, and every trashed copy, inside the lease. */
async function deleteAll(
  store: ObjectStore,
  lease: ClaimLease,
  group: readonly Target[],
  failures: Map<string, StoreFailure>,
): Promise<void> {
  const live = group.filter((t) => t.state !== "TRASHED");
  const idOfKey = new Map(live.map((t) => [t.key, t.id]));
  const noted = await store.note(live.map((t) => t.key));
  let keys = live.map((t) => t.key);
  while (keys.length > 0) {
    const result = await store.deleteMany(keys, await lease.confirm(), noted);
    for (const [key, failure] of result.failed) failures.set(idOfKey.get(key) as string, failure);
    keys = [...result.notAttempted];
  }
  let ids = group.map((t) => t.id);
  while (ids.length > 0) {
    const result = await store.dropFromTrash(ids, await lease.confirm());
    for (const [id, failure] of result.failed) if (!failures.has(id)) failures.set(id, failure);
    ids = [...result.notAttempted];
  }
}

/** Step 4: the rows erased, and those that could not be. */
async function recordErasure(
  pool: pg.Pool,
  token: string,
  request: EraseRequest,
  erased: readonly string[],
  failed: ReadonlyMap<string, string>,
): Promise<Date> {
  return withTransaction(pool, async (client) => {
    const { rows } = await client.query<{ now: Date }>("SELECT now()");
    await client.query(
      `WITH gone AS (
         DELETE FROM media WHERE id = ANY($1::bigint[]) AND claim_token = $2 RETURNING id, state
       )
       INSERT INTO media_events (media_id, type, from_state, actor, reason)
       SELECT id, 'ERASED', state, $3, 'erased: ' || $4 FROM gone`,
      [erased, token, request.actor, request.reason],
    );
    await client.query(
      `WITH f AS (SELECT * FROM unnest($1::bigint[], $2::text[]) AS f(id, error)),
       updated AS (
         UPDATE media m SET
           state = (CASE WHEN m.state = 'TRASHED' THEN 'TRASHED' ELSE 'FAILED' END)::media_state,
           purge_time = CASE WHEN m.state = 'TRASHED' THEN now() END,
           delete_time = NULL, last_error = left(f.error, 2000), claim_token = NULL, claim_time = NULL, update_time = now()
         FROM f WHERE m.id = f.id AND m.claim_token = $3
         RETURNING m.id, m.state, f.error
       )
       INSERT INTO media_events (media_id, type, from_state, to_state, actor, reason)
       SELECT id, 'ERASE_FAILED', CASE WHEN state = 'TRASHED' THEN 'TRASHED' ELSE 'DELETING' END::media_state,
         state, $4, left(error, 2000) FROM updated`,
      [[...failed.keys()], [...failed.values()], token, request.actor],
    );
    await client.query("DELETE FROM deletion_claims WHERE token = $1", [token]);
    return rows[0]?.now ?? new Date();
  });
}

/**
 * Erases the given media (at most MAX_ERASE_IDS) now, as described above, and
 * answers an outcome per id: erased (the objects checked gone), refused (not
 * touched, and why) or failed (references removed, a file not verifiably
 * gone: FAILED or a tombstone due for purging, with last_error; call again).
 */
export async function eraseMedia(
  pool: pg.Pool,
  stores: ReadonlyMap<string, ObjectStore>,
  timing: LeaseTiming,
  request: EraseRequest,
): Promise<Map<string, ErasureOutcome>> {
  if (request.ids.length > MAX_ERASE_IDS) throw new Error(`at most ${MAX_ERASE_IDS} media per erasure`);
  const token = randomUUID();
  const { claimed, outcomes } = await claimForErasure(pool, request, token, timing.claimTimeoutSeconds);
  if (claimed.length === 0) return outcomes;
  const lease = new ClaimLease(pool, token, timing);
  const failures = new Map<string, string>();
  const erased: string[] = [];
  const groups = new Map<string, Target[]>();
  for (const t of claimed) groups.set(t.store, [...(groups.get(t.store) ?? []), t]);
  for (const [storeName, group] of groups) {
    const store = stores.get(storeName);
    if (store === undefined) {
      for (const t of group) failures.set(t.id, `STORE_NOT_CONFIGURED: store "${storeName}" is not configured here`);
      continue;
    }
    const storeFailures = new Map<string, StoreFailure>();
    await deleteAll(store, lease, group, storeFailures);
    const places = await store.locate(group);
    for (const t of group) {
      const failure = storeFailures.get(t.id);
      const place = places.get(t.id);
      // A tombstone's key may hold a new media's file: only its trashed copy must be gone.
      const stillThere = place === undefined || place.inTrash || (t.state !== "TRASHED" && place.atKey);
      if (failure !== undefined) failures.set(t.id, `ERASE_FAILED: ${formatStoreFailure(failure)}`);
      else if (stillThere) failures.set(t.id, "ERASE_FAILED: the file was still there when checked after deleting it");
      else erased.push(t.id);
    }
  }
  const eraseTime = await recordErasure(pool, token, request, erased, failures);
  for (const t of claimed) {
    const why = failures.get(t.id);
    outcomes.set(
      t.id,
      why === undefined
        ? { kind: "erased", store: t.store, key: t.key, eraseTime }
        : { kind: "failed", why, store: t.store, key: t.key },
    );
  }
  return outcomes;
}
