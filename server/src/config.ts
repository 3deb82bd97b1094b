// The service's settings: the shape of the frozen Config, and loadConfig, which reads every setting once.
// The readers and grammars it uses live in config/ (values.ts, stores.ts, tokens.ts).
import path from "node:path";
import { parseStores } from "./config/stores.ts";
import { parseTelemetry } from "./config/telemetry.ts";
import { parseTokens } from "./config/tokens.ts";

import {
  boolean,
  ConfigError,
  cronSchedule,
  duration,
  type Env,
  integer,
  oneOf,
  readSettingFile,
  timeout,
} from "./config/values.ts";

export { parseTokens } from "./config/tokens.ts";
export { ConfigError, parseDurationSeconds } from "./config/values.ts";

/** A named place where media files live. */
export type StoreConfig =
  | {
      readonly name: string;
      readonly kind: "disk";
      readonly root: string;
      /** Create the folder when missing: only the default store's (DATA_DIR/files); a configured folder must exist. */
      readonly createRoot: boolean;
      /** The store's own trash retention (`?trashRetention=`), overriding TRASH_RETENTION. */
      readonly trashRetentionSeconds: number | undefined;
    }
  | {
      readonly name: string;
      readonly kind: "s3";
      readonly bucket: string;
      readonly prefix: string;
      readonly region: string;
      readonly endpoint: string | undefined;
      readonly forcePathStyle: boolean;
      /** The store's own trash retention (`trashRetention=`), overriding TRASH_RETENTION. */
      readonly trashRetentionSeconds: number | undefined;
    };

/** The stores that set their own trash retention, by name. */
const storeTrashRetentions = (stores: ReadonlyMap<string, StoreConfig>): ReadonlyMap<string, number> =>
  new Map(
    [...stores.values()].flatMap((s) =>
      s.trashRetentionSeconds === undefined ? [] : [[s.name, s.trashRetentionSeconds]],
    ),
  );

/** How long a file deleted from this store stays in its trash (0: deleted directly). */
export const trashRetentionOf = (
  settings: Pick<DeletionConfig, "trashRetentionSeconds" | "storeTrashRetentionSeconds">,
  store: string,
): number => settings.storeTrashRetentionSeconds.get(store) ?? settings.trashRetentionSeconds;

/** How the deletion worker behaves. */
export interface DeletionConfig {
  /** Run a worker inside `npm start`. */
  readonly runWorker: boolean;
  readonly workerConcurrency: number;
  /** Rows per claim and per delete_batch job (S3 takes 1000 keys per request). */
  readonly batchSize: number;
  /** A sweep that finds more due files than this deletes none and waits for an admin. */
  readonly blastRadiusLimit: number;
  /** A claim's lease: taken back only this long after its job last renewed it (or, before that, after the claim). */
  readonly claimTimeoutSeconds: number;
  /** The longest one storage request may take; a job stops acting on storage twice this long before its lease ends. */
  readonly storageTimeoutSeconds: number;
  readonly maxAttempts: number;
  readonly retryDelaySeconds: number;
  /** Start with deletions paused. */
  readonly startPaused: boolean;
  /** Crontab schedule of the sweep. */
  readonly sweepSchedule: string;
  /**
   * How long a deleted file stays in its store's trash, restorable, before it
   * is purged; 0 deletes directly. TRASH_RETENTION, or the store's own
   * trashRetention (trashRetentionOf reads it).
   */
  readonly trashRetentionSeconds: number;
  readonly storeTrashRetentionSeconds: ReadonlyMap<string, number>;
  /** RECONCILIATION_RATE: objects a reconciliation job lists per second at most. */
  readonly reconciliationRate: number;
  /** EVENTS_RETENTION: the sweep drops the audit log's monthly partitions older than this; 0 keeps every event. */
  readonly eventsRetentionSeconds: number;
}

/** What a token may call: MediaService, AdminService (and MediaService, /metrics), or only /metrics. */
export type TokenScope = "service" | "admin" | "metrics";

/** An API token: its name is the caller recorded in events and logs; the secret is never logged. */
export interface ApiToken {
  readonly name: string;
  readonly scope: TokenScope;
  readonly secret: string;
  /** What a service token may change (AUTH_TOKEN_LIMITS); undefined: anything. */
  readonly limits?: TokenLimits | undefined;
}

/** A service token's reach: the owners (by prefix) and the stores it may act on; undefined: no limit of that kind. */
export interface TokenLimits {
  readonly ownerPrefixes: readonly string[] | undefined;
  readonly stores: ReadonlySet<string> | undefined;
}

/** Server certificate and, for mutual TLS, the CA that signs client certificates (PEM). */
export interface GrpcTlsConfig {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly clientCa: Buffer | undefined;
}

