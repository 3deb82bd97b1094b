import { type Kysely, type SelectQueryBuilder, sql } from "kysely";
import { ID_PART, MICROS_PART } from "../api/page-token.ts";
import type { Database, MediaRow, MediaStateName } from "../db/schema.ts";

// The dashboard's media list: its filters, its orders, the keyset cursor each
// order continues after, and the page-token kind that carries that cursor.
//
// SQL style: the Kysely builder, because the statement is composed from
// optional filters and an order; every filter and order is served by an index
// (docs/performance.md shows the plans at 10,000,000 rows).
//
// Planner notes, each learnt at 10M rows:
// - A state filter is written `state = ANY(...)` and leads every ORDER BY, so
//   that only the (state, ...) indexes give the order. With `state = X`
//   PostgreSQL drops the constant state from the order, then prefers an index
//   on the order alone, expecting the state spread evenly; but states cluster
//   (PENDING among the newest ids, LINKED never scheduled), and that plan
//   scanned millions of rows. With an owner, the owner index gives the order.
// - The deletion-time order runs as two keysets, each simple enough for the
//   planner to estimate: scheduled media by (delete_time, id), then the
//   unscheduled ones by id. One coalesce(delete_time, 'infinity') order misled
//   it: every unscheduled row ties at infinity, which it estimates as almost
//   none. LINKED and FAILED media are never scheduled
//   (media_unscheduled_states), nor is a referenced media (it is LINKED): those
//   filters skip the first keyset, whose emptiness the planner cannot know and
//   may scan millions to prove.
// - An owner with any state but LINKED answers nothing without a query
//   (media_linked_iff_referenced).

export interface MediaFilter {
  readonly state?: MediaStateName;
  readonly store?: string;
  readonly owner?: string;
  readonly keyPrefix?: string;
  /** Media must carry every one of these labels. */
  readonly labels?: Readonly<Record<string, string>>;
  /** Moved to the trash at or after this time (TRASHED media only). */
  readonly trashedAfter?: Date;
  /** Moved to the trash before this time (TRASHED media only). */
  readonly trashedBefore?: Date;
  /** True: only media a reconciliation found without their file (media_file_missing_idx). */
  readonly fileMissing?: true;
}

/** The media list orders, the default first; each has its own keyset. */
export const MEDIA_ORDERS = ["create_time desc", "create_time", "delete_time", "purge_time"] as const;
export type MediaOrder = (typeof MEDIA_ORDERS)[number];

/**
 * Where the previous page ended: its last row's id and, in delete_time order,
 * its delete key: delete_time in microseconds since 1970 (exact, unlike a JS
 * Date, and independent of the session's DateStyle), or "infinity" for a media
 * without one; in purge_time order, purge_time the same way.
 */
export interface MediaCursor {
  readonly id: string;
  readonly deleteKey?: string;
}

export type ListedMedia = MediaRow & { readonly delete_key: string; readonly purge_key: string };

/**
 * Each order's page token: its kind (so a token only continues the order it
 * came from), the pattern of each cursor value, and the cursor values of a row.
 */
export const MEDIA_PAGE_TOKENS: Record<
  MediaOrder,
  { readonly kind: string; readonly patterns: readonly RegExp[]; cursorOf(row: ListedMedia): string[] }
> = {
  "create_time desc": { kind: "m", patterns: [ID_PART], cursorOf: (row) => [row.id] },
  create_time: { kind: "ma", patterns: [ID_PART], cursorOf: (row) => [row.id] },
  delete_time: { kind: "md", patterns: [ID_PART, MICROS_PART], cursorOf: (row) => [row.id, row.delete_key] },
  purge_time: { kind: "mp", patterns: [ID_PART, MICROS_PART], cursorOf: (row) => [row.id, row.purge_key] },
};

/** The cursor a page token's values (checked against the order's patterns) stand for. */
export const cursorFromToken = (parts: readonly string[]): MediaCursor => ({
  id: parts[0] as string,
  deleteKey: parts[1],
});

