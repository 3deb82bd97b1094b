import type pg from "pg";
import { MEDIA_STATES, type MediaStateName } from "../db/schema.ts";
import { withTransaction } from "../db/transaction.ts";
import { DUE_NOW } from "../deletion/due.ts";
import { readStateTotals, readWindow } from "../media/state-totals.ts";

// The SQL behind the lifecycle gauges: one read-only transaction (so the three
// reads see the same now()), bounded by a statement timeout.

export interface LifecycleSnapshot {
  readonly files: ReadonlyMap<MediaStateName, number>;
  readonly bytes: ReadonlyMap<MediaStateName, number>;
  /** Due for deletion (unheld PENDING/ORPHANED past delete_time) and not yet claimed. */
  readonly overdueFiles: number;
  /** now() - the oldest overdue delete_time; 0 when none. */
  readonly oldestOverdueAgeSeconds: number;
  readonly paused: boolean;
  readonly blastRadiusTripped: boolean;
}

export async function readLifecycleSnapshot(pool: pg.Pool, statementTimeoutMs: number): Promise<LifecycleSnapshot> {
  return withTransaction(
    pool,
    async (client) => {
      await client.query(`SET LOCAL statement_timeout = ${Math.max(1, Math.floor(statementTimeoutMs))}`);
      // Without counting rows (media/state-totals.ts): the same whatever the table size.
      const states = await readStateTotals(client);
      // What a sweep would claim: the due window up to now (state-totals.ts), and its oldest entry
      // (the first of media_due_idx); claimed rows are DELETING and drop out.
      const overdue = await readWindow(client, "due", "now()");
      const oldest = await client.query<{ age: number }>(
        `SELECT coalesce(extract(epoch FROM now() - min(delete_time)), 0)::float8 AS age FROM media WHERE ${DUE_NOW}`,
      );
      const control = await client.query<{ paused: boolean; tripped: boolean }>(
        "SELECT paused, guard_tripped_time IS NOT NULL AS tripped FROM deletion_control",
      );
      // Every state, so the gauges report zeros for states without rows.
      const files = new Map<MediaStateName, number>(MEDIA_STATES.map((s) => [s, 0]));
      const bytes = new Map<MediaStateName, number>(MEDIA_STATES.map((s) => [s, 0]));
      for (const row of states) {
        files.set(row.state, Number(row.count));
        bytes.set(row.state, Number(row.sizeBytes));
      }
      return {
        files,
        bytes,
        overdueFiles: Number(overdue.count),
        oldestOverdueAgeSeconds: Math.max(0, oldest.rows[0]?.age ?? 0),
        paused: control.rows[0]?.paused ?? false,
        blastRadiusTripped: control.rows[0]?.tripped ?? false,
      };
    },
    "BEGIN READ ONLY",
  );
}
