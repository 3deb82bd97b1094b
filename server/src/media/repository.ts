import { type Kysely, sql } from "kysely";
import type pg from "pg";
import type { Database, MediaEventRow, MediaReferenceRow, MediaRow, MediaStateName } from "../db/schema.ts";
import { dueBy } from "../deletion/due.ts";

// All SQL for media, references and events lives here. Functions take the
// database first and return rows; callers map rows to API messages.
//
// The three hot paths (lookup by ids, link, unlink) run as named statements on
// the pg pool instead of through Kysely: PostgreSQL then parses and plans them
// once per connection, which measured ~30% more link/unlink transactions per
// second (docs/performance.md).

export interface NewMediaInput {
  readonly store: string;
  readonly key: string;
  readonly contentType: string;
  readonly sizeBytes: bigint;
  readonly labels: Readonly<Record<string, string>>;
}

export type CreateOutcome =
  | { readonly kind: "created"; readonly media: MediaRow }
  | { readonly kind: "exists"; readonly media: MediaRow }
  | { readonly kind: "conflict"; readonly media: MediaRow; readonly field: string }
  | { readonly kind: "deleting"; readonly media: MediaRow };

function sameLabels(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => a[k] === b[k]);
}

function conflictingField(row: MediaRow, input: NewMediaInput): string | undefined {
  if (row.content_type !== input.contentType) return "content_type";
  if (BigInt(row.size_bytes) !== input.sizeBytes) return "size_bytes";
  if (!sameLabels(row.labels, input.labels)) return "labels";
  return undefined;
}

/**
 * Registers a file as PENDING, expiring after pendingTtlSeconds unless linked.
 * Idempotent on (store, key): an identical registration returns the existing row.
 */
export async function createMedia(
  db: Kysely<Database>,
  input: NewMediaInput,
  actor: string,
  pendingTtlSeconds: number,
): Promise<CreateOutcome> {
  // Two attempts: the existing row can be deleted between our insert and our read.
  for (let attempt = 0; attempt < 2; attempt++) {
    const inserted = await sql<MediaRow>`
      WITH inserted AS (
        INSERT INTO media (store, key, content_type, size_bytes, labels, state, delete_time)
        VALUES (${input.store}, ${input.key}, ${input.contentType}, ${input.sizeBytes.toString()},
                ${JSON.stringify(input.labels)}::jsonb, 'PENDING',
                now() + make_interval(secs => ${pendingTtlSeconds}))
        ON CONFLICT (store, key) DO NOTHING
        RETURNING *
      ), event AS (
        INSERT INTO media_events (media_id, type, to_state, actor, reason)
        SELECT id, 'CREATED', 'PENDING', ${actor}, 'registered' FROM inserted
      )
      SELECT * FROM inserted`.execute(db);
    const created = inserted.rows[0];
    if (created !== undefined) return { kind: "created", media: created };

    const existing = await db
      .selectFrom("media")
      .selectAll()
      .where("store", "=", input.store)
      .where("key", "=", input.key)
      .executeTakeFirst();
    if (existing === undefined) continue;
    if (existing.state === "DELETING" || existing.state === "FAILED") return { kind: "deleting", media: existing };
    const field = conflictingField(existing, input);
    return field === undefined ? { kind: "exists", media: existing } : { kind: "conflict", media: existing, field };
  }
  throw new Error(`media ${input.store}/${input.key} vanished twice while being registered`);
}

/** Rows for the given ids, in no particular order; missing ids are simply absent. */
// Named statements list their columns: a plan cached per connection must keep
// its result shape when a later migration adds a column to media.
const MEDIA_COLUMNS = [
  "id",
  "store",
  "key",
  "content_type",
  "size_bytes",
  "labels",
  "state",
  "reference_count",
  "create_time",
  "update_time",
  "orphan_time",
  "delete_time",
  "hold_reason",
  "claim_token",
  "claim_time",
  "delete_attempts",
  "last_error",
] as const satisfies readonly (keyof MediaRow)[];
const SELECT_MEDIA = MEDIA_COLUMNS.join(", ");
const SELECT_RESULT_MEDIA = MEDIA_COLUMNS.map((c) => `(r.m).${c}`).join(", ");

