import type pg from "pg";
import type {
  ReconciliationFindingKindName,
  ReconciliationFindingRow,
  ReconciliationResolutionName,
  ReconciliationRow,
} from "../db/schema.ts";
import { isJobQueueMissing } from "../db/sql-errors.ts";
import { withTransaction } from "../db/transaction.ts";
import { enqueueReconciliation, jobTraceParameter } from "../deletion/jobs.ts";
import { compareKeys, type ListedObject, type ObjectStore } from "../storage/object-store.ts";
import { likePrefix } from "./media-list.ts";
import { type CreateTimeCursor, newestFirstPage } from "./newest-first.ts";

// Storage reconciliation: a run compares a store's objects (ObjectStore.list,
// byte order) with its media rows (media.key is COLLATE "C": the same order,
// served by the (store, key, trash_time) index), one page at a time. A page's
// storage listing runs outside any transaction; its comparison, findings,
// flags, events, counts and cursor commit in one transaction, conditioned on
// the cursor it started from, so a job run again after a crash goes on from
// the committed cursor with no finding twice. ApplyReconciliation's adoption
// registers untracked objects as PENDING media, set-based (one INSERT per
// chunk, with CREATED events naming the run), never over a live media.
//
// SQL style: raw statements on the pool (the deletion engine's), each
// multi-statement step inside the one withTransaction.

/** At most this many findings per ApplyReconciliation call. */
export const APPLY_LIMIT = 10_000;

/** A reconciliation's job found its row changed under it (another job, or it is over): stop this one. */
export class ReconciliationMovedError extends Error {
  readonly code = "RECONCILIATION_MOVED";
}

export interface NewReconciliation {
  readonly store: string;
  readonly keyPrefix: string;
  readonly minAgeSeconds: number;
  readonly actor: string;
}

/**
 * Records a reconciliation (QUEUED) and enqueues its job in the same
 * transaction; undefined when no worker has ever started here (no job queue).
 */
export async function createReconciliation(
  pool: pg.Pool,
  input: NewReconciliation,
): Promise<ReconciliationRow | undefined> {
  try {
    return await withTransaction(pool, async (client) => {
      const { rows } = await client.query<ReconciliationRow>(
        `INSERT INTO reconciliations (store, key_prefix, min_age_seconds, actor) VALUES ($1, $2, $3, $4) RETURNING *`,
        [input.store, input.keyPrefix, input.minAgeSeconds, input.actor],
      );
      const row = rows[0] as ReconciliationRow;
      await client.query(`SELECT ${enqueueReconciliation("$1", "$2")}`, [row.id, jobTraceParameter()]);
      return row;
    });
  } catch (error) {
    if (isJobQueueMissing(error)) return undefined;
    throw error;
  }
}

export async function getReconciliation(pool: pg.Pool, id: string): Promise<ReconciliationRow | undefined> {
  const { rows } = await pool.query<ReconciliationRow>("SELECT * FROM reconciliations WHERE id = $1", [id]);
  return rows[0];
}

/** One page of reconciliations (of one store, if given), newest first, continuing after the cursor. */
export const listReconciliations = (
  pool: pg.Pool,
  store: string | undefined,
  after: CreateTimeCursor | undefined,
  limit: number,
) =>
  newestFirstPage<ReconciliationRow>(
    pool,
    "reconciliations",
    store === undefined ? undefined : { column: "store", value: store },
    after,
    limit,
  );

export interface FindingFilter {
  readonly kind?: ReconciliationFindingKindName;
  readonly resolution?: ReconciliationResolutionName;
  readonly keyPrefix?: string;
}

