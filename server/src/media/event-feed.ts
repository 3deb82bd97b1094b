import type pg from "pg";
import type { MediaEventRow, MediaEventTypeName } from "../db/schema.ts";

// The change feed's reads (MediaService.ListEvents): the audit log in commit
// order. Event ids are taken before commit, so they do not commit in order;
// the feed orders events by (xact, id), their transaction's id first
// (migration 0009), and shows only events below the horizon, the oldest
// transaction still running (pg_snapshot_xmin): every transaction below it has
// ended, so nothing can later appear before an event shown. Each call examines
// at most SCAN_LIMIT events after its cursor, so a filter that matches little
// cannot make it slow; the cursor moves over what was examined.
//
// SQL style: raw named statements on the pool (a follower's hot path). The
// filters are parameters that are null when unset, applied to the bounded
// scan, so one plan serves every filter.

/** A place in the feed: an event's (xact, id); (0, 0) is before the first event. */
export interface FeedPosition {
  readonly xact: bigint;
  readonly id: bigint;
}

export const FEED_START: FeedPosition = { xact: 0n, id: 0n };

/** The most events one call examines after its cursor. */
export const SCAN_LIMIT = 10_000;

export interface FeedFilter {
  readonly types: readonly MediaEventTypeName[] | undefined;
  readonly ownerPrefix: string | undefined;
  readonly store: string | undefined;
  readonly actor: string | undefined;
  readonly startTime: Date | undefined;
  readonly endTime: Date | undefined;
}

/** What a limited token may see: events of media in these stores, and of owners under these prefixes. */
export interface FeedReach {
  readonly stores: readonly string[] | undefined;
  readonly ownerPrefixes: readonly string[] | undefined;
}

export interface FeedPage {
  readonly events: MediaEventRow[];
  /** The last event examined (the cursor when none was). */
  readonly next: FeedPosition;
  /** True when the scan reached the horizon: nothing more is committed now. */
  readonly caughtUp: boolean;
}

export const before = (a: FeedPosition, b: FeedPosition) => a.xact < b.xact || (a.xact === b.xact && a.id < b.id);

const positionOf = (row: { xact: string; id: string }): FeedPosition => ({
  xact: BigInt(row.xact),
  id: BigInt(row.id),
});

/** The feed position of an event, by id; undefined when no event has that id. */
export async function eventPosition(pool: pg.Pool, eventId: bigint): Promise<FeedPosition | undefined> {
  if (eventId === 0n) return FEED_START;
  const { rows } = await pool.query<{ xact: string; id: string }>({
    name: "event_feed_position",
    text: "SELECT xact::text AS xact, id::text AS id FROM media_events WHERE id = $1",
    values: [eventId.toString()],
  });
  return rows[0] === undefined ? undefined : positionOf(rows[0]);
}

/**
 * The highest event id handed out so far. Events are never deleted one by one, so an id at or below it
 * that names no event is either a rolled-back one (no feed ever answered it) or one EVENTS_RETENTION dropped.
 */
export async function lastEventIdAssigned(pool: pg.Pool): Promise<bigint> {
  const { rows } = await pool.query<{ id: string }>("SELECT last_value::text AS id FROM media_events_id_seq");
  return BigInt(rows[0]?.id ?? 0);
}

/** The feed's current end: its last event below the horizon (FEED_START when there is none). One short index read. */
export async function feedEnd(pool: pg.Pool): Promise<FeedPosition> {
  const { rows } = await pool.query<{ xact: string; id: string }>({
    name: "event_feed_end",
    // Qualified: the ORDER BY reads the columns (and their index), not the text the SELECT makes of them.
    text: `SELECT e.xact::text AS xact, e.id::text AS id FROM media_events e
           WHERE e.xact < pg_snapshot_xmin(pg_current_snapshot()) ORDER BY e.xact DESC, e.id DESC LIMIT 1`,
  });
  return rows[0] === undefined ? FEED_START : positionOf(rows[0]);
}

