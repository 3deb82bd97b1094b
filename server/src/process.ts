import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { link, mkdir, readFile, unlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { parseEnv } from "node:util";
import { buildInfo } from "./build-info.ts";
import { type Config, ConfigError, loadConfig, type StoreConfig } from "./config.ts";
import { attachedEmbeddedUrl, startEmbeddedPostgres } from "./db/embedded.ts";
import type { Logger } from "./logger.ts";

// What every process of the service (API, worker, or both) does around its
// work: read the config, find the database, stop cleanly on a signal.

/** Settings from ./.env when it exists; variables set in the environment win. */
function environment(): Record<string, string | undefined> {
  if (!existsSync(".env")) return process.env;
  try {
    return { ...parseEnv(readFileSync(".env", "utf8")), ...process.env };
  } catch (error) {
    throw new ConfigError(`.env cannot be read: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** Reads the config, or prints the problem and exits with code 2. */
export function loadConfigOrExit(): Config {
  try {
    return loadConfig(environment());
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

/** Where the laptop default keeps its generated admin token. */
export const adminTokenFile = (config: Config) => path.join(config.dataDir, "admin-token");

export interface ConfigWithTokens {
  readonly config: Config;
  /** Set when this start created DATA_DIR/admin-token: the banner prints it once. */
  readonly createdAdminToken: string | undefined;
}

/**
 * With no AUTH_TOKENS or AUTH_TOKENS_FILE, the laptop default (the embedded
 * database) still has no open door: it uses the admin token in
 * DATA_DIR/admin-token, created (readable by this user only) on first start.
 * Against a shared database, tokens must be configured.
 */
export async function withDefaultToken(config: Config): Promise<ConfigWithTokens> {
  if (config.tokens.length > 0) return { config, createdAdminToken: undefined };
  if (config.databaseUrl !== undefined) {
    throw new ConfigError(
      "no API tokens: with DATABASE_URL set, configure AUTH_TOKENS or AUTH_TOKENS_FILE (see docs/operations.md, Authentication)",
    );
  }
  const file = adminTokenFile(config);
  await mkdir(config.dataDir, { recursive: true });
  // Written whole under a temporary name, then linked into place: a process
  // starting beside this one reads either no file or the complete token.
  const candidate = randomBytes(32).toString("base64url");
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, `${candidate}\n`, { mode: 0o600 });
  let created = true;
  try {
    await link(temporary, file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    created = false;
  } finally {
    await unlink(temporary);
  }
  const secret = created ? candidate : (await readFile(file, "utf8")).trim();
  if (secret.length < 24) throw new ConfigError(`${file} holds no valid token; delete it to have a new one made`);
  const tokens = Object.freeze([Object.freeze({ name: "local-admin", scope: "admin" as const, secret })]);
  return { config: Object.freeze({ ...config, tokens }), createdAdminToken: created ? secret : undefined };
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

/** Exits with a one-line reason when start-up fails (code 2 for a configuration problem, as loadConfigOrExit). */
export function exitOnStartupFailure(error: unknown): never {
  if (error instanceof ConfigError) {
    process.stderr.write(`configuration error: ${error.message}\n`);
    process.exit(2);
  }
  process.stderr.write(
    `media lifecycle service failed to start: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exit(1);
}

/** Where a store keeps its files, as the banner and the start-up log line show it. */
function storeLocation(store: StoreConfig): string {
  switch (store.kind) {
    case "disk":
      return store.root;
    case "s3":
      return `s3://${store.bucket}/${store.prefix}`;
    default: {
      const unhandled: never = store;
      throw new Error(`unknown store kind ${(unhandled as { kind: unknown }).kind}`);
    }
  }
}

/** What a process started: the banner's and the start-up log line's subject. */
export interface StartupParts {
  grpcPort?: number;
  httpPort?: number;
  /** A worker alone: where its probes and metrics listen. */
  probesPort?: number;
  worker: boolean;
  createdAdminToken?: string | undefined;
}

/**
 * The msg of the one JSON log line a process writes once it serves (after its
 * signal handlers are in place, so whoever reads it may stop the process at
 * once). Tests and scripts wait for it; keep it stable.
 */
export const STARTUP_MESSAGE = "media lifecycle service started";

/** An external database as the start-up line names it: where, never who or with which password. */
function externalDatabase(url: string): Record<string, string | number> {
  try {
    const parsed = new URL(url);
    return {
      kind: "external",
      ...(parsed.hostname === "" ? {} : { host: parsed.hostname }),
      ...(parsed.port === "" ? {} : { port: Number(parsed.port) }),
      ...(parsed.pathname.length > 1 ? { name: decodeURIComponent(parsed.pathname.slice(1)) } : {}),
    };
  } catch {
    return { kind: "external" };
  }
}

/**
 * The start-up log line's fields (its msg is STARTUP_MESSAGE). Never a secret:
 * no token, no DATABASE_URL (only its host, port and database name), and a
 * token this start created is named by its file only.
 */
export function startupFields(config: Config, parts: StartupParts): Record<string, unknown> {
  const build = buildInfo();
  const ports: Record<string, number> = {};
  if (parts.grpcPort !== undefined) ports.grpc = parts.grpcPort;
  if (parts.httpPort !== undefined) ports.http = parts.httpPort;
  if (parts.probesPort !== undefined) ports.probes = parts.probesPort;
  const serves = parts.grpcPort !== undefined || parts.httpPort !== undefined;
  const localAdmin = config.tokens[0]?.name === "local-admin";
  return {
    version: build.version,
    node: build.node,
    ...(build.commit === undefined ? {} : { commit: build.commit }),
    pid: process.pid,
    role: serves ? (parts.worker ? "api+worker" : "api") : "worker",
    host: config.host,
    ports,
    worker: parts.worker ? { sweepSchedule: config.deletion.sweepSchedule } : false,
    database:
      config.databaseUrl === undefined
        ? {
            kind: "embedded",
            dataDir: path.join(config.dataDir, "postgres"),
            port: config.embeddedPostgresPort,
          }
        : externalDatabase(config.databaseUrl),
    stores: [...config.stores.values()].map((s) => ({ name: s.name, kind: s.kind, location: storeLocation(s) })),
    tokens: config.tokens.map((t) => ({ name: t.name, scope: t.scope })),
    ...(localAdmin
      ? { adminTokenFile: adminTokenFile(config), adminTokenCreated: parts.createdAdminToken !== undefined }
      : {}),
  };
}

/**
 * Says the process is up: one JSON log line (STARTUP_MESSAGE) whatever
 * LOG_LEVEL is, unless it is silent; and, when stdout is a terminal, the
 * banner for the person watching it (with a newly created admin token, which
 * never goes into the log).
 */
export function announceStartup(
  log: Logger,
  config: Config,
  parts: StartupParts,
  stdout: { readonly isTTY?: boolean; write(text: string): unknown } = process.stdout,
): void {
  const startupLog =
    config.logLevel === "silent" || log.isLevelEnabled("info") ? log : log.child({}, { level: "info" });
  startupLog.info(startupFields(config, parts), STARTUP_MESSAGE);
  if (stdout.isTTY === true) stdout.write(banner(config, parts));
}

/** The human-readable start-up summary, for a terminal. */
export function banner(config: Config, parts: StartupParts): string {
  const host = config.host === "0.0.0.0" ? "localhost" : config.host;
  const lines = ["", "media lifecycle service is up"];
  if (parts.grpcPort !== undefined) {
    lines.push(
      `  gRPC            ${host}:${parts.grpcPort}  (grpc.health.v1, media.v1.MediaService, media.v1.AdminService)`,
    );
  }
  if (parts.httpPort !== undefined)
    lines.push(`  dashboard       http://${host}:${parts.httpPort}  (and Connect / gRPC-Web)`);
  if (parts.probesPort !== undefined) {
    lines.push(`  probes, metrics http://${host}:${parts.probesPort}  (/healthz, /readyz, /metrics)`);
  }
  const build = buildInfo();
  lines.push(
    `  version         ${build.version}${build.commit === undefined ? "" : ` (${build.commit.slice(0, 12)})`}, Node.js ${build.node}`,
    `  deletion worker ${parts.worker ? `running (sweep "${config.deletion.sweepSchedule}")` : "not in this process"}`,
    `  database        ${config.databaseUrl === undefined ? `embedded PostgreSQL in ${config.dataDir}/postgres` : "DATABASE_URL"}`,
    `  stores          ${[...config.stores.values()].map((s) => `${s.name} (${storeLocation(s)})`).join(", ")}`,
  );
  if (parts.httpPort !== undefined || parts.grpcPort !== undefined) {
    const tokens = config.tokens.map((t) => `${t.name} (${t.scope})`).join(", ");
    lines.push(
      parts.createdAdminToken !== undefined
        ? `  admin token     ${parts.createdAdminToken}  (new; kept in ${adminTokenFile(config)})`
        : `  API tokens      ${tokens}${config.tokens[0]?.name === "local-admin" ? `; the admin token is in ${adminTokenFile(config)}` : ""}`,
    );
  }
  lines.push("");
  return lines.join("\n");
}
