import { randomUUID } from "node:crypto";
import type pg from "pg";
import type { ClaimKind, MediaStateName } from "../db/schema.ts";
import { withTransaction } from "../db/transaction.ts";
import { formatStoreFailure, groupByStore, type ObjectStore, type StoreFailure } from "../storage/object-store.ts";
import { ClaimLease, type LeaseTiming } from "./lease.ts";

// Urgent erasure (a legal request): the one path that skips the grace period
// and the trash. It runs in the caller's request, as a claim (kind 'erase')
// with a lease like a deletion's, so no worker, purge or restore acts on the
// same media meanwhile, and storage is touched only inside the confirmed lease:
//   1. one transaction: lock the media; refuse held ones (a hold is a legal
//      hold and wins), ones another claim holds and unknown ids; by owner,
//      leave media other owners still reference (only the owner's reference
//      goes); claim the rest (live media become DELETING, so Link fails from
//      here on; tombstones stay TRASHED, their key may belong to a new media),
//      remove their references and redact the owner names in their events;
//   2. a tombstone whose key no live media holds but where a file is (the
//      copy an interrupted restore left there, or someone's upload: the store
//      cannot tell) is handed back, refused: erasing only its trashed copy
//      would report gone what is not;
//   3. delete each live media's file at its key (only the file noted, as a
//      deletion does) and every trashed copy, then ask the store again where
//      each object is (stat, HEAD);
//   4. one transaction: delete the rows whose objects are verifiably gone
//      (ERASED events); the others become FAILED (live) or stay TRASHED due
//      for purging now (tombstones), with last_error and an ERASE_FAILED event.
//      By owner, the last call (nothing remaining) redacts the owner's name
//      from every event and bulk action left.
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
  /** Set for an erasure by owner: media other owners still reference are kept (its reference removed). */
  readonly owner: string | undefined;
  /**
   * By owner: no media of the owner is left after these. If none of them is
   * refused for a hold or a claim, the owner's name is then redacted everywhere.
   */
  readonly last: boolean;
  readonly actor: string;
  readonly reason: string;
}

interface Target {
  readonly id: string;
  readonly store: string;
  readonly key: string;
  readonly state: MediaStateName;
  readonly hold_reason: string | null;
  readonly claim_kind: ClaimKind | null;
  /** Owners other than the erased one still referencing it (by owner only; else 0). */
  readonly others: number;
  /** A tombstone: a live media holds its key. */
  readonly live_at_key: boolean;
}

const BUSY: Record<ClaimKind, string> = {
  delete: "being deleted by a worker right now: try again in a minute",
  purge: "being purged right now",
  restore: "being restored right now: try again in a moment",
  erase:
    "being erased by another EraseMedia call (or one interrupted: the next sweep settles it once its lease expires)",
};

/** Why a locked media may not be erased, or undefined when it may. */
function refusal(row: Target, owner: string | undefined): string | undefined {
  if (row.hold_reason !== null) {
    return `media is held (${row.hold_reason}): a hold is a legal hold and wins; release it first`;
  }
  if (row.claim_kind !== null) return `media is ${BUSY[row.claim_kind]}`;
  if (owner !== undefined && row.others > 0) {
    return `still referenced by ${row.others} other owner(s): only this owner's reference was removed, the file kept`;
  }
  return undefined;
}

/** Step 1. Returns the claimed media (with the state each was in) and the refusals. */
async function claimForErasure(
  pool: pg.Pool,
  request: EraseRequest,
  token: string,
  leaseSeconds: number,
): Promise<{ claimed: Target[]; outcomes: Map<string, ErasureOutcome>; blocked: number }> {
  return withTransaction(pool, async (client) => {
    const { rows } = await client.query<Target>(
      `SELECT m.id, m.store, m.key, m.state, m.hold_reason, c.kind AS claim_kind,
         CASE WHEN $2::text IS NULL THEN 0
           ELSE (SELECT count(*) FROM media_references r WHERE r.media_id = m.id AND r.owner <> $2)::int END AS others,
         m.state = 'TRASHED' AND EXISTS (
           SELECT 1 FROM media l WHERE l.store = m.store AND l.key = m.key AND l.trash_time IS NULL) AS live_at_key
       FROM media m LEFT JOIN deletion_claims c ON c.token = m.claim_token
       WHERE m.id = ANY($1::bigint[]) ORDER BY m.id FOR UPDATE OF m`,
      [request.ids, request.owner ?? null],
    );
    const outcomes = new Map<string, ErasureOutcome>();
    for (const id of request.ids) {
      outcomes.set(id, {
        kind: "refused",
        why: "no such media (never registered, or already deleted)",
        store: "",
        key: "",
      });
    }
    const claimed: Target[] = [];
    const shared: string[] = [];
    let blocked = 0;
    for (const row of rows) {
      const why = refusal(row, request.owner);
      const free = row.hold_reason === null && row.claim_kind === null;
      if (why === undefined) claimed.push(row);
      else outcomes.set(row.id, { kind: "refused", why, store: row.store, key: row.key });
      if (!free) blocked++;
      else if (request.owner !== undefined && row.others > 0) shared.push(row.id);
    }
    if (request.owner !== undefined && shared.length > 0) {
      // The owner's own references to media others keep: removed as UnlinkMedia would (an UNLINKED
      // event, whose owner name the redaction below then clears).
      await client.query(
        `SELECT media_unlink(id, $2, $3, 0, 'erasure of the owner: ' || $4)
         FROM unnest($1::bigint[]) AS id`,
        [shared, request.owner, request.actor, request.reason],
      );
    }
    const ids = claimed.map((c) => c.id);
    if (ids.length > 0) {
      await client.query("DELETE FROM media_references WHERE media_id = ANY($1::bigint[])", [ids]);
      await client.query(
        `UPDATE media SET
           state = (CASE WHEN state = 'TRASHED' THEN 'TRASHED' ELSE 'DELETING' END)::media_state,
           reference_count = 0, claim_token = $2, claim_time = now(), update_time = now()
         WHERE id = ANY($1::bigint[])`,
        [ids, token],
      );
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
    }
    // The erased media's owner names, and the erased owner's on the media it shares, leave the
    // audit log (the trigger allows exactly this change).
    await client.query(
      `UPDATE media_events SET owner = NULL
       WHERE owner IS NOT NULL AND (media_id = ANY($1::bigint[]) OR (media_id = ANY($2::bigint[]) AND owner = $3))`,
      [ids, shared, request.owner ?? null],
    );
    return { claimed, outcomes, blocked };
  });
}