// $1 $2 the cursor, $3 the scan limit, $4-$9 the filter, $10 $11 the reach, $12 how many hits to read.
const PAGE = `SELECT h.horizon::text AS horizon, e.*
  FROM (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS horizon) h
  LEFT JOIN LATERAL (
    SELECT s.* FROM (
      SELECT * FROM media_events
      WHERE (xact, id) > ($1::xid8, $2::bigint) AND xact < h.horizon
      ORDER BY xact, id LIMIT $3
    ) s
    WHERE ($4::text[] IS NULL OR s.type = ANY($4::text[]))
      AND ($5::text IS NULL OR starts_with(s.owner, $5::text))
      AND ($6::text IS NULL OR s.store = $6::text)
      AND ($7::text IS NULL OR s.actor = $7::text)
      AND ($8::timestamptz IS NULL OR s.create_time >= $8::timestamptz)
      AND ($9::timestamptz IS NULL OR s.create_time < $9::timestamptz)
      AND ($10::text[] IS NULL OR s.store = ANY($10::text[]))
      AND ($11::text[] IS NULL OR s.owner IS NULL
           OR EXISTS (SELECT 1 FROM unnest($11::text[]) AS p(prefix) WHERE starts_with(s.owner, p.prefix)))
    ORDER BY s.xact, s.id LIMIT $12
  ) e ON true`;

// The end of the scan window after the cursor below a horizon: its last two rows
// and their places in it ($4: the scan limit, plus one to tell whether more follows).
const WINDOW_END = `SELECT s.xact::text AS xact, s.id::text AS id, s.n::int AS n FROM (
    SELECT xact, id, row_number() OVER (ORDER BY xact, id) AS n FROM (
      SELECT xact, id FROM media_events
      WHERE (xact, id) > ($1::xid8, $2::bigint) AND xact < $3::xid8
      ORDER BY xact, id LIMIT $4
    ) w
  ) s ORDER BY s.n DESC LIMIT 2`;

const isUnfiltered = (filter: FeedFilter, reach: FeedReach) =>
  Object.values(filter).every((v) => v === undefined) &&
  reach.stores === undefined &&
  reach.ownerPrefixes === undefined;

/**
 * One page of the feed after `after`: up to pageSize events matching the
 * filter and the reach, in feed order, among at most SCAN_LIMIT examined.
 */
export async function readFeedPage(
  pool: pg.Pool,
  after: FeedPosition,
  filter: FeedFilter,
  reach: FeedReach,
  pageSize: number,
): Promise<FeedPage> {
  const cursor = [after.xact.toString(), after.id.toString()];
  const { rows } = await pool.query<MediaEventRow & { horizon: string; id: string | null }>({
    name: "event_feed_page",
    text: PAGE,
    values: [
      ...cursor,
      SCAN_LIMIT,
      filter.types ?? null,
      filter.ownerPrefix ?? null,
      filter.store ?? null,
      filter.actor ?? null,
      filter.startTime ?? null,
      filter.endTime ?? null,
      reach.stores ?? null,
      reach.ownerPrefixes ?? null,
      pageSize + 1,
    ],
  });
  const horizon = rows[0]?.horizon as string;
  const hits = rows.filter((r) => r.id !== null).map(({ horizon: _, ...event }) => event as MediaEventRow);
  if (hits.length > pageSize) {
    const events = hits.slice(0, pageSize);
    return { events, next: positionOf(events[pageSize - 1] as MediaEventRow), caughtUp: false };
  }
  // Fewer hits than asked for: the whole scan window was examined.
  if (isUnfiltered(filter, reach)) {
    const last = hits.at(-1);
    return { events: hits, next: last === undefined ? after : positionOf(last), caughtUp: true };
  }
  const end = await pool.query<{ xact: string; id: string; n: number }>({
    name: "event_feed_window_end",
    text: WINDOW_END,
    values: [...cursor, horizon, SCAN_LIMIT + 1],
  });
  const [last, previous] = end.rows;
  if (last === undefined) return { events: hits, next: after, caughtUp: true };
  if (last.n <= SCAN_LIMIT) return { events: hits, next: positionOf(last), caughtUp: true };
  return { events: hits, next: positionOf(previous ?? last), caughtUp: false };
}
