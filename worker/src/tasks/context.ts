import type { DeletionConfig } from "@media/server/config";
import type { DatabaseHandle } from "@media/server/db";
import type { Logger } from "@media/server/logger";
import type { Metrics } from "@media/server/metrics";
import type { ObjectStore } from "@media/server/storage";
import type { JobHelpers } from "graphile-worker";
import type pg from "pg";

/** What the tasks need; built once per worker process. */
export interface TaskContext {
  readonly pool: pg.Pool;
  /** The pool's Kysely, for the statements composed from a filter (the bulk actions'). */
  readonly db: DatabaseHandle["db"];
  readonly stores: ReadonlyMap<string, ObjectStore>;
  readonly settings: DeletionConfig;
  readonly log: Logger;
  readonly metrics: Metrics;
  /** This worker process's id: its heartbeat row's, and the worker_id of the runs it records. */
  readonly workerId: string;
  /** GRACE_PERIOD: a bulk restore's ORPHANED media are due again this long after. */
  readonly gracePeriodSeconds: number;
}

/** A logger for one job run: every line carries the task name and graphile-worker's job id. */
export function jobLogger(log: Logger, helpers: JobHelpers): Logger {
  return log.child({ task: helpers.job.task_identifier, jobId: helpers.job.id });
}
