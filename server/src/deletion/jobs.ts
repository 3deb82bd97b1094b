// The job contract between the server, whose SQL enqueues jobs with
// graphile_worker.add_job in the same transaction as the change that needs
// them, and the worker, whose tasks run them.

/** Task names, as graphile-worker's task list and add_job calls spell them. */
export const TASKS = { sweep: "sweep", deleteBatch: "delete_batch" } as const;

/** The sweep's job key: a sweep requested while one is queued replaces it rather than queueing another. */
export const SWEEP_JOB_KEY = "sweep";

/** graphile-worker's own retries of a delete_batch job (a crash between steps, a database blip). */
export const BATCH_JOB_ATTEMPTS = 25;

/** What a delete_batch job carries: the claim token of the media it deletes. */
export interface DeleteBatchPayload {
  readonly token: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The payload of a delete_batch job, or an error saying what is wrong with it. */
export function parseDeleteBatchPayload(payload: unknown): DeleteBatchPayload {
  const token = (payload as { token?: unknown } | null)?.token;
  if (typeof token !== "string" || !UUID.test(token)) {
    throw new Error(`${TASKS.deleteBatch} needs a payload {"token": "<claim uuid>"}`);
  }
  return { token };
}

/** SQL that enqueues the delete_batch job for the claim token in `tokenSql` (an SQL expression). */
export const enqueueDeleteBatch = (tokenSql: string): string =>
  `graphile_worker.add_job('${TASKS.deleteBatch}', json_build_object('token', ${tokenSql}::text), max_attempts := ${BATCH_JOB_ATTEMPTS})`;

/** SQL that queues a sweep to run now. */
export const ENQUEUE_SWEEP = `graphile_worker.add_job('${TASKS.sweep}', job_key := '${SWEEP_JOB_KEY}', run_at := now())`;
