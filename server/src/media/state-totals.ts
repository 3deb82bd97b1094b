import type pg from "pg";
import type { MediaStateName } from "../db/schema.ts";
import { withTransaction } from "../db/transaction.ts";
import { dueBy, purgeDueBy } from "../deletion/due.ts";

// Files and bytes per state, and due within a window, without counting rows
// (migration 0013_state_totals): the folded totals plus the deltas the
// statements on media appended since the last fold. Constant time whatever
// the table size: the deltas are few, since the sweep and GetStats fold them,
// and a window reads its whole five-minute slots from the totals and only its
// last, partial slot from the index.

export interface StateTotal {
  readonly state: MediaStateName;
  readonly count: string;
  readonly sizeBytes: string;
}

type Queryable = pg.Pool | pg.PoolClient;

/** A window's slot, as migration 0013's media_change_windows cuts time: a partial slot is read from the index. */
const WINDOW_SLOT_SECONDS = 300;

/** Files and bytes of the states that have any (others are zero), totals and unfolded deltas in one statement (one snapshot). */
export async function readStateTotals(q: Queryable): Promise<StateTotal[]> {
  const { rows } = await q.query<{ state: MediaStateName; count: string; size_bytes: string }>(
    `SELECT state, (coalesce(t.files, 0) + coalesce(d.files, 0))::text AS count,
            (coalesce(t.bytes, 0) + coalesce(d.bytes, 0))::text AS size_bytes
     FROM media_state_totals t
     FULL JOIN (SELECT state, sum(files) AS files, sum(bytes) AS bytes FROM media_state_deltas GROUP BY state) d
       USING (state)
     ORDER BY state`,
  );
  return rows.map((r) => ({ state: r.state, count: r.count, sizeBytes: r.size_bytes }));
}

/** Which window: scheduled for deletion (by delete_time, SCHEDULED) or in the trash (by purge_time, IN_TRASH). */
export type WindowKind = "due" | "purge";

const WINDOW_RULES: Record<WindowKind, { column: string; upTo: (at: string) => string }> = {
  due: { column: "delete_time", upTo: dueBy },
  purge: { column: "purge_time", upTo: purgeDueBy },
};

/**
 * Files and bytes of a window up to `at` (an SQL timestamptz expression),
 * overdue included: the whole slots before at's slot from the totals, the rest
 * of at's slot from the window's index.
 */
export async function readWindow(q: Queryable, kind: WindowKind, at: string): Promise<Omit<StateTotal, "state">> {
  const { column, upTo } = WINDOW_RULES[kind];
  const edge = `floor(extract(epoch FROM ${at}) / ${WINDOW_SLOT_SECONDS})::bigint`;
  const { rows } = await q.query<{ count: string; size_bytes: string }>(
    `WITH slots AS (
       SELECT files, bytes FROM media_window_totals WHERE kind = $1 AND slot < ${edge}
       UNION ALL
       SELECT files, bytes FROM media_window_deltas WHERE kind = $1 AND slot < ${edge}
     ), rest AS (
       SELECT count(*) AS files, coalesce(sum(size_bytes), 0) AS bytes FROM media
       WHERE ${upTo(at)} AND ${column} >= to_timestamp(${edge} * ${WINDOW_SLOT_SECONDS})
     )
     SELECT ((SELECT coalesce(sum(files), 0) FROM slots) + rest.files)::text AS count,
            ((SELECT coalesce(sum(bytes), 0) FROM slots) + rest.bytes)::text AS size_bytes
     FROM rest`,
    [kind],
  );
  return { count: rows[0]?.count ?? "0", sizeBytes: rows[0]?.size_bytes ?? "0" };
}

