import { type Kysely, sql } from "kysely";
import type pg from "pg";
import type { Database, MediaEventRow, MediaReferenceRow } from "../db/schema.ts";
import { IN_TRASH } from "../deletion/due.ts";
import { foldStateDeltas, readStateTotals, readWindow, type StateTotal } from "./state-totals.ts";

// The dashboard's read views of media: one media's references and events, the
// overview's totals per state and due soon, and the deletion history chart.
//
// SQL style: Kysely. The builder for the paged lists (a filter and a keyset),
// its `sql` template for the aggregates, which are fixed statements with
// FILTER clauses and generate_series that the builder would only spell out.

/** One page of a media's references, by owner, strictly after afterOwner when given. */
export async function listMediaReferences(
  db: Kysely<Database>,
  mediaId: string,
  afterOwner: string | undefined,
  limit: number,
): Promise<MediaReferenceRow[]> {
  let query = db.selectFrom("media_references").selectAll().where("media_id", "=", mediaId);
  if (afterOwner !== undefined) query = query.where("owner", ">", afterOwner);
  return query.orderBy("owner").limit(limit).execute();
}

export interface DueTotals {
  readonly count: string;
  readonly sizeBytes: string;
}

export interface MediaStats {
  readonly states: StateTotal[];
  readonly dueNext24h: DueTotals;
  readonly dueNext7d: DueTotals;
  /** Unheld tombstones whose purge_time is within 24 hours (overdue included). */
  readonly purgeNext24h: DueTotals;
  /** The soonest purge_time of an unheld tombstone; null when there is none. */
  readonly nextPurgeTime: Date | null;
}

export async function getStats(pool: pg.Pool): Promise<MediaStats> {
  // Without counting rows (state-totals.ts); folding first keeps the deltas few.
  await foldStateDeltas(pool);
  const [states, dueNext24h, dueNext7d, purgeNext24h, next] = await Promise.all([
    readStateTotals(pool),
    readWindow(pool, "due", "now() + interval '24 hours'"),
    readWindow(pool, "due", "now() + interval '7 days'"),
    readWindow(pool, "purge", "now() + interval '24 hours'"),
    // The trash's head, the first entry of media_trash_idx.
    pool.query<{ next: Date | null }>(`SELECT min(purge_time) AS next FROM media WHERE ${IN_TRASH}`),
  ]);
  return { states, dueNext24h, dueNext7d, purgeNext24h, nextPurgeTime: next.rows[0]?.next ?? null };
}

/** One page of a media's events, oldest first, strictly after afterId when given. */
export async function listMediaEvents(
  db: Kysely<Database>,
  mediaId: string,
  afterId: string | undefined,
  limit: number,
): Promise<MediaEventRow[]> {
  let query = db.selectFrom("media_events").selectAll().where("media_id", "=", mediaId);
  if (afterId !== undefined) query = query.where("id", ">", afterId);
  return query.orderBy("id", "asc").limit(limit).execute();
}

export interface DeletionHourTotals {
  readonly hour: Date;
  readonly deletedCount: string;
  readonly deletedBytes: string;
  readonly failedCount: string;
}

/** Every hour of the last `hours` (the current one included), oldest first, zeros where nothing happened. */
export async function deletionHistory(db: Kysely<Database>, hours: number): Promise<DeletionHourTotals[]> {
  const result = await sql<{ hour: Date; deleted_count: string; deleted_bytes: string; failed_count: string }>`
    SELECT h.hour, coalesce(d.deleted_count, 0)::bigint AS deleted_count,
           coalesce(d.deleted_bytes, 0)::numeric AS deleted_bytes, coalesce(d.failed_count, 0)::bigint AS failed_count
    FROM generate_series(date_trunc('hour', now(), 'UTC') - make_interval(hours => ${hours - 1}),
                         date_trunc('hour', now(), 'UTC'), interval '1 hour') AS h(hour)
    LEFT JOIN deletion_hourly d ON d.hour = h.hour
    ORDER BY h.hour`.execute(db);
  return result.rows.map((r) => ({
    hour: r.hour,
    deletedCount: r.deleted_count,
    deletedBytes: r.deleted_bytes,
    failedCount: r.failed_count,
  }));
}

/**
 * The first `limit` media, by id, that the owner references or ever
 * referenced (its name is in their events: an unlinked media still in the
 * trash, say), and how many more there are, for an erasure by owner, which
 * goes on over several calls.
 */
export async function ownerMediaIds(
  db: Kysely<Database>,
  owner: string,
  limit: number,
): Promise<{ ids: string[]; remaining: bigint }> {
  const owned = sql`SELECT media_id FROM media_references WHERE owner = ${owner}
    UNION SELECT media_id FROM media_events WHERE owner = ${owner}`;
  const { rows } = await sql<{ id: string }>`
    SELECT m.id FROM media m WHERE m.id IN (${owned}) ORDER BY m.id LIMIT ${limit}`.execute(db);
  if (rows.length < limit) return { ids: rows.map((r) => r.id), remaining: 0n };
  const more = await sql<{ n: string }>`
    SELECT count(*)::bigint AS n FROM media m WHERE m.id IN (${owned}) AND m.id > ${rows.at(-1)?.id}`.execute(db);
  return { ids: rows.map((r) => r.id), remaining: BigInt(more.rows[0]?.n ?? 0) };
}