/** Escapes LIKE wildcards so a key prefix matches literally (the C collation lets the index serve it). */
export function likePrefix(prefix: string): string {
  return `${prefix.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

const DELETE_KEY_TEXT = sql<string>`CASE WHEN media.delete_time IS NULL THEN 'infinity'
  ELSE (extract(epoch FROM media.delete_time) * 1000000)::bigint::text END`;
const PURGE_KEY_TEXT = sql<string>`coalesce((extract(epoch FROM media.purge_time) * 1000000)::bigint::text, '0')`;

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
 * The filter's conditions on a query over media (ListMedia's, and the bulk
 * actions'). A state is written `state = ANY(...)` unless an owner is given
 * (see the planner notes above): the orders that lead with the state need it.
 */
export function whereMediaFilter<O>(
  query: SelectQueryBuilder<Database, "media", O>,
  filter: MediaFilter,
): SelectQueryBuilder<Database, "media", O> {
  let q = query;
  if (filter.owner !== undefined) {
    const owner = filter.owner;
    q = q.where(({ exists, selectFrom }) =>
      exists(
        selectFrom("media_references")
          .select(sql`1`.as("one"))
          .whereRef("media_references.media_id", "=", "media.id")
          .where("media_references.owner", "=", owner),
      ),
    );
  }
  if (filter.state !== undefined && filter.owner === undefined) {
    q = q.where(sql<boolean>`media.state = ANY(${[filter.state]}::media_state[])`);
  } else if (filter.state !== undefined) q = q.where("media.state", "=", filter.state);
  if (filter.store !== undefined) q = q.where("media.store", "=", filter.store);
  if (filter.keyPrefix !== undefined) q = q.where("media.key", "like", likePrefix(filter.keyPrefix));
  if (filter.labels !== undefined) {
    // The second condition lets the planner use the partial media_labels_idx.
    const wanted = JSON.stringify(filter.labels);
    q = q.where(sql<boolean>`media.labels @> ${wanted}::jsonb AND media.labels <> '{}'::jsonb`);
  }
  if (filter.trashedAfter !== undefined) q = q.where("media.trash_time", ">=", filter.trashedAfter);
  if (filter.trashedBefore !== undefined) q = q.where("media.trash_time", "<", filter.trashedBefore);
  if (filter.fileMissing === true) q = q.where("media.file_missing_time", "is not", null);
  return q;
}

/** One page of media in the given order, continuing after the cursor. */
export async function listMedia(
  db: Kysely<Database>,
  filter: MediaFilter,
  order: MediaOrder,
  after: MediaCursor | undefined,
  limit: number,
): Promise<ListedMedia[]> {
  if (filter.owner !== undefined && filter.state !== undefined && filter.state !== "LINKED") return [];
  const byState = filter.state !== undefined && filter.owner === undefined;
  let query = whereMediaFilter(
    db
      .selectFrom("media")
      .selectAll("media")
      .select(DELETE_KEY_TEXT.as("delete_key"))
      .select(PURGE_KEY_TEXT.as("purge_key")),
    filter,
  );
  switch (order) {
    case "purge_time": {
      // Tombstones only (purge_time is set exactly on them): media_trash_idx gives the order.
      let trashed = query.where("media.purge_time", "is not", null);
      if (after !== undefined) {
        const from = deleteTimeOf(after.deleteKey ?? "0");
        trashed = trashed.where(
          sql<boolean>`(media.purge_time, media.id) > (${from}::timestamptz, ${after.id}::bigint)`,
        );
      }
      return trashed.orderBy("media.purge_time").orderBy("media.id").limit(limit).execute();
    }
    case "create_time desc":
    case "create_time": {
      const direction = order === "create_time" ? "asc" : "desc";
      if (byState) query = query.orderBy("media.state", direction);
      if (after !== undefined) query = query.where("media.id", direction === "asc" ? ">" : "<", after.id);
      return query.orderBy("media.id", direction).limit(limit).execute();
    }
    case "delete_time": {
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
    default: {
      const unknown: never = order;
      throw new Error(`unknown media order ${String(unknown)}`);
    }
  }
}