export interface LimitsConfig {
  /** Largest request message on either port. */
  readonly maxRequestBytes: number;
  /** Calls asking for a longer deadline are refused. */
  readonly maxDeadlineSeconds: number;
  /** Sustained calls per second per token; 0 turns the limit off. */
  readonly ratePerToken: number;
  /** Calls a token may make at once above its rate. */
  readonly rateBurst: number;
  /** Sustained calls per second without a valid token from one peer address; 0 turns the limit off. */
  readonly authFailuresPerSecond: number;
  /** Such calls a peer address may make at once above that rate. */
  readonly authFailureBurst: number;
  /** How long a request may take to arrive in full (headers and body), on either port. */
  readonly requestTimeoutSeconds: number;
  /** How long a connection with no call in flight stays open, on either port. */
  readonly idleTimeoutSeconds: number;
  /** Calls in flight at once on one gRPC connection (HTTP/2 streams). */
  readonly maxConcurrentStreams: number;
  /** Connections each port holds at once; further ones are closed as they arrive. */
  readonly maxConnections: number;
}

export interface ShutdownConfig {
  /** How long health reports NOT_SERVING before the listeners close, so load balancers notice. */
  readonly delaySeconds: number;
  /** How long in-flight calls get to finish before their connections are cut. */
  readonly timeoutSeconds: number;
}

/** OTEL_TRACES_SAMPLER's choices, as the OpenTelemetry SDK specification names them. */
export type TraceSampler =
  | "parentbased_always_on"
  | "parentbased_always_off"
  | "parentbased_traceidratio"
  | "always_on"
  | "always_off"
  | "traceidratio";

/** OpenTelemetry tracing (the standard OTEL_* variables); off unless OTEL_EXPORTER_OTLP_ENDPOINT is set. */
export interface TelemetryConfig {
  /** Where spans are sent (OTLP/HTTP, JSON): OTEL_EXPORTER_OTLP_ENDPOINT + "/v1/traces". Undefined: tracing is off. */
  readonly tracesUrl: string | undefined;
  /** Headers sent with every export (OTEL_EXPORTER_OTLP_HEADERS): often an API key, never logged. */
  readonly headers: Readonly<Record<string, string>>;
  /** OTEL_SERVICE_NAME; undefined: the process's own default (media-lifecycle-api, media-lifecycle-worker). */
  readonly serviceName: string | undefined;
  readonly sampler: TraceSampler;
  /** OTEL_TRACES_SAMPLER_ARG: the share of new traces the ratio samplers keep. */
  readonly samplerRatio: number;
  /** OTEL_BSP_SCHEDULE_DELAY: milliseconds between two exports of finished spans. */
  readonly exportDelayMs: number;
}

export interface Config {
  readonly host: string;
  readonly grpcPort: number;
  readonly httpPort: number;
  /** Undefined means: start the embedded PostgreSQL under dataDir. */
  readonly databaseUrl: string | undefined;
  readonly dataDir: string;
  readonly embeddedPostgresPort: number;
  readonly databasePoolSize: number;
  readonly gracePeriodSeconds: number;
  readonly pendingTtlSeconds: number;
  readonly stores: ReadonlyMap<string, StoreConfig>;
  readonly logLevel: "debug" | "info" | "warn" | "error" | "silent";
  readonly deletion: DeletionConfig;
  /** The built dashboard served on the HTTP port. */
  readonly dashboardDir: string;
  /**
   * Tokens from AUTH_TOKENS and AUTH_TOKENS_FILE. Empty means neither is set:
   * the process then uses (and on first start creates) DATA_DIR/admin-token.
   */
  readonly tokens: readonly ApiToken[];
  readonly grpcTls: GrpcTlsConfig | undefined;
  readonly limits: LimitsConfig;
  readonly shutdown: ShutdownConfig;
  readonly databaseConnectTimeoutSeconds: number;
  /**
   * The longest a worker's statement may run, and the longest any session of
   * the service may sit idle inside a transaction: PostgreSQL then ends it, so
   * a stopped process cannot hold row locks.
   */
  readonly databaseStatementTimeoutSeconds: number;
  /** Where a worker-only process serves /metrics, /healthz and /readyz; 0 turns it off. */
  readonly metricsPort: number;
  /** How long the database-backed gauges reuse one read of the media table. */
  readonly metricsRefreshSeconds: number;
  readonly telemetry: TelemetryConfig;
}

