import type { DeletionConfig } from "@media/server/config";
import type { Logger } from "@media/server/logger";
import type { ObjectStore } from "@media/server/storage";
import type pg from "pg";

/** What the tasks need; built once per worker process. */
export interface TaskContext {
  readonly pool: pg.Pool;
  readonly stores: ReadonlyMap<string, ObjectStore>;
  readonly settings: DeletionConfig;
  readonly log: Logger;
}

/** graphile-worker's own retries of a delete_batch job (a crash between steps, a database blip). */
export const BATCH_JOB_ATTEMPTS = 25;
