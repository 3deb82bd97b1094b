import type pg from "pg";
import type { DeletionConfig } from "../config.ts";
import { isDataFault } from "../db/sql-errors.ts";
import { withTransaction } from "../db/transaction.ts";
import { stillClaimed } from "./claims.ts";
import { recordRun } from "./runs.ts";

export interface RetryPolicy {
  /** Failed attempts after which a media becomes FAILED. */
  readonly maxAttempts: number;
  /** First retry delay; doubles per attempt, up to six hours, plus jitter. */
  readonly baseDelaySeconds: number;
}

/** The retry policy the deletion settings (DELETE_MAX_ATTEMPTS, DELETE_RETRY_DELAY) describe. */
export const retryPolicyOf = (settings: Pick<DeletionConfig, "maxAttempts" | "retryDelaySeconds">): RetryPolicy => ({
  maxAttempts: settings.maxAttempts,
  baseDelaySeconds: settings.retryDelaySeconds,
});

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
  /**
   * Rows the database refused to record (see finishBatch), by id, with why.
   * Those it could mark are FAILED (counted in failed); any it could not even
   * mark stay claimed, and the claim with them, to be taken back later.
   */
  readonly isolated: ReadonlyMap<string, string>;
}

/** Which job finishes the batch, for its deletion_runs row (written in the batch's transaction). */
export interface BatchRun {
  readonly workerId: string;
  readonly jobId: string;
  readonly startedAt: Date;
  /** Milliseconds since the job started (performance.now() then). */
  readonly elapsedMs: () => number;
}

/** The stable code of a row whose file is gone but whose row could not be recorded. */
export const ROW_NOT_RECORDED = "ROW_NOT_RECORDED";

/** What recording some of a batch's rows changed. */
interface Recorded {
  readonly byStore: Map<string, { files: number; bytes: bigint }>;
  retried: number;
  failed: number;
}

const emptyRecord = (): Recorded => ({ byStore: new Map(), retried: 0, failed: 0 });

/**
 * A deletion's rows whose files left their keys, by id with the trash
 * retention of their store in seconds: moved to the trash (retention > 0)
 * they become TRASHED tombstones until purge_time, with TRASHED events;
 * deleted outright (0) their rows go, with DELETED events.
 */
async function recordDeletedOrTrashed(
  client: pg.PoolClient,
  token: string,
  done: ReadonlyMap<string, number>,
  into: Recorded,
) {
  if (done.size === 0) return;
  const gone = await client.query<{ store: string; files: number; bytes: string }>(
    `WITH done AS (
       SELECT d.id, d.retention FROM unnest($1::bigint[], $3::float8[]) AS d(id, retention)
     ), trashed AS (
       UPDATE media m SET state = 'TRASHED', trash_time = now(),
         purge_time = now() + make_interval(secs => done.retention),
         claim_token = NULL, claim_time = NULL, delete_time = NULL, delete_attempts = 0, last_error = NULL,
         update_time = now()
       FROM done WHERE m.id = done.id AND done.retention > 0 AND ${stillClaimed("m", "$2::uuid")}
       RETURNING m.id, m.store, m.size_bytes
     ), deleted AS (
       DELETE FROM media m USING done
       WHERE m.id = done.id AND done.retention <= 0 AND ${stillClaimed("m", "$2::uuid")}
       RETURNING m.id, m.store, m.size_bytes
     ), events AS (
       INSERT INTO media_events (media_id, type, from_state, to_state, actor, reason, store)
       SELECT id, 'TRASHED', 'DELETING'::media_state, 'TRASHED'::media_state, 'worker', 'file moved to the trash', store
       FROM trashed
       UNION ALL
       SELECT id, 'DELETED', 'DELETING'::media_state, NULL, 'worker', 'file and row deleted', store FROM deleted
     )
     SELECT store, count(*)::int AS files, sum(size_bytes)::numeric::text AS bytes
     FROM (SELECT * FROM trashed UNION ALL SELECT * FROM deleted) gone GROUP BY store`,
    [[...done.keys()], token, [...done.values()]],
  );
  addByStore(into, gone.rows);
}

function addByStore(into: Recorded, rows: readonly { store: string; files: number; bytes: string }[]) {
  for (const r of rows) {
    const total = into.byStore.get(r.store) ?? { files: 0, bytes: 0n };
    into.byStore.set(r.store, { files: total.files + r.files, bytes: total.bytes + BigInt(r.bytes) });
  }
}

/**
 * A deletion's rows whose files could not be deleted: back to ORPHANED with a
 * backoff delete_time, or FAILED once out of attempts (maxAttempts 0: FAILED at once).
 */