/** One page of a reconciliation's findings by key (the (reconciliation_id, key) index), after the key `after`. */
export async function listFindings(
  pool: pg.Pool,
  id: string,
  filter: FindingFilter,
  after: string | undefined,
  limit: number,
): Promise<ReconciliationFindingRow[]> {
  const { rows } = await pool.query<ReconciliationFindingRow>(
    `SELECT * FROM reconciliation_findings
     WHERE reconciliation_id = $1 AND ($2::text IS NULL OR kind = $2) AND ($3::text IS NULL OR resolution = $3)
       AND ($4::text IS NULL OR key LIKE $4) AND ($5::text IS NULL OR key > $5)
     ORDER BY key LIMIT $6`,
    [
      id,
      filter.kind ?? null,
      filter.resolution ?? null,
      filter.keyPrefix === undefined ? null : likePrefix(filter.keyPrefix),
      after ?? null,
      limit,
    ],
  );
  return rows;
}

/** QUEUED (or RUNNING, for a job run again) → RUNNING; undefined when it is already over. */
export async function startReconciliation(pool: pg.Pool, id: string): Promise<ReconciliationRow | undefined> {
  const { rows } = await pool.query<ReconciliationRow>(
    `UPDATE reconciliations SET state = 'RUNNING', update_time = now()
     WHERE id = $1 AND state IN ('QUEUED', 'RUNNING') RETURNING *`,
    [id],
  );
  return rows[0];
}

/** RUNNING → FAILED with last_error (a code and short words, never SQL). */
export async function failReconciliation(pool: pg.Pool, id: string, failure: string): Promise<void> {
  await pool.query(
    `UPDATE reconciliations SET state = 'FAILED', last_error = left($2, 2000), finish_time = now(), update_time = now()
     WHERE id = $1 AND state = 'RUNNING'`,
    [id, failure],
  );
}

/** What one page did. */
export interface PageResult {
  /** Objects the store listed for it (what the rate limit counts). */
  readonly listed: number;
  /** The walk reached the end: the run is SUCCEEDED. */
  readonly finished: boolean;
}

interface PageMedia {
  readonly id: string;
  readonly key: string;
  readonly state: string;
  readonly size_bytes: string;
  readonly old: boolean;
  readonly flagged: boolean;
}

/** A finding as inserted: its columns, in the unnest's order. */
interface NewFinding {
  readonly kind: ReconciliationFindingKindName;
  readonly key: string;
  readonly sizeBytes: string;
  readonly modifyTime: Date | null;
  readonly mediaId: string | null;
  readonly resolution: ReconciliationResolutionName;
}

/**
 * One page of a RUNNING reconciliation: up to `limit` objects after its
 * cursor, compared with the live media of the same key range (a TRASHED
 * tombstone does not own its key). The range ends at the page's last listed
 * key, or at the prefix's end after the last object; when more than `limit`
 * media lie in it, at the limit-th media's key (the objects past it are
 * listed again by the next page). Everything is committed in one transaction
 * with the cursor, which must still be the one the page started from.
 */
