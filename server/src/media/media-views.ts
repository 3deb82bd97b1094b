import { type Kysely, sql } from "kysely";
import type pg from "pg";
import type { Database, MediaEventRow, MediaReferenceRow } from "../db/schema.ts";
import { dueBy } from "../deletion/due.ts";
import { foldStateDeltas, readStateTotals, type StateTotal } from "./state-totals.ts";

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

export async function getStats(db: Kysely<Database>, pool: pg.Pool): Promise<MediaStats> {
  // Per state without counting rows (state-totals.ts); folding first keeps the deltas few.
  await foldStateDeltas(pool);
  const states = await readStateTotals(pool);
  // One pass over the due index for both horizons.
  const due = await sql<{ count_24h: string; bytes_24h: string; count_7d: string; bytes_7d: string }>`
    SELECT count(*) FILTER (WHERE delete_time <= now() + interval '24 hours')::bigint AS count_24h,
           coalesce(sum(size_bytes) FILTER (WHERE delete_time <= now() + interval '24 hours'), 0)::numeric AS bytes_24h,
           count(*)::bigint AS count_7d,
           coalesce(sum(size_bytes), 0)::numeric AS bytes_7d
    FROM media
    WHERE ${sql.raw(dueBy("now() + interval '7 days'"))}`.execute(db);
  const row = due.rows[0];
  // The trash's head, over media_trash_idx: what purges within a day, and when the next does.
  const purges = await sql<{ count: string; bytes: string; next: Date | null }>`
    SELECT count(*) FILTER (WHERE purge_time <= now() + interval '24 hours')::bigint AS count,
           coalesce(sum(size_bytes) FILTER (WHERE purge_time <= now() + interval '24 hours'), 0)::numeric AS bytes,
           min(purge_time) AS next
    FROM media WHERE purge_time IS NOT NULL AND hold_reason IS NULL`.execute(db);
  const purge = purges.rows[0];
  return {
    states,
    dueNext24h: { count: row?.count_24h ?? "0", sizeBytes: row?.bytes_24h ?? "0" },
    dueNext7d: { count: row?.count_7d ?? "0", sizeBytes: row?.bytes_7d ?? "0" },
    purgeNext24h: { count: purge?.count ?? "0", sizeBytes: purge?.bytes ?? "0" },
    nextPurgeTime: purge?.next ?? null,
  };
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