async function recordDeleteFailed(
  client: pg.PoolClient,
  token: string,
  failures: ReadonlyMap<string, string>,
  policy: RetryPolicy,
  into: Recorded,
) {
  if (failures.size === 0) return;
  const counts = await client.query<{ retried: number; failed: number }>(
    `WITH f AS (SELECT * FROM unnest($1::bigint[], $2::text[]) AS f(id, error)),
     updated AS (
       UPDATE media m SET
         delete_attempts = m.delete_attempts + 1,
         last_error = left(f.error, 2000),
         state = (CASE WHEN m.delete_attempts + 1 >= $4 THEN 'FAILED' ELSE 'ORPHANED' END)::media_state,
         delete_time = CASE WHEN m.delete_attempts + 1 >= $4 THEN NULL
           ELSE now() + ${backoff("m", "$5")} END,
         orphan_time = coalesce(m.orphan_time, now()),
         claim_token = NULL, claim_time = NULL, update_time = now()
       FROM f WHERE m.id = f.id AND ${stillClaimed("m", "$3::uuid")}
       RETURNING m.id, m.state, f.error, m.store
     ), events AS (
       INSERT INTO media_events (media_id, type, from_state, to_state, actor, reason, store)
       SELECT id, 'DELETE_FAILED', 'DELETING', state, 'worker', left(error, 2000), store FROM updated
     )
     SELECT count(*) FILTER (WHERE state = 'ORPHANED')::int AS retried,
            count(*) FILTER (WHERE state = 'FAILED')::int AS failed
     FROM updated`,
    [[...failures.keys()], [...failures.values()], token, policy.maxAttempts, policy.baseDelaySeconds],
  );
  into.retried += counts.rows[0]?.retried ?? 0;
  into.failed += counts.rows[0]?.failed ?? 0;
}

/** SQL interval: the retry delay after `alias`'s failed attempts so far, doubling from `baseSql` up to 6 hours, plus jitter. */
const backoff = (alias: string, baseSql: string) =>
  `make_interval(secs => least(${baseSql} * power(2, ${alias}.delete_attempts), 21600) + random() * ${baseSql})`;

/** A purge's rows whose trashed files are gone: deleted, with their PURGED events. */
async function recordPurged(client: pg.PoolClient, token: string, done: ReadonlyMap<string, number>, into: Recorded) {
  if (done.size === 0) return;
  const gone = await client.query<{ store: string; files: number; bytes: string }>(
    `WITH gone AS (
       DELETE FROM media m WHERE m.id = ANY($1::bigint[]) AND ${stillClaimed("m", "$2::uuid", "TRASHED")}
       RETURNING id, store, size_bytes
     ), events AS (
       INSERT INTO media_events (media_id, type, from_state, actor, reason, store)
       SELECT id, 'PURGED', 'TRASHED', 'worker', 'trash retention over: trashed file and row deleted', store FROM gone
     )
     SELECT store, count(*)::int AS files, sum(size_bytes)::numeric::text AS bytes FROM gone GROUP BY store`,
    [[...done.keys()], token],
  );
  addByStore(into, gone.rows);
}

/**
 * A purge's rows whose trashed files could not be deleted: they stay TRASHED
 * (a tombstone never becomes FAILED: nothing live is at stake) and the purge is
 * retried with the deletion's backoff, for as long as it takes.
 */
async function recordPurgeFailed(
  client: pg.PoolClient,
  token: string,
  failures: ReadonlyMap<string, string>,
  policy: RetryPolicy,
  into: Recorded,
) {
  if (failures.size === 0) return;
  const counts = await client.query<{ retried: number }>(
    `WITH f AS (SELECT * FROM unnest($1::bigint[], $2::text[]) AS f(id, error)),
     updated AS (
       UPDATE media m SET delete_attempts = m.delete_attempts + 1, last_error = left(f.error, 2000),
         purge_time = now() + ${backoff("m", "$4")}, claim_token = NULL, claim_time = NULL, update_time = now()
       FROM f WHERE m.id = f.id AND ${stillClaimed("m", "$3::uuid", "TRASHED")}
       RETURNING m.id, f.error, m.store
     ), events AS (
       INSERT INTO media_events (media_id, type, from_state, to_state, actor, reason, store)
       SELECT id, 'PURGE_FAILED', 'TRASHED', 'TRASHED', 'worker', left(error, 2000), store FROM updated
     )
     SELECT count(*)::int AS retried FROM updated`,
    [[...failures.keys()], [...failures.values()], token, policy.baseDelaySeconds],
  );
  into.retried += counts.rows[0]?.retried ?? 0;
}