/** Folds the deltas into the totals; returns how many delta rows it folded. Safe to run concurrently. */
export async function foldStateDeltas(q: Queryable): Promise<number> {
  const { rows } = await q.query<{ folded: number }>(
    `WITH gone AS (DELETE FROM media_state_deltas RETURNING state, files, bytes),
     sums AS (SELECT state, sum(files) AS files, sum(bytes) AS bytes, count(*) AS n FROM gone GROUP BY state),
     applied AS (
       INSERT INTO media_state_totals AS t (state, files, bytes) SELECT state, files, bytes FROM sums
       ON CONFLICT (state) DO UPDATE SET files = t.files + excluded.files, bytes = t.bytes + excluded.bytes
     )
     SELECT coalesce(sum(n), 0)::int AS folded FROM sums`,
  );
  const windows = await q.query<{ folded: number }>(
    `WITH gone AS (DELETE FROM media_window_deltas RETURNING kind, slot, files, bytes),
     sums AS (SELECT kind, slot, sum(files) AS files, sum(bytes) AS bytes, count(*) AS n FROM gone GROUP BY kind, slot),
     applied AS (
       INSERT INTO media_window_totals AS t (kind, slot, files, bytes) SELECT kind, slot, files, bytes FROM sums
       ON CONFLICT (kind, slot) DO UPDATE SET files = t.files + excluded.files, bytes = t.bytes + excluded.bytes
     )
     SELECT coalesce(sum(n), 0)::int AS folded FROM sums`,
  );
  // Slots whose media have all been claimed or moved on (a separate statement: it must see the fold).
  await q.query("DELETE FROM media_window_totals WHERE files = 0 AND bytes = 0");
  return (rows[0]?.folded ?? 0) + (windows.rows[0]?.folded ?? 0);
}

/** A state whose totals disagreed with its rows, and by how much. */
export interface StateDrift {
  readonly state: MediaStateName;
  readonly countedFiles: string;
  readonly countedBytes: string;
  readonly driftFiles: string;
  readonly driftBytes: string;
}

/**
 * Recounts every state and window from the rows and makes the totals say so.
 * Writers wait meanwhile (a SHARE lock on media: a full count, seconds at
 * 10,000,000 rows). Returns the states whose totals had drifted.
 */
export async function repairStateTotals(pool: pg.Pool): Promise<StateDrift[]> {
  return withTransaction(pool, async (client) => {
    await client.query("LOCK TABLE media IN SHARE MODE");
    const before = new Map((await readStateTotals(client)).map((t) => [t.state, t]));
    const { rows } = await client.query<{ state: MediaStateName; files: string; bytes: string }>(
      `SELECT s.state, count(m.id)::text AS files, coalesce(sum(m.size_bytes), 0)::text AS bytes
       FROM unnest(enum_range(NULL::media_state)) AS s(state) LEFT JOIN media m ON m.state = s.state
       GROUP BY s.state ORDER BY s.state`,
    );
    await client.query("DELETE FROM media_state_deltas");
    await client.query("DELETE FROM media_window_deltas");
    await client.query("DELETE FROM media_window_totals");
    await client.query(
      `INSERT INTO media_window_totals (kind, slot, files, bytes)
       SELECT w.kind, w.slot, count(*), sum(m.size_bytes)
       FROM media m CROSS JOIN LATERAL media_change_windows(m.state, m.hold_reason, m.claim_token,
         m.delete_time, m.purge_time) w
       GROUP BY w.kind, w.slot`,
    );
    await client.query(
      `INSERT INTO media_state_totals (state, files, bytes)
       SELECT * FROM unnest($1::media_state[], $2::bigint[], $3::numeric[])
       ON CONFLICT (state) DO UPDATE SET files = excluded.files, bytes = excluded.bytes`,
      [rows.map((r) => r.state), rows.map((r) => r.files), rows.map((r) => r.bytes)],
    );
    return rows
      .map((r) => {
        const had = before.get(r.state);
        return {
          state: r.state,
          countedFiles: r.files,
          countedBytes: r.bytes,
          driftFiles: (BigInt(had?.count ?? "0") - BigInt(r.files)).toString(),
          driftBytes: (BigInt(had?.sizeBytes ?? "0") - BigInt(r.bytes)).toString(),
        };
      })
      .filter((d) => d.driftFiles !== "0" || d.driftBytes !== "0");
  });
}
