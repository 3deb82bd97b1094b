import type pg from "pg";
import type { MediaStateName } from "../db/schema.ts";
import { withTransaction } from "../db/transaction.ts";

// Files and bytes per state without counting rows (migration 0013_state_totals):
// the folded totals plus the deltas the statements on media appended since the
// last fold. Constant time whatever the table size: the deltas are few, since
// the sweep and GetStats fold them.

export interface StateTotal {
  readonly state: MediaStateName;
  readonly count: string;
  readonly sizeBytes: string;
}

type Queryable = pg.Pool | pg.PoolClient;

/** Every state's files and bytes, totals and unfolded deltas in one statement (one snapshot). */
export async function readStateTotals(q: Queryable): Promise<StateTotal[]> {
  const { rows } = await q.query<{ state: MediaStateName; count: string; size_bytes: string }>(
    `SELECT t.state, (t.files + coalesce(d.files, 0))::text AS count, (t.bytes + coalesce(d.bytes, 0))::text AS size_bytes
     FROM media_state_totals t
     LEFT JOIN (SELECT state, sum(files) AS files, sum(bytes) AS bytes FROM media_state_deltas GROUP BY state) d
       USING (state)
     ORDER BY t.state`,
  );
  return rows.map((r) => ({ state: r.state, count: r.count, sizeBytes: r.size_bytes }));
}

/** Folds the deltas into the totals; returns how many delta rows it folded. Safe to run concurrently. */
export async function foldStateDeltas(q: Queryable): Promise<number> {
  const { rows } = await q.query<{ folded: number }>(
    `WITH gone AS (DELETE FROM media_state_deltas RETURNING state, files, bytes),
     sums AS (SELECT state, sum(files) AS files, sum(bytes) AS bytes, count(*) AS n FROM gone GROUP BY state),
     applied AS (
       UPDATE media_state_totals t SET files = t.files + s.files, bytes = t.bytes + s.bytes
       FROM sums s WHERE t.state = s.state
     )
     SELECT coalesce(sum(n), 0)::int AS folded FROM sums`,
  );
  return rows[0]?.folded ?? 0;
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
 * Recounts every state from the rows and makes the totals say so. Writers wait
 * meanwhile (a SHARE lock on media: a full count, seconds at 10,000,000 rows).
 * Returns the states whose totals had drifted.
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
