import type pg from "pg";

// What the workers did and which of them are alive: worker heartbeats (one
// row per worker process) and the recent sweeps and batches (deletion_runs),
// for the dashboard's Jobs page.
//
// SQL style: raw statements on the pool (or a task's transaction), like the
// rest of the engine.

/** How often a worker writes its heartbeat; a row older than a few of these is a worker gone. */
export const HEARTBEAT_INTERVAL_SECONDS = 15;

/** ListWorkers answers the workers seen within this window. */
export const WORKERS_SEEN_WITHIN_SECONDS = 3600;

/** Runs (and heartbeats) older than this are deleted by the sweep. */
export const RUN_RETENTION_DAYS = 7;

type Queryable = pg.Pool | pg.PoolClient;

/** One worker process, as its heartbeat describes it. */
export interface WorkerIdentity {
  readonly id: string;
  readonly host: string;
  readonly pid: number;
  readonly version: string;
  readonly concurrency: number;
}

/** Writes the worker's heartbeat: its row at the first beat, last_seen_at now at every later one. */
export async function recordHeartbeat(db: Queryable, worker: WorkerIdentity): Promise<void> {
  await db.query(
    `INSERT INTO worker_heartbeats (id, host, pid, version, concurrency) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (id) DO UPDATE SET last_seen_at = now()`,
    [worker.id, worker.host, worker.pid, worker.version, worker.concurrency],
  );
}

export type DeletionRunKind = "sweep" | "batch" | "purge";

/** A finished sweep or batch, as its task records it. */
export interface NewDeletionRun {
  readonly kind: DeletionRunKind;
  readonly workerId: string;
  readonly jobId: string;
  readonly startedAt: Date;
  readonly durationMs: number;
  readonly files?: number;
  readonly bytes?: bigint;
  readonly failures?: number;
  readonly reclaimed?: number;
  readonly note?: string;
}

/** Records a finished run; inside the task's transaction where it has one. */
export async function recordRun(db: Queryable, run: NewDeletionRun): Promise<void> {
  await db.query(
    `INSERT INTO deletion_runs (kind, worker_id, job_id, started_at, finished_at, duration_ms, files, bytes, failures, reclaimed, note)
     VALUES ($1, $2, $3, $4, clock_timestamp(), $5, $6, $7, $8, $9, left($10, 2000))`,
    [
      run.kind,
      run.workerId,
      run.jobId,
      run.startedAt,
      Math.max(0, Math.round(run.durationMs)),
      run.files ?? 0,
      (run.bytes ?? 0n).toString(),
      run.failures ?? 0,
      run.reclaimed ?? 0,
      run.note ?? "",
    ],
  );
}

/** Deletes runs, and heartbeats of workers gone, older than RUN_RETENTION_DAYS; the sweep runs it. */
export async function pruneRuns(db: Queryable): Promise<{ runs: number; workers: number }> {
  const interval = `make_interval(days => ${RUN_RETENTION_DAYS})`;
  const runs = await db.query(`DELETE FROM deletion_runs WHERE finished_at < now() - ${interval}`);
  const workers = await db.query(`DELETE FROM worker_heartbeats WHERE last_seen_at < now() - ${interval}`);
  return { runs: runs.rowCount ?? 0, workers: workers.rowCount ?? 0 };
}

export interface DeletionRunRow {
  id: string;
  kind: DeletionRunKind;
  worker_id: string;
  job_id: string;
  started_at: Date;
  finished_at: Date;
  duration_ms: string;
  files: string;
  /** numeric, as text. */
  bytes: string;
  failures: string;
  reclaimed: string;
  note: string;
}

/** Runs newest first (by id), after the keyset `beforeId` (exclusive) when given. */
export async function listDeletionRuns(
  db: Queryable,
  beforeId: string | undefined,
  limit: number,
): Promise<DeletionRunRow[]> {
  const { rows } = await db.query<DeletionRunRow>(
    `SELECT id::text, kind, worker_id::text, job_id, started_at, finished_at, duration_ms::text,
            files::text, bytes::text, failures::text, reclaimed::text, note
     FROM deletion_runs WHERE $1::bigint IS NULL OR id < $1::bigint ORDER BY id DESC LIMIT $2`,
    [beforeId ?? null, limit],
  );
  return rows;
}

export interface WorkerHeartbeatRow {
  id: string;
  host: string;
  pid: number;
  version: string;
  concurrency: number;
  started_at: Date;
  last_seen_at: Date;
}

/** Workers whose last heartbeat is within `withinSeconds`, most recently seen first. */
export async function listWorkers(
  db: Queryable,
  withinSeconds = WORKERS_SEEN_WITHIN_SECONDS,
): Promise<WorkerHeartbeatRow[]> {
  const { rows } = await db.query<WorkerHeartbeatRow>(
    `SELECT id::text, host, pid, version, concurrency, started_at, last_seen_at FROM worker_heartbeats
     WHERE last_seen_at >= now() - make_interval(secs => $1) ORDER BY last_seen_at DESC, id LIMIT 1000`,
    [withinSeconds],
  );
  return rows;
}