/** How one kind of batch records what storage did: its rows done, its rows failed, and its tally columns. */
interface BatchRecorder {
  readonly runKind: "batch" | "purge";
  done(client: pg.PoolClient, token: string, done: ReadonlyMap<string, number>, into: Recorded): Promise<void>;
  failed(
    client: pg.PoolClient,
    token: string,
    failures: ReadonlyMap<string, string>,
    policy: RetryPolicy,
    into: Recorded,
  ): Promise<void>;
  /** deletion_hourly's columns of files done and their bytes. */
  readonly tallied: readonly [count: string, bytes: string];
}

const DELETE_BATCH: BatchRecorder = {
  runKind: "batch",
  done: recordDeletedOrTrashed,
  failed: recordDeleteFailed,
  tallied: ["deleted_count", "deleted_bytes"],
};

const PURGE_BATCH: BatchRecorder = {
  runKind: "purge",
  done: recordPurged,
  failed: recordPurgeFailed,
  tallied: ["purged_count", "purged_bytes"],
};

/**
 * Writes the batch's deletion_runs row under a savepoint: the row is a report,
 * and a report the database refuses must never stop the batch from finishing
 * (the rows' own outcome is what matters), so a data fault rolls back only it.
 */
async function recordRunApart(
  client: pg.PoolClient,
  recorder: BatchRecorder,
  run: BatchRun,
  done: number,
  bytes: bigint,
  recorded: Recorded,
  isolated: ReadonlyMap<string, string>,
): Promise<void> {
  await client.query("SAVEPOINT deletion_run");
  try {
    await recordRun(client, {
      kind: recorder.runKind,
      workerId: run.workerId,
      jobId: run.jobId,
      startedAt: run.startedAt,
      durationMs: run.elapsedMs(),
      files: done,
      bytes,
      failures: recorded.retried + recorded.failed,
      note: isolated.size > 0 ? `${isolated.size} rows could not be recorded: set apart` : "",
    });
    await client.query("RELEASE SAVEPOINT deletion_run");
  } catch (error) {
    if (!isDataFault(error)) throw error;
    await client.query("ROLLBACK TO SAVEPOINT deletion_run");
  }
}

/** Adds the batch to the hour's tally; last, so the hour's row is locked only until the commit right after. */
async function tally(
  client: pg.PoolClient,
  recorder: BatchRecorder,
  recorded: Recorded,
  isolated: ReadonlyMap<string, string>,
  run: BatchRun | undefined,
): Promise<BatchOutcome> {
  const deletedByStore = [...recorded.byStore].map(([store, s]) => ({ store, files: s.files, bytes: Number(s.bytes) }));
  const deleted = deletedByStore.reduce((sum, s) => sum + s.files, 0);
  // Exact bytes (numeric): the per-store figures above are numbers for the metrics.
  const bytes = [...recorded.byStore.values()].reduce((sum, s) => sum + s.bytes, 0n);
  if (run !== undefined) await recordRunApart(client, recorder, run, deleted, bytes, recorded, isolated);
  if (deleted + recorded.retried + recorded.failed > 0) {
    const [count, byteColumn] = recorder.tallied;
    await client.query(
      `INSERT INTO deletion_hourly AS h (hour, ${count}, ${byteColumn}, failed_count)
       VALUES (date_trunc('hour', now(), 'UTC'), $1, $2, $3)
       ON CONFLICT (hour) DO UPDATE SET ${count} = h.${count} + EXCLUDED.${count},
         ${byteColumn} = h.${byteColumn} + EXCLUDED.${byteColumn}, failed_count = h.failed_count + EXCLUDED.failed_count`,
      [deleted, bytes.toString(), recorded.retried + recorded.failed],
    );
  }
  return { deleted, retried: recorded.retried, failed: recorded.failed, deletedByStore, isolated };
}

/** Runs fn inside a savepoint: its changes are kept when it succeeds, undone (and its error returned) when not. */
async function inSavepoint(client: pg.PoolClient, fn: () => Promise<void>): Promise<Error | undefined> {
  await client.query("SAVEPOINT finish_row");
  try {
    await fn();
    await client.query("RELEASE SAVEPOINT finish_row");
    return undefined;
  } catch (error) {
    if (!isDataFault(error)) throw error;
    await client.query("ROLLBACK TO SAVEPOINT finish_row");
    return error as Error;
  }
}

