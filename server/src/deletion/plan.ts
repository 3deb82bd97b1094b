import type pg from "pg";
import type { MediaRow } from "../db/schema.ts";
import { isJobQueueMissing } from "../db/sql-errors.ts";
import { dueBy } from "./due.ts";
import { enqueueSweep, jobTraceParameter } from "./jobs.ts";

// What the deletion engine is about to do, and a sweep on request: the
// dashboard's deletion plan and its "Run sweep now".
//
// SQL style: raw statements on the pool, like the rest of the engine, since
// the due rule (due.ts) is SQL text shared with the claim and the guard.

export interface DeletionPlan {
  readonly stores: Array<{ store: string; count: string; sizeBytes: string }>;
  readonly samples: MediaRow[];
}

/** What is due within `hours` (overdue included), per store, with the soonest samples. */
export async function deletionPlan(pool: pg.Pool, hours: number, sampleSize: number): Promise<DeletionPlan> {
  const due = dueBy("now() + make_interval(hours => $1)");
  const stores = await pool.query(
    `SELECT store, count(*)::bigint AS count, coalesce(sum(size_bytes), 0)::numeric AS size_bytes
     FROM media WHERE ${due} GROUP BY store ORDER BY store`,
    [hours],
  );
  const samples = await pool.query<MediaRow>(`SELECT * FROM media WHERE ${due} ORDER BY delete_time, id LIMIT $2`, [
    hours,
    sampleSize,
  ]);
  return {
    stores: stores.rows.map((r) => ({ store: r.store, count: r.count, sizeBytes: r.size_bytes })),
    samples: samples.rows,
  };
}

/** The sweep job RunSweep queued: graphile-worker's job id and when it may run. */
export interface QueuedSweep {
  readonly jobId: string;
  readonly runTime: Date;
}

/**
 * Queues a sweep now, continuing the caller's trace (RunSweep's): the job
 * queued, or undefined when no worker has ever started here (no job queue yet).
 */
export async function requestSweep(pool: pg.Pool): Promise<QueuedSweep | undefined> {
  try {
    // add_job answers a row of nulls when a worker picks up the queued sweep between its two
    // statements (graphile-worker's add_jobs clears the key of a job already locked, then replaces
    // only an unlocked one): asking again then queues a new sweep behind the running one.
    for (let attempt = 0; attempt < 3; attempt++) {
      const { rows } = await pool.query<{ job_id: string | null; run_at: Date | null }>(
        `SELECT j.id::text AS job_id, j.run_at FROM ${enqueueSweep("$1")} AS j`,
        [jobTraceParameter()],
      );
      const row = rows[0];
      if (row?.job_id != null && row.run_at !== null) return { jobId: row.job_id, runTime: row.run_at };
    }
    throw new Error("graphile_worker.add_job answered no job three times");
  } catch (error) {
    if (isJobQueueMissing(error)) return undefined;
    throw error;
  }
}