/** GRPC_TLS_CERT and GRPC_TLS_KEY together, with GRPC_TLS_CLIENT_CA for mutual TLS: each a PEM file. */
function parseGrpcTls(env: Env, cwd: string): GrpcTlsConfig | undefined {
  const certFile = env.GRPC_TLS_CERT || undefined;
  const keyFile = env.GRPC_TLS_KEY || undefined;
  const caFile = env.GRPC_TLS_CLIENT_CA || undefined;
  if (certFile === undefined && keyFile === undefined) {
    if (caFile !== undefined) throw new ConfigError("GRPC_TLS_CLIENT_CA needs GRPC_TLS_CERT and GRPC_TLS_KEY");
    return undefined;
  }
  if (certFile === undefined || keyFile === undefined) {
    throw new ConfigError("GRPC_TLS_CERT and GRPC_TLS_KEY must be set together");
  }
  const pem = (name: string, file: string) => {
    const text = readSettingFile(name, file, cwd);
    if (!text.includes("-----BEGIN ")) throw new ConfigError(`${name}="${file}" is not a PEM file`);
    return Buffer.from(text);
  };
  return Object.freeze({
    cert: pem("GRPC_TLS_CERT", certFile),
    key: pem("GRPC_TLS_KEY", keyFile),
    clientCa: caFile === undefined ? undefined : pem("GRPC_TLS_CLIENT_CA", caFile),
  });
}

/** DATABASE_STATEMENT_TIMEOUT: at least a second, since every worker statement runs under it. */
function statementTimeout(env: Env): number {
  const seconds = duration(env, "DATABASE_STATEMENT_TIMEOUT", "30s");
  if (seconds < 1)
    throw new ConfigError(`DATABASE_STATEMENT_TIMEOUT="${env.DATABASE_STATEMENT_TIMEOUT}" must be at least 1s`);
  return seconds;
}

/** CLAIM_TIMEOUT and STORAGE_TIMEOUT: a lease must outlast its safety margin (twice STORAGE_TIMEOUT) by a request. */
function leaseTiming(env: Env): { claimTimeoutSeconds: number; storageTimeoutSeconds: number } {
  const claimTimeoutSeconds = duration(env, "CLAIM_TIMEOUT", "10m");
  const storageTimeoutSeconds = duration(env, "STORAGE_TIMEOUT", "30s");
  if (storageTimeoutSeconds <= 0) throw new ConfigError("STORAGE_TIMEOUT must be more than 0");
  if (claimTimeoutSeconds < 3 * storageTimeoutSeconds) {
    throw new ConfigError(
      `CLAIM_TIMEOUT="${env.CLAIM_TIMEOUT ?? "10m"}" must be at least three times STORAGE_TIMEOUT="${env.STORAGE_TIMEOUT ?? "30s"}": a job stops touching storage twice STORAGE_TIMEOUT before its lease ends`,
    );
  }
  return { claimTimeoutSeconds, storageTimeoutSeconds };
}

/**
 * DATABASE_URL, with the password from DATABASE_PASSWORD_FILE when that is set (a compose or
 * Kubernetes secret file, so that no environment variable holds the password). The file's one
 * trailing newline is dropped; the URL must then carry no password of its own.
 */
function databaseUrlSetting(env: Env, cwd: string): string | undefined {
  const url = env.DATABASE_URL;
  const passwordFile = env.DATABASE_PASSWORD_FILE;
  if (url !== undefined && !/^postgres(ql)?:\/\//.test(url)) {
    throw new ConfigError("DATABASE_URL must look like postgres://user:password@host:5432/database");
  }
  if (passwordFile === undefined) return url;
  if (url === undefined) {
    throw new ConfigError(
      "DATABASE_PASSWORD_FILE needs DATABASE_URL (postgres://user@host:5432/database, no password)",
    );
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError("DATABASE_URL must look like postgres://user@host:5432/database");
  }
  if (parsed.password !== "") {
    throw new ConfigError("DATABASE_URL holds a password and DATABASE_PASSWORD_FILE is set: keep it in one place");
  }
  if (parsed.username === "") {
    throw new ConfigError(
      "DATABASE_URL names no user for DATABASE_PASSWORD_FILE's password (postgres://user@host/...)",
    );
  }
  const password = readSettingFile("DATABASE_PASSWORD_FILE", passwordFile, cwd).replace(/\r?\n$/, "");
  if (password === "") throw new ConfigError(`DATABASE_PASSWORD_FILE="${passwordFile}" is empty`);
  parsed.password = encodeURIComponent(password);
  return parsed.href;
}

/** Where `npm run build` puts the dashboard, wherever the service is started from. */
const BUILT_DASHBOARD = path.resolve(import.meta.dirname, "../../admin/dist");

