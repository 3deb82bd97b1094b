import type { Config } from "@media/server/config";
import { connectDatabase, migrateToLatest, SESSION_OPTIONS } from "@media/server/db";
import { pauseDeletions, SWEEP_JOB_KEY, TASKS } from "@media/server/deletion";
import type { Logger } from "@media/server/logger";
import { createMetrics, type Metrics } from "@media/server/metrics";
import { openStores } from "@media/server/storage";
import { Logger as GraphileLogger, type Runner, run } from "graphile-worker";
import pg from "pg";
import type { TaskContext } from "./tasks/context.ts";
import { createDeleteBatchTask } from "./tasks/delete-batch.ts";
import { createSweepTask } from "./tasks/sweep.ts";

export interface RunningWorker {
  /** Stops taking jobs, lets running batches finish, closes connections. */
  stop(): Promise<void>;
}

/** graphile-worker logs every job at info with its whole row; that is debug detail here. */
function graphileLogger(log: Logger): GraphileLogger {
  return new GraphileLogger((scope) => (level, message, meta) => {
    const method = level === "warning" ? "warn" : level === "info" ? "debug" : level;
    log[method]({ ...scope, ...meta }, message);
  });
}

/**
 * Starts a graphile-worker runner with the deletion tasks and the sweep on its
 * crontab schedule. graphile-worker installs and migrates its own schema.
 * The tasks count their work in metrics (the process's registry, served on
 * /metrics); without one they count into a private registry nobody reads.
 */
export async function startWorker(
  config: Config,
  databaseUrl: string,
  log: Logger,
  metrics: Metrics = createMetrics({ defaultMetrics: false }),
): Promise<RunningWorker> {
  // First: overlapping or missing stores stop start-up before anything connects.
  const stores = openStores(config.stores);
  // A worker may start before any API process, or after an upgrade: its SQL
  // needs the schema its code was written for (migrations take an advisory lock).
  const schema = connectDatabase({ url: databaseUrl, poolSize: 1 });
  try {
    await migrateToLatest(schema.db);
  } finally {
    await schema.close();
  }
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max: config.deletion.workerConcurrency + 2,
    options: SESSION_OPTIONS,
  });
  pool.on("error", (err) => log.warn({ err }, "idle worker connection failed"));
  pool.on("connect", (client) => client.on("error", () => {}));
  const ctx: TaskContext = {
    pool,
    stores,
    settings: config.deletion,
    log: log.child({ component: "worker" }),
    metrics,
  };
  metrics.initStores(config.stores.keys());
  let runner: Runner;
  try {
    runner = await run({
      connectionString: databaseUrl,
      concurrency: config.deletion.workerConcurrency,
      noHandleSignals: true,
      pollInterval: 1000,
      logger: graphileLogger(ctx.log),
      taskList: { [TASKS.sweep]: createSweepTask(ctx), [TASKS.deleteBatch]: createDeleteBatchTask(ctx) },
      crontab: `${config.deletion.sweepSchedule} ${TASKS.sweep} ?max=1&jobKey=${SWEEP_JOB_KEY}`,
    });
    if (config.deletion.startPaused) await pauseDeletions(pool, "paused by DELETIONS_PAUSED at start");
  } catch (error) {
    await pool.end();
    throw error;
  }
  return {
    async stop() {
      await runner.stop();
      await pool.end();
    },
  };
}