export async function findMediaByIds(pool: pg.Pool, ids: readonly string[]): Promise<MediaRow[]> {
  if (ids.length === 0) return [];
  const result = await pool.query<MediaRow>({
    name: "media_by_ids",
    text: `SELECT ${SELECT_MEDIA} FROM media WHERE id = ANY($1::bigint[])`,
    values: [ids],
  });
  return result.rows;
}

/** Result of link/unlink: 'deleting' means the row is claimed (or failed) and refuses links. */
export type ReferenceOutcome =
  | { readonly kind: "ok"; readonly changed: boolean; readonly media: MediaRow }
  | { readonly kind: "not_found" }
  | { readonly kind: "deleting"; readonly media: MediaRow };

type ReferenceResultRow = MediaRow & { outcome: "ok" | "not_found" | "deleting"; changed: boolean };

function toReferenceOutcome(row: ReferenceResultRow | undefined): ReferenceOutcome {
  if (row === undefined) throw new Error("reference function returned no row");
  const { outcome, changed, ...media } = row;
  if (outcome === "not_found") return { kind: "not_found" };
  if (outcome === "deleting") return { kind: "deleting", media };
  return { kind: "ok", changed, media };
}

/** Adds the (media, owner) reference; see media_link in the initial migration. */
export async function linkMedia(
  pool: pg.Pool,
  mediaId: string,
  owner: string,
  actor: string,
): Promise<ReferenceOutcome> {
  const result = await pool.query<ReferenceResultRow>({
    name: "media_link",
    text: `SELECT r.outcome, r.changed, ${SELECT_RESULT_MEDIA} FROM media_link($1::bigint, $2, $3) r`,
    values: [mediaId, owner, actor],
  });
  return toReferenceOutcome(result.rows[0]);
}

/** Removes the (media, owner) reference; the last one orphans the media for graceSeconds. */
export async function unlinkMedia(
  pool: pg.Pool,
  mediaId: string,
  owner: string,
  actor: string,
  graceSeconds: number,
): Promise<ReferenceOutcome> {
  const result = await pool.query<ReferenceResultRow>({
    name: "media_unlink",
    text: `SELECT r.outcome, r.changed, ${SELECT_RESULT_MEDIA} FROM media_unlink($1::bigint, $2, $3, $4, 'unlinked') r`,
    values: [mediaId, owner, actor, graceSeconds],
  });
  return toReferenceOutcome(result.rows[0]);
}

export interface UnlinkOwnerResult {
  readonly unlinkedMediaIds: string[];
  readonly orphanedMediaIds: string[];
}

/**
 * Drops every reference the owner holds in one statement (so one transaction),
 * unlinking media in ascending id order so that concurrent calls lock rows in
 * the same order and cannot deadlock.
 */
export async function unlinkOwner(
  db: Kysely<Database>,
  owner: string,
  actor: string,
  graceSeconds: number,
): Promise<UnlinkOwnerResult> {
  const result = await sql<{ id: string; state: MediaStateName; changed: boolean }>`
    SELECT (r.m).id, (r.m).state, r.changed
    FROM (SELECT media_id FROM media_references WHERE owner = ${owner} ORDER BY media_id) refs
    CROSS JOIN LATERAL media_unlink(refs.media_id, ${owner}, ${actor}, ${graceSeconds}, 'owner unlinked') r
    ORDER BY refs.media_id`.execute(db);
  const changed = result.rows.filter((row) => row.changed);
  return {
    unlinkedMediaIds: changed.map((row) => row.id),
    orphanedMediaIds: changed.filter((row) => row.state === "ORPHANED").map((row) => row.id),
  };
}