/** Reads every setting once; throws ConfigError naming the variable on the first bad value. */
export function loadConfig(rawEnv: Env = process.env, cwd: string = process.cwd()): Config {
  // NAME= means unset, for every setting (DASHBOARD_DIR= must not serve the working directory).
  const env: Env = new Proxy(rawEnv, {
    get: (target, name) => {
      const value = Reflect.get(target, name);
      return value === "" ? undefined : value;
    },
  });
  const dataDir = path.resolve(cwd, env.DATA_DIR ?? ".data");
  const databaseUrl = databaseUrlSetting(env, cwd);
  const stores = parseStores(env.STORES, dataDir, cwd);
  const ratePerToken = integer(env, "RATE_LIMIT", 5000, 0, 1_000_000);
  const authFailuresPerSecond = integer(env, "AUTH_FAILURE_LIMIT", 10, 0, 1_000_000);
  return Object.freeze({
    host: env.HOST ?? "127.0.0.1",
    grpcPort: integer(env, "GRPC_PORT", 50051, 0, 65535),
    httpPort: integer(env, "HTTP_PORT", 8080, 0, 65535),
    databaseUrl,
    dataDir,
    embeddedPostgresPort: integer(env, "EMBEDDED_POSTGRES_PORT", 54329, 1, 65535),
    databasePoolSize: integer(env, "DATABASE_POOL_SIZE", 20, 1, 1000),
    gracePeriodSeconds: duration(env, "GRACE_PERIOD", "7d"),
    pendingTtlSeconds: duration(env, "PENDING_TTL", "24h"),
    stores,
    logLevel: oneOf(env, "LOG_LEVEL", "info", ["debug", "info", "warn", "error", "silent"] as const),
    dashboardDir: path.resolve(cwd, env.DASHBOARD_DIR ?? BUILT_DASHBOARD),
    tokens: parseTokens(env, cwd, new Set(stores.keys())),
    grpcTls: parseGrpcTls(env, cwd),
    limits: Object.freeze({
      maxRequestBytes: integer(env, "MAX_REQUEST_BYTES", 1024 * 1024, 1024, 64 * 1024 * 1024),
      maxDeadlineSeconds: duration(env, "MAX_DEADLINE", "2m"),
      ratePerToken,
      rateBurst: integer(env, "RATE_LIMIT_BURST", 2 * ratePerToken, ratePerToken === 0 ? 0 : 1, 10_000_000),
      authFailuresPerSecond,
      authFailureBurst: integer(
        env,
        "AUTH_FAILURE_BURST",
        2 * authFailuresPerSecond,
        authFailuresPerSecond === 0 ? 0 : 1,
        10_000_000,
      ),
      requestTimeoutSeconds: timeout(env, "REQUEST_TIMEOUT", "10s"),
      idleTimeoutSeconds: timeout(env, "IDLE_TIMEOUT", "2m"),
      maxConcurrentStreams: integer(env, "MAX_CONCURRENT_STREAMS", 100, 1, 100_000),
      maxConnections: integer(env, "MAX_CONNECTIONS", 1000, 1, 1_000_000),
    }),
    shutdown: Object.freeze({
      delaySeconds: duration(env, "SHUTDOWN_DELAY", "0s"),
      timeoutSeconds: duration(env, "SHUTDOWN_TIMEOUT", "10s"),
    }),
    databaseConnectTimeoutSeconds: duration(env, "DATABASE_CONNECT_TIMEOUT", "2s"),
    databaseStatementTimeoutSeconds: statementTimeout(env),
    metricsPort: integer(env, "METRICS_PORT", 9464, 0, 65535),
    metricsRefreshSeconds: duration(env, "METRICS_REFRESH", "15s"),
    telemetry: parseTelemetry(env),
    deletion: Object.freeze({
      runWorker: boolean(env, "RUN_WORKER", true),
      workerConcurrency: integer(env, "WORKER_CONCURRENCY", 4, 1, 64),
      batchSize: integer(env, "DELETE_BATCH_SIZE", 1000, 1, 1000),
      blastRadiusLimit: integer(env, "BLAST_RADIUS_LIMIT", 10_000, 1, 1_000_000_000),
      ...leaseTiming(env),
      maxAttempts: integer(env, "DELETE_MAX_ATTEMPTS", 5, 1, 100),
      retryDelaySeconds: duration(env, "DELETE_RETRY_DELAY", "1m"),
      startPaused: boolean(env, "DELETIONS_PAUSED", false),
      sweepSchedule: cronSchedule(env, "SWEEP_SCHEDULE", "* * * * *"),
      trashRetentionSeconds: duration(env, "TRASH_RETENTION", "7d"),
      storeTrashRetentionSeconds: storeTrashRetentions(stores),
      reconciliationRate: integer(env, "RECONCILIATION_RATE", 5000, 1, 1_000_000),
      eventsRetentionSeconds: duration(env, "EVENTS_RETENTION", "400d"),
    }),
  });
}