export async function reconcilePage(pool: pg.Pool, store: ObjectStore, id: string, limit: number): Promise<PageResult> {
  const row = await getReconciliation(pool, id);
  if (row === undefined || row.state !== "RUNNING")
    throw new ReconciliationMovedError(`reconciliation ${id} is not RUNNING`);
  const cursor = row.resume_key;
  const listing = await store.list(row.key_prefix, cursor, limit);
  if (!listing.done && listing.last === undefined)
    throw new Error(`the listing of store ${store.name} made no progress`);
  return withTransaction(pool, async (client) => {
    const locked = await client.query<ReconciliationRow & { now: Date }>(
      "SELECT *, now() AS now FROM reconciliations WHERE id = $1 FOR UPDATE",
      [id],
    );
    const current = locked.rows[0];
    if (current === undefined || current.state !== "RUNNING" || current.resume_key !== cursor) {
      throw new ReconciliationMovedError(`reconciliation ${id} moved while its page was listed`);
    }
    const now = current.now;
    const objectsEnd = listing.done ? null : (listing.last as string);
    const media = await client.query<PageMedia>(
      `SELECT id, key, state, size_bytes, create_time <= now() - make_interval(secs => $5) AS old,
              file_missing_time IS NOT NULL AS flagged
       FROM media
       WHERE store = $1 AND key LIKE $2 AND key > $3 AND ($4::text IS NULL OR key <= $4) AND trash_time IS NULL
       ORDER BY key LIMIT $6`,
      [row.store, likePrefix(row.key_prefix), cursor, objectsEnd, row.min_age_seconds, limit + 1],
    );
    let rows = media.rows;
    let objects: readonly ListedObject[] = listing.objects;
    let end = objectsEnd;
    if (rows.length > limit) {
      rows = rows.slice(0, limit);
      end = (rows.at(-1) as PageMedia).key;
      const bound = end;
      objects = objects.filter((o) => compareKeys(o.key, bound) <= 0);
    }
    const finished = end === null;

    const ignored = await client.query<{ key_prefix: string }>(
      "SELECT key_prefix FROM reconciliation_ignored_prefixes WHERE store = $1",
      [row.store],
    );
    const ignoredPrefixes = ignored.rows.map((r) => r.key_prefix);
    const youngAfter = now.getTime() - row.min_age_seconds * 1000;
    const byKey = new Map(rows.map((m) => [m.key, m]));
    const findings: NewFinding[] = [];
    const found: string[] = [];
    let young = 0;
    let ignoredCount = 0;
    for (const object of objects) {
      const owner = byKey.get(object.key);
      if (owner !== undefined) {
        byKey.delete(object.key);
        if (owner.flagged) found.push(owner.id);
        continue;
      }
      if (ignoredPrefixes.some((p) => object.key.startsWith(p))) ignoredCount++;
      else if (object.modifyTime.getTime() > youngAfter) young++;
      else {
        findings.push({
          kind: "UNTRACKED",
          key: object.key,
          sizeBytes: String(object.sizeBytes),
          modifyTime: object.modifyTime,
          mediaId: null,
          resolution: "OPEN",
        });
      }
    }
    const missing: string[] = [];
    for (const m of byKey.values()) {
      if (m.state === "DELETING" || !m.old) continue;
      missing.push(m.id);
      findings.push({
        kind: "MISSING",
        key: m.key,
        sizeBytes: m.size_bytes,
        modifyTime: null,
        mediaId: m.id,
        resolution: "FLAGGED",
      });
    }
    findings.sort((a, b) => compareKeys(a.key, b.key));

    const inserted = await client.query<{ kind: ReconciliationFindingKindName; size_bytes: string }>(
      `INSERT INTO reconciliation_findings (reconciliation_id, kind, key, size_bytes, modify_time, media_id, resolution)
       SELECT $1, f.kind, f.key, f.size_bytes, f.modify_time, f.media_id, f.resolution
       FROM unnest($2::text[], $3::text[], $4::bigint[], $5::timestamptz[], $6::bigint[], $7::text[])
         AS f(kind, key, size_bytes, modify_time, media_id, resolution)
       ON CONFLICT (reconciliation_id, key) DO NOTHING
       RETURNING kind, size_bytes`,
      [
        id,
        findings.map((f) => f.kind),
        findings.map((f) => f.key),
        findings.map((f) => f.sizeBytes),
        findings.map((f) => f.modifyTime),
        findings.map((f) => f.mediaId),
        findings.map((f) => f.resolution),
      ],
    );
    let untracked = 0;
    let untrackedBytes = 0n;
    let missingCount = 0;
    for (const f of inserted.rows) {
      if (f.kind === "UNTRACKED") {
        untracked++;
        untrackedBytes += BigInt(f.size_bytes);
      } else missingCount++;
    }
    const reason = `reconciliation ${id}`;
    if (missing.length > 0) {
      await client.query(
        `WITH flagged AS (
           UPDATE media SET file_missing_time = now(), update_time = now()
           WHERE id = ANY($1::bigint[]) AND file_missing_time IS NULL AND trash_time IS NULL AND state <> 'DELETING'
           RETURNING id, state, store
         )
         INSERT INTO media_events (media_id, type, from_state, to_state, actor, reason, store)
         SELECT id, 'FILE_MISSING', state, state, $2, $3, store FROM flagged`,
        [missing, row.actor, reason],
      );
    }
    if (found.length > 0) {
      await client.query(
        `WITH cleared AS (
           UPDATE media SET file_missing_time = NULL, update_time = now()
           WHERE id = ANY($1::bigint[]) AND file_missing_time IS NOT NULL
           RETURNING id, state, store
         )
         INSERT INTO media_events (media_id, type, from_state, to_state, actor, reason, store)
         SELECT id, 'FILE_FOUND', state, state, $2, $3, store FROM cleared`,
        [found, row.actor, reason],
      );
    }
    const lastCompared = [objects.at(-1)?.key, rows.at(-1)?.key, end ?? undefined]
      .filter((k): k is string => k !== undefined)
      .reduce((a, b) => (compareKeys(a, b) >= 0 ? a : b), cursor);
    await client.query(
      `UPDATE reconciliations SET resume_key = $2, objects_scanned = objects_scanned + $3,
         media_scanned = media_scanned + $4, untracked_count = untracked_count + $5,
         untracked_bytes = untracked_bytes + $6, missing_count = missing_count + $7,
         young_count = young_count + $8, ignored_count = ignored_count + $9, update_time = now(),
         state = CASE WHEN $10 THEN 'SUCCEEDED' ELSE state END,
         finish_time = CASE WHEN $10 THEN now() ELSE finish_time END
       WHERE id = $1`,
      [
        id,
        lastCompared,
        objects.length,
        rows.length,
        untracked,
        untrackedBytes.toString(),
        missingCount,
        young,
        ignoredCount,
        finished,
      ],
    );
    return { listed: listing.objects.length, finished };
  });
}

