import { startService } from "./app.ts";
import { createLogger } from "./logger.ts";
import {
  announceStartup,
  exitOnStartupFailure,
  loadConfigOrExit,
  resolveDatabase,
  stopOnSignals,
  withDefaultToken,
} from "./process.ts";
import { startTelemetry } from "./telemetry/provider.ts";

// `npm run server`: the API alone (gRPC and Connect), no deletion worker.
// `npm start` (worker/src/main.ts) runs this and a worker in one process.

async function main(): Promise<void> {
  const { config, createdAdminToken } = await withDefaultToken(loadConfigOrExit());
  const log = createLogger(config.logLevel);
  const telemetry = startTelemetry(config.telemetry, "media-lifecycle-api", log);
  const database = await resolveDatabase(config, log);
  const service = await startService(config, database.url, log).catch(async (error) => {
    await database.stop();
    throw error;
  });
  // Before the start-up line: whoever reads it may stop the process at once.
  stopOnSignals(log, async () => {
    try {
      await service.stop();
    } finally {
      await database.stop();
      // Last: the spans of the stop itself are exported too.
      await telemetry.shutdown();
    }
  });
  announceStartup(log, config, {
    grpcPort: service.grpcPort,
    httpPort: service.httpPort,
    worker: false,
    createdAdminToken,
  });
}

main().catch(exitOnStartupFailure);