/** What storage did to one claim's files: the ids done (with their trash retention: see finishBatch) and those that failed. */
export interface StorageDone {
  readonly done: ReadonlyMap<string, number>;
  readonly failures: ReadonlyMap<string, string>;
}

/**
 * The batch again, one row at a time: every row the database accepts is
 * recorded as usual; a row it refuses is recorded as failed at once (a
 * deletion's becomes FAILED; its file is gone already, so a retry only
 * records it). The claim ends only if every row was settled one way or the other.
 */
async function finishRowByRow(
  client: pg.PoolClient,
  recorder: BatchRecorder,
  token: string,
  storage: StorageDone,
  policy: RetryPolicy,
  run: BatchRun | undefined,
): Promise<BatchOutcome> {
  const recorded = emptyRecord();
  const refused = new Map<string, string>();
  for (const [id, retention] of storage.done) {
    const error = await inSavepoint(client, () => recorder.done(client, token, new Map([[id, retention]]), recorded));
    if (error !== undefined)
      refused.set(
        id,
        `${ROW_NOT_RECORDED}: the file was acted on, but its row could not be recorded: ${error.message}`,
      );
  }
  for (const [id, reason] of storage.failures) {
    const error = await inSavepoint(client, () =>
      recorder.failed(client, token, new Map([[id, reason]]), policy, recorded),
    );
    if (error !== undefined)
      refused.set(id, `${ROW_NOT_RECORDED}: ${reason}; and its row could not be updated: ${error.message}`);
  }
  let unsettled = 0;
  for (const [id, reason] of refused) {
    const error = await inSavepoint(client, () =>
      recorder.failed(client, token, new Map([[id, reason]]), { ...policy, maxAttempts: 0 }, recorded),
    );
    if (error !== undefined) unsettled++;
  }
  if (unsettled === 0) await client.query("DELETE FROM deletion_claims WHERE token = $1", [token]);
  return tally(client, recorder, recorded, refused, run);
}

/**
 * Records a batch in one transaction; when PostgreSQL refuses it for its data
 * (a value out of range, a constraint, a trigger), running it again would fail
 * again and hold every row of the batch hostage: the batch is then recorded
 * row by row, and the rows it refuses are set apart.
 */
async function finish(
  pool: pg.Pool,
  recorder: BatchRecorder,
  token: string,
  storage: StorageDone,
  policy: RetryPolicy,
  run: BatchRun | undefined,
): Promise<BatchOutcome> {
  try {
    return await withTransaction(pool, async (client) => {
      const recorded = emptyRecord();
      await recorder.done(client, token, storage.done, recorded);
      await recorder.failed(client, token, storage.failures, policy, recorded);
      // The job reports on every file its claim held, so the claim is done with.
      await client.query("DELETE FROM deletion_claims WHERE token = $1", [token]);
      return tally(client, recorder, recorded, new Map(), run);
    });
  } catch (error) {
    if (!isDataFault(error)) throw error;
    return withTransaction(pool, (client) => finishRowByRow(client, recorder, token, storage, policy, run));
  }
}

/**
 * Records what a deletion's storage did, in one transaction: rows whose files
 * left their keys become TRASHED tombstones (`done` maps each id to its
 * store's trash retention in seconds, purge_time = now + it) or, with a
 * retention of 0 (deleted outright), are deleted, each with its TRASHED or
 * DELETED event; rows whose files could not be moved go back to ORPHANED with
 * a backoff delete_time, or to FAILED when out of attempts; the claim and its
 * lease end. `done` and `failures` together are every file of the claim. Only
 * rows still claimed with this token are touched. A row the database refuses
 * to record becomes FAILED with last_error ROW_NOT_RECORDED.
 *
 * With `run`, the batch's deletion_runs row is written in the same transaction.
 */
export const finishBatch = (
  pool: pg.Pool,
  token: string,
  storage: StorageDone,
  policy: RetryPolicy,
  run?: BatchRun,
): Promise<BatchOutcome> => finish(pool, DELETE_BATCH, token, storage, policy, run);

/**
 * Records what a purge's storage did, in one transaction: tombstones whose
 * trashed files are gone are deleted (PURGED events); the others stay TRASHED
 * with a backoff purge_time (PURGE_FAILED events); the claim ends. `done`'s
 * values are not read.
 */
export const finishPurge = (
  pool: pg.Pool,
  token: string,
  storage: StorageDone,
  policy: RetryPolicy,
  run?: BatchRun,
): Promise<BatchOutcome> => finish(pool, PURGE_BATCH, token, storage, policy, run);