/** OPEN untracked findings of the run under the prefix. */
export async function countOpen(pool: pg.Pool, id: string, keyPrefix: string): Promise<number> {
  const { rows } = await pool.query<{ n: string }>(
    `SELECT count(*)::bigint::text AS n FROM reconciliation_findings
     WHERE reconciliation_id = $1 AND key LIKE $2 AND kind = 'UNTRACKED' AND resolution = 'OPEN'`,
    [id, likePrefix(keyPrefix)],
  );
  return Number(rows[0]?.n ?? 0);
}

/** What one ApplyReconciliation call did. */
export interface ApplyResult {
  readonly applied: number;
  readonly skipped: number;
  readonly remaining: number;
}

interface OpenFinding {
  readonly id: string;
  readonly key: string;
  readonly size_bytes: string;
}

const openFindings = async (pool: pg.Pool, id: string, keyPrefix: string): Promise<OpenFinding[]> =>
  (
    await pool.query<OpenFinding>(
      `SELECT id, key, size_bytes FROM reconciliation_findings
       WHERE reconciliation_id = $1 AND key LIKE $2 AND kind = 'UNTRACKED' AND resolution = 'OPEN'
       ORDER BY key LIMIT $3`,
      [id, likePrefix(keyPrefix), APPLY_LIMIT],
    )
  ).rows;

/** Marks findings SKIPPED (still OPEN ones only). */
async function skip(client: pg.Pool | pg.PoolClient, ids: readonly string[]): Promise<number> {
  if (ids.length === 0) return 0;
  const { rowCount } = await client.query(
    "UPDATE reconciliation_findings SET resolution = 'SKIPPED' WHERE id = ANY($1::bigint[]) AND resolution = 'OPEN'",
    [ids],
  );
  return rowCount ?? 0;
}

/**
 * Adopts up to APPLY_LIMIT OPEN untracked findings under the prefix as
 * PENDING media (expiring after pendingTtlSeconds), labelled
 * `reconciliation=<id>`, with a CREATED event naming the run. Skipped: keys
 * `adoptable` refuses, objects no longer at their key (checked with the store
 * before each chunk's transaction), keys a live media took meanwhile.
 */
