import { startService } from "@media/server/app";
import { createLogger } from "@media/server/logger";
import { createMetrics } from "@media/server/metrics";
import { type ProbeServer, startProbeServer } from "@media/server/probe-server";
import {
  announceStartup,
  exitOnStartupFailure,
  loadConfigOrExit,
  resolveDatabase,
  stopOnSignals,
  withDefaultToken,
} from "@media/server/process";
import { startTelemetry } from "@media/server/telemetry";
import { startWorker } from "./worker.ts";

// `npm start`: the API and (unless RUN_WORKER=false) a deletion worker in one
// process. `npm run worker` (--worker-only): a worker alone, with probes and
// metrics on METRICS_PORT; without DATABASE_URL it attaches to the embedded
// PostgreSQL that `npm start` runs.

async function main(): Promise<void> {
  const workerOnly = process.argv.includes("--worker-only");
  const { config, createdAdminToken } = await withDefaultToken(loadConfigOrExit());
  const log = createLogger(config.logLevel);
  const telemetry = startTelemetry(
    config.telemetry,
    workerOnly ? "media-lifecycle-worker" : "media-lifecycle-api",
    log,
  );
  const database = await resolveDatabase(config, log, workerOnly);
  const metrics = createMetrics();
  // In stopping order: the API (NOT_SERVING, in-flight calls finish), the
  // worker (stops claiming, finishes its batches), the database, then the
  // last spans are exported.
  const stops: Array<() => Promise<void>> = [];
  let probes: ProbeServer | undefined;
  const stopAll = async () => {
    // A worker alone reports not ready before it drains; its probes close last.
    probes?.setNotReady();
    for (const stop of stops) await stop();
    await database.stop();
    await telemetry.shutdown();
  };
  try {
    let ports: { grpcPort?: number; httpPort?: number; probesPort?: number } = {};
    if (!workerOnly) {
      const service = await startService(config, database.url, log, metrics);
      stops.push(() => service.stop());
      ports = { grpcPort: service.grpcPort, httpPort: service.httpPort };
    }
    const withWorker = workerOnly || config.deletion.runWorker;
    if (withWorker) {
      const worker = await startWorker(config, database.url, log, metrics);
      stops.push(() => worker.stop());
    }
    if (workerOnly && config.metricsPort !== 0) {
      const started = await startProbeServer(config, database.url, log, metrics);
      probes = started;
      stops.push(() => started.close());
      ports = { probesPort: started.port };
    }
    // Before the start-up line: whoever reads it may stop the process at once.
    stopOnSignals(log, stopAll);
    announceStartup(log, config, { ...ports, worker: withWorker, createdAdminToken });
  } catch (error) {
    await stopAll();
    throw error;
  }
}

main().catch(exitOnStartupFailure);