export interface MediaFilter {
  readonly state?: MediaStateName;
  readonly store?: string;
  readonly owner?: string;
  readonly keyPrefix?: string;
  /** Media must carry every one of these labels. */
  readonly labels?: Readonly<Record<string, string>>;
}

/** The media list orders; each has its own keyset. */
export type MediaOrder = "create_time desc" | "create_time" | "delete_time";

/**
 * Where the previous page ended: its last row's id and, in delete_time order,
 * its delete key: delete_time in microseconds since 1970 (exact, unlike a JS
 * Date, and independent of the session's DateStyle), or "infinity" for a media
 * without one.
 */
export interface MediaCursor {
  readonly id: string;
  readonly deleteKey?: string;
}

export type ListedMedia = MediaRow & { readonly delete_key: string };

/** Escapes LIKE wildcards so a key prefix matches literally. */
function likePrefix(prefix: string): string {
  return `${prefix.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

const DELETE_KEY_TEXT = sql<string>`CASE WHEN media.delete_time IS NULL THEN 'infinity'
  ELSE (extract(epoch FROM media.delete_time) * 1000000)::bigint::text END`;

/**
 * A cursor's delete key (microseconds since 1970) as an exact UTC timestamp
 * literal. A value rather than an expression, so the planner can estimate how
 * many rows lie past it.
 */
function deleteTimeOf(micros: string): string {
  const value = BigInt(micros);
  const iso = new Date(Number(value / 1000n)).toISOString();
  return `${iso.slice(0, -1)}${(value % 1000n).toString().padStart(3, "0")}Z`;
}

/**
 * One page of media in the given order, continuing after the cursor. Every
 * filter and order is served by an index (docs/performance.md shows the plans).
 */
export async function listMedia(
  db: Kysely<Database>,
  filter: MediaFilter,
  order: MediaOrder,
  after: MediaCursor | undefined,
  limit: number,
): Promise<ListedMedia[]> {
  // Only LINKED media have references (media_linked_iff_referenced).
  if (filter.owner !== undefined && filter.state !== undefined && filter.state !== "LINKED") return [];
  // A state filter is written as = ANY and leads every ORDER BY, so that only
  // the (state, ...) indexes give the order. With "state = X" PostgreSQL drops
  // the constant state from the order, then prefers an index on the order
  // alone, expecting the state spread evenly; but states cluster (PENDING
  // among the newest ids, LINKED never scheduled), and at 10M rows that plan
  // scanned millions of rows. With an owner, the owner index gives the order.
  const byState = filter.state !== undefined && filter.owner === undefined;
  let query = db.selectFrom("media").selectAll("media").select(DELETE_KEY_TEXT.as("delete_key"));
  if (filter.owner !== undefined) {
    const owner = filter.owner;
    query = query.where(({ exists, selectFrom }) =>
      exists(
        selectFrom("media_references")
          .select(sql`1`.as("one"))
          .whereRef("media_references.media_id", "=", "media.id")
          .where("media_references.owner", "=", owner),
      ),
    );
  }
  if (byState) query = query.where(sql<boolean>`media.state = ANY(${[filter.state]}::media_state[])`);
  else if (filter.state !== undefined) query = query.where("media.state", "=", filter.state);
  if (filter.store !== undefined) query = query.where("media.store", "=", filter.store);
  if (filter.keyPrefix !== undefined) query = query.where("media.key", "like", likePrefix(filter.keyPrefix));
  if (filter.labels !== undefined) {
    // The second condition lets the planner use the partial media_labels_idx.
    const wanted = JSON.stringify(filter.labels);
    query = query.where(sql<boolean>`media.labels @> ${wanted}::jsonb AND media.labels <> '{}'::jsonb`);
  }
  switch (order) {
    case "create_time desc":
    case "create_time": {
      const direction = order === "create_time" ? "asc" : "desc";
      if (byState) query = query.orderBy("media.state", direction);
      if (after !== undefined) query = query.where("media.id", direction === "asc" ? ">" : "<", after.id);
      return query.orderBy("media.id", direction).limit(limit).execute();
    }
    case "delete_time": {
      // Two keysets, each simple enough for the planner to estimate: scheduled
      // media by (delete_time, id), then the unscheduled ones by id. (One
      // coalesce(delete_time, 'infinity') order misled it: every unscheduled
      // row ties at infinity, which it estimates as almost none.) LINKED and
      // FAILED media are never scheduled (media_unscheduled_states), nor is a
      // referenced media (it is LINKED): those filters skip the first keyset,
      // whose emptiness the planner cannot know and may scan millions to prove.
      // With a state, the unscheduled part is ordered by (state, delete_time,
      // id), still id order since delete_time is NULL, so that
      // media_state_delete_order_idx serves it with the cursor as index condition.
      let unscheduled = query.where("media.delete_time", "is", null);
      if (byState) unscheduled = unscheduled.orderBy("media.state").orderBy("media.delete_time");
      unscheduled = unscheduled.orderBy("media.id").limit(limit);
      if (after?.deleteKey === "infinity") return unscheduled.where("media.id", ">", after.id).execute();
      const neverScheduled = filter.owner !== undefined || filter.state === "LINKED" || filter.state === "FAILED";
      if (neverScheduled) return unscheduled.execute();
      // IS NOT NULL only without a cursor: the row comparison implies it, and
      // both together make the planner count that selectivity twice.
      let scheduled = after === undefined ? query.where("media.delete_time", "is not", null) : query;
      if (byState) scheduled = scheduled.orderBy("media.state");
      if (after !== undefined) {
        const from = deleteTimeOf(after.deleteKey ?? "0");
        scheduled = scheduled.where(
          sql<boolean>`(media.delete_time, media.id) > (${from}::timestamptz, ${after.id}::bigint)`,
        );
      }
      const first = await scheduled.orderBy("media.delete_time").orderBy("media.id").limit(limit).execute();
      if (first.length === limit) return first;
      return [...first, ...(await unscheduled.limit(limit - first.length).execute())];
    }
  }
}

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

export interface StateTotals {
  readonly state: MediaStateName;
  readonly count: string;
  readonly sizeBytes: string;
}

export interface DueTotals {
  readonly count: string;
  readonly sizeBytes: string;
}

export interface MediaStats {
  readonly states: StateTotals[];
  readonly dueNext24h: DueTotals;
  readonly dueNext7d: DueTotals;
}

export async function getStats(db: Kysely<Database>): Promise<MediaStats> {
  const states = await sql<{ state: MediaStateName; count: string; size_bytes: string }>`
    SELECT state, count(*)::bigint AS count, coalesce(sum(size_bytes), 0)::numeric AS size_bytes
    FROM media GROUP BY state`.execute(db);
  // One pass over the due index for both horizons.
  const due = await sql<{ count_24h: string; bytes_24h: string; count_7d: string; bytes_7d: string }>`
    SELECT count(*) FILTER (WHERE delete_time <= now() + interval '24 hours')::bigint AS count_24h,
           coalesce(sum(size_bytes) FILTER (WHERE delete_time <= now() + interval '24 hours'), 0)::numeric AS bytes_24h,
           count(*)::bigint AS count_7d,
           coalesce(sum(size_bytes), 0)::numeric AS bytes_7d
    FROM media
    WHERE ${sql.raw(dueBy("now() + interval '7 days'"))}`.execute(db);
  const row = due.rows[0];
  return {
    states: states.rows.map((r) => ({ state: r.state, count: r.count, sizeBytes: r.size_bytes })),
    dueNext24h: { count: row?.count_24h ?? "0", sizeBytes: row?.bytes_24h ?? "0" },
    dueNext7d: { count: row?.count_7d ?? "0", sizeBytes: row?.bytes_7d ?? "0" },
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