/** Hands media back unerased (step 2): unclaimed again, as they were. */
async function unclaim(pool: pg.Pool, token: string, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  await pool.query(
    "UPDATE media SET claim_token = NULL, claim_time = NULL WHERE id = ANY($1::bigint[]) AND claim_token = $2",
    [ids, token],
  );
}

/** Step 3, for one store: live files at their keys, and every trashed copy, inside the lease. */
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

/** Step 4: the rows erased (those still claimed: the ids answered), and those that could not be. */
async function recordErasure(
  pool: pg.Pool,
  token: string,
  request: EraseRequest,
  gone: readonly string[],
  failed: ReadonlyMap<string, string>,
  complete: boolean,
): Promise<{ erased: Set<string>; eraseTime: Date }> {
  return withTransaction(pool, async (client) => {
    const { rows } = await client.query<{ id: string; now: Date }>(
      `WITH gone AS (
         DELETE FROM media WHERE id = ANY($1::bigint[]) AND claim_token = $2 RETURNING id, state, store
       ), events AS (
         INSERT INTO media_events (media_id, type, from_state, actor, reason, store)
         SELECT id, 'ERASED', state, $3, 'erased: ' || $4, store FROM gone
       )
       SELECT id, now() FROM gone`,
      [gone, token, request.actor, request.reason],
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
    if (request.owner !== undefined && complete) {
      // The owner's name wherever it is left: events of media purged or deleted long ago, bulk actions' filters.
      await client.query("UPDATE media_events SET owner = NULL WHERE owner = $1", [request.owner]);
      await client.query(
        `UPDATE bulk_actions SET filter = jsonb_set(filter, '{owner}', '"[erased]"') WHERE filter->>'owner' = $1`,
        [request.owner],
      );
    }
    return { erased: new Set(rows.map((r) => r.id)), eraseTime: rows[0]?.now ?? new Date() };
  });
}

/**
 * Erases the given media (at most MAX_ERASE_IDS) now, as described above, and
 * answers an outcome per id: erased (the objects checked gone), refused (not
 * erased, and why) or failed (references removed, a file not verifiably gone:
 * FAILED or a tombstone due for purging, with last_error; call again).
 */
export async function eraseMedia(
  pool: pg.Pool,
  stores: ReadonlyMap<string, ObjectStore>,
  timing: LeaseTiming,
  request: EraseRequest,
): Promise<Map<string, ErasureOutcome>> {
  if (request.ids.length > MAX_ERASE_IDS) throw new Error(`at most ${MAX_ERASE_IDS} media per erasure`);
  const token = randomUUID();
  const { claimed, outcomes, blocked } = await claimForErasure(pool, request, token, timing.claimTimeoutSeconds);
  const lease = new ClaimLease(pool, token, timing);
  const failures = new Map<string, string>();
  const gone: string[] = [];
  const handedBack: string[] = [];
  for (const [storeName, all] of groupByStore(claimed)) {
    const store = stores.get(storeName);
    if (store === undefined) {
      for (const t of all) failures.set(t.id, `STORE_NOT_CONFIGURED: store "${storeName}" is not configured here`);
      continue;
    }
    // Step 2: a tombstone's key with a file and no live media.
    const unowned = all.filter((t) => t.state === "TRASHED" && !t.live_at_key);
    const before = await store.locate(unowned);
    const group = all.filter((t) => {
      if (!unowned.includes(t) || before.get(t.id)?.atKey !== true) return true;
      handedBack.push(t.id);
      outcomes.set(t.id, {
        kind: "refused",
        why:
          "a file is at its key and no media holds the key: it may be this media's copy left by an interrupted restore. " +
          "Restore the media (it recognises its own copy), then erase it; or remove that file",
        store: t.store,
        key: t.key,
      });
      return false;
    });
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
      else gone.push(t.id);
    }
  }
  await unclaim(pool, token, handedBack);
  const complete = request.last && blocked === 0 && handedBack.length === 0;
  const { erased, eraseTime } = await recordErasure(pool, token, request, gone, failures, complete);
  for (const t of claimed) {
    if (handedBack.includes(t.id)) continue;
    const why =
      failures.get(t.id) ??
      (erased.has(t.id)
        ? undefined
        : "ERASE_INTERRUPTED: the erasure took longer than its lease and was taken back; call EraseMedia again");
    outcomes.set(
      t.id,
      why === undefined
        ? { kind: "erased", store: t.store, key: t.key, eraseTime }
        : { kind: "failed", why, store: t.store, key: t.key },
    );
  }
  return outcomes;
}
