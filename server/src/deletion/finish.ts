import type pg from "pg";
import { withTransaction } from "../db/transaction.ts";
import { stillClaimed } from "./claims.ts";

export interface RetryPolicy {
  /** Failed attempts after which a media becomes FAILED. */
  readonly maxAttempts: number;
  /** First retry delay; doubles per attempt, up to six hours, plus jitter. */
  readonly baseDelaySeconds: number;
}

/** Files (and their rows) one batch deleted from one store. */
export interface StoreDeletions {
  readonly store: string;
  readonly files: number;
  /** The size_bytes of the deleted rows. */
  readonly bytes: number;
}

export interface BatchOutcome {
  readonly deleted: number;
  readonly retried: number;
  readonly failed: number;
  /** deleted, per store (stores with none left out). */
  readonly deletedByStore: readonly StoreDeletions[];
}

/**
 * Records what storage did, in one transaction: rows whose files are gone are
 * deleted (with their DELETED events); rows whose files could not be deleted
 * go back to ORPHANED with a backoff delete_time, or to FAILED when out of
 * attempts; the claim and its lease end. deletedIds and failures together are
 * every file of the claim. Only rows still claimed with this token are touched.
 */
export async function finishBatch(
  pool: pg.Pool,
  token: string,
  deletedIds: readonly string[],
  failures: ReadonlyMap<string, string>,
  policy: RetryPolicy,
): Promise<BatchOutcome> {
  return withTransaction(pool, async (client) => {
    const gone = await client.query(
      `WITH gone AS (
         DELETE FROM media m WHERE m.id = ANY($1::bigint[]) AND ${stillClaimed("m", "$2::uuid")}
         RETURNING id, store, size_bytes
       ), events AS (
         INSERT INTO media_events (media_id, type, from_state, actor, reason)
         SELECT id, 'DELETED', 'DELETING', 'worker', 'file and row deleted' FROM gone
       )
       SELECT store, count(*)::int AS files, sum(size_bytes)::bigint AS bytes FROM gone GROUP BY store`,
      [deletedIds, token],
    );
    const failed = await client.query(
      `WITH f AS (SELECT * FROM unnest($1::bigint[], $2::text[]) AS f(id, error)),
       updated AS (
         UPDATE media m SET
           delete_attempts = m.delete_attempts + 1,
           last_error = left(f.error, 2000),
           state = (CASE WHEN m.delete_attempts + 1 >= $4 THEN 'FAILED' ELSE 'ORPHANED' END)::media_state,
           delete_time = CASE WHEN m.delete_attempts + 1 >= $4 THEN NULL
             ELSE now() + make_interval(secs => least($5 * power(2, m.delete_attempts), 21600) + random() * $5) END,
           orphan_time = coalesce(m.orphan_time, now()),
           claim_token = NULL, claim_time = NULL, update_time = now()
         FROM f WHERE m.id = f.id AND ${stillClaimed("m", "$3::uuid")}
         RETURNING m.id, m.state, f.error
       ), events AS (
         INSERT INTO media_events (media_id, type, from_state, to_state, actor, reason)
         SELECT id, 'DELETE_FAILED', 'DELETING', state, 'worker', left(error, 2000) FROM updated
       )
       SELECT count(*) FILTER (WHERE state = 'ORPHANED')::int AS retried,
              count(*) FILTER (WHERE state = 'FAILED')::int AS failed
       FROM updated`,
      [[...failures.keys()], [...failures.values()], token, policy.maxAttempts, policy.baseDelaySeconds],
    );
    // The job reports on every file its claim held (claimedFiles), so the claim is done with.
    await client.query("DELETE FROM deletion_claims WHERE token = $1", [token]);
    // Exact total for the hourly tally; the per-store figures are numbers (metrics).
    const deletedBytes = gone.rows.reduce((sum, r: { bytes: string }) => sum + BigInt(r.bytes), 0n);
    const deletedByStore: StoreDeletions[] = gone.rows.map((r: { store: string; files: number; bytes: string }) => ({
      store: r.store,
      files: r.files,
      bytes: Number(r.bytes),
    }));
    const outcome: BatchOutcome = {
      deleted: deletedByStore.reduce((sum, s) => sum + s.files, 0),
      retried: failed.rows[0].retried,
      failed: failed.rows[0].failed,
      deletedByStore,
    };
    // Last, so the hour's row is locked only until the commit right after.
    if (outcome.deleted + outcome.retried + outcome.failed > 0) {
      await client.query(
        `INSERT INTO deletion_hourly AS h (hour, deleted_count, deleted_bytes, failed_count)
         VALUES (date_trunc('hour', now(), 'UTC'), $1, $2, $3)
         ON CONFLICT (hour) DO UPDATE SET deleted_count = h.deleted_count + EXCLUDED.deleted_count,
           deleted_bytes = h.deleted_bytes + EXCLUDED.deleted_bytes, failed_count = h.failed_count + EXCLUDED.failed_count`,
        [outcome.deleted, deletedBytes.toString(), outcome.retried + outcome.failed],
      );
    }
    return outcome;
  });
}
