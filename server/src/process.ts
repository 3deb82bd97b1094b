import { type Config, ConfigError, loadConfig } from "./config.js";
import { attachedEmbeddedUrl, startEmbeddedPostgres } from "./db/embedded.js";
import type { Logger } from "./logger.js";

// What every process of the service (API, worker, or both) does around its
// work: read the config, find the database, stop cleanly on a signal.

/** Reads the config, or prints the problem and exits with code 2. */
export function loadConfigOrExit(): Config {
  try {
    return loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`configuration error: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
}

export interface DatabaseLocation {
  readonly url: string;
  stop(): Promise<void>;
}

const EMBEDDED_DATABASE = "media";

/**
 * DATABASE_URL when set. Otherwise the embedded PostgreSQL under DATA_DIR:
 * started here (and stopped with this process), or, with attach, the one
 * another process of the service already runs there.
 */
export async function resolveDatabase(config: Config, log: Logger, attach = false): Promise<DatabaseLocation> {
  if (config.databaseUrl !== undefined) return { url: config.databaseUrl, stop: async () => {} };
  if (attach) {
    return {
      url: await attachedEmbeddedUrl(config.dataDir, config.embeddedPostgresPort, EMBEDDED_DATABASE),
      stop: async () => {},
    };
  }
  log.info({ dataDir: config.dataDir, port: config.embeddedPostgresPort }, "starting embedded PostgreSQL");
  const embedded = await startEmbeddedPostgres({
    dataDir: config.dataDir,
    port: config.embeddedPostgresPort,
    onLog: (line) => log.debug({ postgres: line.trim() }, "postgres"),
  });
  await embedded.ensureDatabase(EMBEDDED_DATABASE);
  return { url: embedded.urlFor(EMBEDDED_DATABASE), stop: () => embedded.stop() };
}

/**
 * Runs stop() on the first SIGTERM or SIGINT and exits; a second signal exits
 * at once. stop() errors are logged and give exit code 1.
 */
export function stopOnSignals(log: Logger, stop: () => Promise<void>): void {
  let stopping = false;
  const onSignal = async (signal: string) => {
    if (stopping) {
      log.warn({ signal }, "second signal: exiting now");
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, "shutting down");
    let code = 0;
    try {
      await stop();
    } catch (err) {
      log.error({ err }, "error while shutting down");
      code = 1;
    }
    process.exit(code);
  };
  process.on("SIGINT", () => void onSignal("SIGINT"));
  process.on("SIGTERM", () => void onSignal("SIGTERM"));
}

/** Exits with a one-line reason when start-up fails. */
export function exitOnStartupFailure(error: unknown): never {
  process.stderr.write(
    `media lifecycle service failed to start: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exit(1);
}

export function banner(config: Config, parts: { grpcPort?: number; httpPort?: number; worker: boolean }): string {
  const host = config.host === "0.0.0.0" ? "localhost" : config.host;
  const lines = ["", "media lifecycle service is up"];
  if (parts.grpcPort !== undefined) {
    lines.push(
      `  gRPC            ${host}:${parts.grpcPort}  (grpc.health.v1, media.v1.MediaService, media.v1.AdminService)`,
    );
  }
  if (parts.httpPort !== undefined)
    lines.push(`  dashboard       http://${host}:${parts.httpPort}  (and Connect / gRPC-Web)`);
  lines.push(
    `  deletion worker ${parts.worker ? `running (sweep "${config.deletion.sweepSchedule}")` : "not in this process"}`,
    `  database        ${config.databaseUrl === undefined ? `embedded PostgreSQL in ${config.dataDir}/postgres` : "DATABASE_URL"}`,
    `  stores          ${[...config.stores.values()].map((s) => `${s.name} (${s.kind === "disk" ? s.root : `s3://${s.bucket}/${s.prefix}`})`).join(", ")}`,
    "",
  );
  return lines.join("\n");
}
