import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { buildInfo } from "@media/server/build-info";
import type { Config } from "@media/server/config";
import { connectDatabase, migrateDatabase, type SessionLimits } from "@media/server/db";
import { withDeadline } from "@media/server/deadline";
import {
  HEARTBEAT_INTERVAL_SECONDS,
  pauseDeletions,
  recordHeartbeat,
  SWEEP_JOB_KEY,
  TASKS,
  type WorkerIdentity,
} from "@media/server/deletion";
import type { Logger } from "@media/server/logger";
import { createMetrics, type Metrics } from "@media/server/metrics";
import { openStores } from "@media/server/storage";
import { Logger as GraphileLogger, type Runner, run } from "graphile-worker";
import { connectQueuePool } from "./queue-pool.ts";
import { createBulkActionTask } from "./tasks/bulk-action.ts";
import type { TaskContext } from "./tasks/context.ts";
import { createDeleteBatchTask } from "./tasks/delete-batch.ts";
import { createPurgeBatchTask } from "./tasks/purge-batch.ts";
import { createReconcileTask } from "./tasks/reconcile.ts";
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
  const connectTimeoutMs = config.databaseConnectTimeoutSeconds * 1000;
  await migrateDatabase(databaseUrl, connectTimeoutMs);
  // PostgreSQL ends a worker statement, or a transaction left idle, past DATABASE_STATEMENT_TIMEOUT:
  // a worker stopped mid-transaction (SIGSTOP, a frozen VM) cannot hold row locks the API waits on.
  const limitMs = config.databaseStatementTimeoutSeconds * 1000;
  const limits: SessionLimits = { statementTimeoutMs: limitMs, idleInTransactionTimeoutMs: limitMs };
  const poolOptions = {
    url: databaseUrl,
    poolSize: config.deletion.workerConcurrency + 2,
    connectTimeoutMs,
    sessionLimits: limits,
  };
  const tasks = connectDatabase({
    ...poolOptions,
    onIdleError: (err) => log.warn({ err }, "idle worker connection failed; the pool will reconnect"),
  });
  const queue = connectQueuePool({
    ...poolOptions,
    onIdleError: (err) => log.warn({ err }, "idle job-queue connection failed; the pool will reconnect"),
  });
  const closePools = async () => {
    await queue.close();
    await tasks.close();
  };
  const pool = tasks.pool;
  const identity: WorkerIdentity = {
    id: randomUUID(),
    host: hostname(),
    pid: process.pid,
    version: buildInfo().version,
    concurrency: config.deletion.workerConcurrency,
  };
  const ctx: TaskContext = {
    pool,
    db: tasks.db,
    stores,
    settings: config.deletion,
    log: log.child({ component: "worker" }),
    metrics,
    workerId: identity.id,
    gracePeriodSeconds: config.gracePeriodSeconds,
  };
  metrics.initStores(config.stores.keys());
  let runner: Runner;
  try {
    // The first heartbeat before any job: the runs this worker records name a worker the dashboard lists.
    await recordHeartbeat(pool, identity);
    runner = await run({
      pgPool: queue.pool,
      concurrency: config.deletion.workerConcurrency,
      noHandleSignals: true,
      pollInterval: 1000,
      logger: graphileLogger(ctx.log),
      taskList: {
        [TASKS.sweep]: createSweepTask(ctx),
        [TASKS.deleteBatch]: createDeleteBatchTask(ctx),
        [TASKS.purgeBatch]: createPurgeBatchTask(ctx),
        [TASKS.bulkAction]: createBulkActionTask(ctx),
        [TASKS.reconcile]: createReconcileTask(ctx),
      },
      crontab: `${config.deletion.sweepSchedule} ${TASKS.sweep} ?max=1&jobKey=${SWEEP_JOB_KEY}`,
    });
    if (config.deletion.startPaused) await pauseDeletions(pool, "paused by DELETIONS_PAUSED at start");
  } catch (error) {
    await closePools();
    throw error;
  }
  // graphile-worker ends its pool of workers itself after errors it cannot get past; say so
  // loudly instead of leaving an unhandled rejection (the process would die) or a silent idle worker.
  runner.promise.catch((err: unknown) =>
    ctx.log.error({ err }, "the job queue stopped after an error it could not recover from; restart this worker"),
  );
  // Every HEARTBEAT_INTERVAL_SECONDS while it runs; a worker that dies or freezes stops beating and its row ages.
  const heartbeat = setInterval(() => {
    recordHeartbeat(pool, identity).catch((err: unknown) =>
      ctx.log.warn({ err }, "could not write the worker's heartbeat; the next one retries"),
    );
  }, HEARTBEAT_INTERVAL_SECONDS * 1000);
  heartbeat.unref();
  return {
    async stop() {
      clearInterval(heartbeat);
      // Bounded: with the database going away too (Ctrl-C reaches the embedded PostgreSQL as well),
      // graphile-worker keeps retrying its own statements. A batch cut short is safe: its lease runs
      // out and a later sweep finishes it.
      const graceMs = config.shutdown.timeoutSeconds * 1000;
      try {
        await withDeadline(runner.stop(), graceMs, "stopping the job queue");
      } catch (err) {
        ctx.log.warn({ err }, "the job queue did not stop in time; its batches are left to their leases");
      }
      // graphile-worker leaves a pool it was given open: ours end after it, before any database stops.
      await withDeadline(closePools(), graceMs, "closing the worker's connections").catch((err: unknown) =>
        ctx.log.warn({ err }, "connections still busy at shutdown were left to close with the process"),
      );
    },
  };
}