export async function adoptFindings(
  pool: pg.Pool,
  store: ObjectStore,
  run: ReconciliationRow,
  keyPrefix: string,
  pendingTtlSeconds: number,
  actor: string,
  adoptable: (key: string) => boolean,
): Promise<ApplyResult> {
  const candidates = await openFindings(pool, run.id, keyPrefix);
  let applied = 0;
  let skipped = await skip(
    pool,
    candidates.filter((f) => !adoptable(f.key)).map((f) => f.id),
  );
  const wanted = candidates.filter((f) => adoptable(f.key));
  const labels = JSON.stringify({ reconciliation: run.id });
  const reason = `adopted by reconciliation ${run.id}`;
  for (let i = 0; i < wanted.length; i += store.keysPerRequest) {
    const chunk = wanted.slice(i, i + store.keysPerRequest);
    const places = await store.locate(chunk.map((f) => ({ id: f.id, key: f.key })));
    const present = chunk.filter((f) => places.get(f.id)?.atKey === true);
    skipped += await skip(
      pool,
      chunk.filter((f) => places.get(f.id)?.atKey !== true).map((f) => f.id),
    );
    if (present.length === 0) continue;
    const done = await withTransaction(pool, async (client) => {
      const { rows } = await client.query<{ finding_id: string; media_id: string | null }>(
        `WITH wanted AS (
           SELECT f.id AS finding_id, f.key, f.size_bytes FROM reconciliation_findings f
           WHERE f.id = ANY($1::bigint[]) AND f.resolution = 'OPEN' FOR UPDATE
         ), inserted AS (
           INSERT INTO media (store, key, size_bytes, labels, state, delete_time)
           SELECT $2, key, size_bytes, $3::jsonb, 'PENDING', now() + make_interval(secs => $4) FROM wanted
           ON CONFLICT (store, key, trash_time) DO NOTHING
           RETURNING id, key, store
         ), events AS (
           INSERT INTO media_events (media_id, type, to_state, actor, reason, store)
           SELECT id, 'CREATED', 'PENDING', $5, $6, store FROM inserted
         ), settled AS (
           UPDATE reconciliation_findings f
           SET resolution = CASE WHEN i.id IS NULL THEN 'SKIPPED' ELSE 'ADOPTED' END, media_id = i.id
           FROM wanted w LEFT JOIN inserted i ON i.key = w.key
           WHERE f.id = w.finding_id
           RETURNING f.id AS finding_id, f.media_id
         )
         SELECT * FROM settled`,
        [present.map((f) => f.id), run.store, labels, pendingTtlSeconds, actor, reason],
      );
      const adopted = rows.filter((r) => r.media_id !== null).length;
      await client.query(
        "UPDATE reconciliations SET adopted_count = adopted_count + $2, update_time = now() WHERE id = $1",
        [run.id, adopted],
      );
      return { adopted, skipped: rows.length - adopted };
    });
    applied += done.adopted;
    skipped += done.skipped;
  }
  return { applied, skipped, remaining: await countOpen(pool, run.id, keyPrefix) };
}

/**
 * Marks up to APPLY_LIMIT OPEN untracked findings under the prefix IGNORED and
 * remembers the prefix for the store: later runs count objects under it as ignored.
 */
export async function ignoreFindings(
  pool: pg.Pool,
  run: ReconciliationRow,
  keyPrefix: string,
  actor: string,
): Promise<ApplyResult> {
  const applied = await withTransaction(pool, async (client) => {
    const { rowCount } = await client.query(
      `UPDATE reconciliation_findings SET resolution = 'IGNORED'
       WHERE id IN (
         SELECT id FROM reconciliation_findings
         WHERE reconciliation_id = $1 AND key LIKE $2 AND kind = 'UNTRACKED' AND resolution = 'OPEN'
         ORDER BY key LIMIT $3
       )`,
      [run.id, likePrefix(keyPrefix), APPLY_LIMIT],
    );
    await client.query(
      `INSERT INTO reconciliation_ignored_prefixes (store, key_prefix, reconciliation_id, actor)
       VALUES ($1, $2, $3, $4) ON CONFLICT (store, key_prefix) DO NOTHING`,
      [run.store, keyPrefix, run.id, actor],
    );
    await client.query("UPDATE reconciliations SET update_time = now() WHERE id = $1", [run.id]);
    return rowCount ?? 0;
  });
  return { applied, skipped: 0, remaining: await countOpen(pool, run.id, keyPrefix) };
}
