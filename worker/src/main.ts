import { startService } from "@media/server/app";
import { createLogger } from "@media/server/logger";
import { banner, exitOnStartupFailure, loadConfigOrExit, resolveDatabase, stopOnSignals } from "@media/server/process";
import { startWorker } from "./worker.js";

// `npm start`: the API and (unless RUN_WORKER=false) a deletion worker in one
// process. `npm run worker` (--worker-only): a worker alone; without
// DATABASE_URL it attaches to the embedded PostgreSQL that `npm start` runs.

async function main(): Promise<void> {
  const workerOnly = process.argv.includes("--worker-only");
  const config = loadConfigOrExit();
  const log = createLogger(config.logLevel);
  const database = await resolveDatabase(config, log, workerOnly);
  // In stopping order: the API (no new requests), the worker (finishes its batches), then the database.
  const stops: Array<() => Promise<void>> = [];
  const stopAll = async () => {
    for (const stop of stops) await stop();
    await database.stop();
  };
  try {
    let ports: { grpcPort?: number; httpPort?: number } = {};
    if (!workerOnly) {
      const service = await startService(config, database.url, log);
      stops.push(() => service.stop());
      ports = { grpcPort: service.grpcPort, httpPort: service.httpPort };
    }
    const withWorker = workerOnly || config.deletion.runWorker;
    if (withWorker) {
      const worker = await startWorker(config, database.url, log);
      stops.push(() => worker.stop());
    }
    process.stdout.write(banner(config, { ...ports, worker: withWorker }));
  } catch (error) {
    await stopAll();
    throw error;
  }
  stopOnSignals(log, stopAll);
}

main().catch(exitOnStartupFailure);
