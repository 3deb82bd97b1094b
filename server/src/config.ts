import { readFileSync } from "node:fs";
import path from "node:path";

/** A named place where media files live. */
export type StoreConfig =
  | {
      readonly name: string;
      readonly kind: "disk";
      readonly root: string;
      /** Create the folder when missing: only the default store's (DATA_DIR/files); a configured folder must exist. */
      readonly createRoot: boolean;
    }
  | {
      readonly name: string;
      readonly kind: "s3";
      readonly bucket: string;
      readonly prefix: string;
      readonly region: string;
      readonly endpoint: string | undefined;
      readonly forcePathStyle: boolean;
    };

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
}

/** What a token may call: MediaService, AdminService (and MediaService, /metrics), or only /metrics. */
export type TokenScope = "service" | "admin" | "metrics";

/** An API token: its name is the caller recorded in events and logs; the secret is never logged. */
export interface ApiToken {
  readonly name: string;
  readonly scope: TokenScope;
  readonly secret: string;
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
}

/** Raised for a bad setting; main prints the message and exits. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

type Env = Readonly<Record<string, string | undefined>>;

const DURATION_UNITS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 };

/** Parses "90s", "15m", "24h", "7d", "1d12h" or a bare number of seconds. */
export function parseDurationSeconds(text: string): number | undefined {
  const trimmed = text.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed);
  const parts = [...trimmed.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join("") !== trimmed) return undefined;
  return parts.reduce((sum, [, value, unit]) => sum + Number(value) * (DURATION_UNITS[unit as string] ?? 0), 0);
}

const MAX_DURATION_SECONDS = 3650 * 86400;

function duration(env: Env, name: string, fallback: string): number {
  const raw = env[name] ?? fallback;
  const seconds = parseDurationSeconds(raw);
  if (seconds === undefined) {
    throw new ConfigError(`${name}="${raw}" is not a duration; use forms like 30s, 15m, 24h, 7d or 1d12h`);
  }
  if (seconds > MAX_DURATION_SECONDS) throw new ConfigError(`${name}="${raw}" must be at most 3650d`);
  return seconds;
}

/** A connection or request timeout: more than 0, and within what Node's timers can hold. */
function timeout(env: Env, name: string, fallback: string): number {
  const seconds = duration(env, name, fallback);
  if (seconds <= 0 || seconds > 86400) {
    throw new ConfigError(`${name}="${env[name]}" must be more than 0 and at most 1d`);
  }
  return seconds;
}

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name}="${raw}" must be a whole number from ${min} to ${max}`);
  }
  return value;
}

function boolean(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  if (raw === "true" || raw === "1") return true;
  if (raw === "false" || raw === "0") return false;
  throw new ConfigError(`${name}="${raw}" must be true or false`);
}

function cronSchedule(env: Env, name: string, fallback: string): string {
  const raw = env[name] ?? fallback;
  if (!/^(\S+\s+){4}\S+$/.test(raw.trim())) {
    throw new ConfigError(`${name}="${raw}" must be a five-field crontab schedule such as "* * * * *"`);
  }
  return raw.trim();
}

function oneOf<T extends string>(env: Env, name: string, fallback: T, allowed: readonly T[]): T {
  const raw = env[name] ?? fallback;
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new ConfigError(`${name}="${raw}" must be one of: ${allowed.join(", ")}`);
  }
  return raw as T;
}

const STORE_NAME = /^[a-z][a-z0-9_-]{0,62}$/;
const STORES_FORM =
  'STORES is a comma-separated list of NAME=URL, for example "default=file:./media,photos=s3://bucket/prefix?region=eu-west-1&endpoint=http://localhost:9000&forcePathStyle=true"';

/** Parses one store URL: file:PATH (absolute or relative to cwd) or s3://BUCKET[/PREFIX]?options. */
function parseStore(name: string, url: string, cwd: string): StoreConfig {
  if (url.startsWith("file:")) {
    const root = url.slice("file:".length).replace(/^\/\/(?=\/)/, "");
    if (root === "") throw new ConfigError(`STORES: store "${name}" needs a folder after file:`);
    return Object.freeze({ name, kind: "disk", root: path.resolve(cwd, root), createRoot: false });
  }
  if (url.startsWith("s3://")) {
    if (!URL.canParse(url)) throw new ConfigError(`STORES: store "${name}" URL "${url}" is not a valid URL`);
    const parsed = new URL(url);
    const allowed = new Set(["region", "endpoint", "forcePathStyle"]);
    for (const key of parsed.searchParams.keys()) {
      if (!allowed.has(key)) {
        throw new ConfigError(
          `STORES: store "${name}" has unknown option "${key}" (known: ${[...allowed].join(", ")})`,
        );
      }
    }
    const endpoint = parsed.searchParams.get("endpoint") ?? undefined;
    if (endpoint !== undefined && !URL.canParse(endpoint)) {
      throw new ConfigError(`STORES: store "${name}" endpoint "${endpoint}" is not a URL`);
    }
    const pathStyle = parsed.searchParams.get("forcePathStyle") ?? "false";
    if (pathStyle !== "true" && pathStyle !== "false") {
      throw new ConfigError(`STORES: store "${name}" forcePathStyle must be true or false`);
    }
    if (parsed.hostname === "") throw new ConfigError(`STORES: store "${name}" needs a bucket: s3://BUCKET[/PREFIX]`);
    let prefix: string;
    try {
      prefix = decodeURIComponent(parsed.pathname.replace(/^\/+/, ""));
    } catch {
      throw new ConfigError(`STORES: store "${name}" prefix "${parsed.pathname}" is not valid percent-encoding`);
    }
    return Object.freeze({
      name,
      kind: "s3",
      bucket: parsed.hostname,
      prefix: prefix === "" || prefix.endsWith("/") ? prefix : `${prefix}/`,
      region: parsed.searchParams.get("region") ?? "us-east-1",
      endpoint,
      forcePathStyle: pathStyle === "true",
    });
  }
  throw new ConfigError(`STORES: store "${name}" URL "${url}" must start with file: or s3://. ${STORES_FORM}`);
}

function parseStores(raw: string | undefined, dataDir: string, cwd: string): ReadonlyMap<string, StoreConfig> {
  const stores = new Map<string, StoreConfig>();
  if (raw === undefined || raw.trim() === "") {
    stores.set(
      "default",
      Object.freeze({ name: "default", kind: "disk", root: path.join(dataDir, "files"), createRoot: true }),
    );
    return stores;
  }
  for (const entry of raw.split(",")) {
    const eq = entry.indexOf("=");
    const name = entry.slice(0, eq).trim();
    if (eq < 0 || !STORE_NAME.test(name)) {
      throw new ConfigError(
        `STORES entry "${entry.trim()}" needs a name of lowercase letters, digits, _ or - before "=". ${STORES_FORM}`,
      );
    }
    if (stores.has(name)) throw new ConfigError(`STORES names "${name}" twice`);
    stores.set(name, parseStore(name, entry.slice(eq + 1).trim(), cwd));
  }
  // Overlapping stores are refused when the stores are opened (storage/index.ts): by identity, which needs the file system.
  return stores;
}

const TOKEN_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const TOKEN_SCOPES: readonly TokenScope[] = ["service", "admin", "metrics"];
const MIN_SECRET_LENGTH = 24;

/**
 * One NAME:SCOPE:SECRET entry. Messages quote nothing from an entry that is
 * entry (a secret pasted alone, or a missing scope, would land in a field
 * that looks harmless): they name its position instead.
 */
function parseToken(source: string, entry: string): ApiToken {
  const [name = "", scope = "", ...rest] = entry.split(":");
  const secret = rest.join(":");
  if (rest.length === 0 || !TOKEN_NAME.test(name) || !(TOKEN_SCOPES as readonly string[]).includes(scope)) {
    throw new ConfigError(
      `${source} is not NAME:SCOPE:SECRET (NAME letters, digits, ., _ or -; SCOPE service, admin or metrics)`,
    );
  }
  if (secret.length < MIN_SECRET_LENGTH || /\s/.test(secret)) {
    throw new ConfigError(
      `${source}: the secret needs at least ${MIN_SECRET_LENGTH} characters without spaces (try: openssl rand -hex 32)`,
    );
  }
  return Object.freeze({ name, scope: scope as TokenScope, secret });
}

function readSettingFile(name: string, file: string, cwd: string): string {
  try {
    return readFileSync(path.resolve(cwd, file), "utf8");
  } catch (error) {
    throw new ConfigError(`${name}="${file}" cannot be read: ${(error as NodeJS.ErrnoException).code ?? error}`);
  }
}

/** AUTH_TOKENS (comma-separated) and AUTH_TOKENS_FILE (one per line, # comments), together. */
function parseTokens(env: Env, cwd: string): readonly ApiToken[] {
  const tokens: ApiToken[] = [];
  (env.AUTH_TOKENS ?? "").split(",").forEach((entry, index) => {
    if (entry.trim() !== "") tokens.push(parseToken(`AUTH_TOKENS entry ${index + 1}`, entry.trim()));
  });
  if (env.AUTH_TOKENS_FILE !== undefined) {
    const before = tokens.length;
    const lines = readSettingFile("AUTH_TOKENS_FILE", env.AUTH_TOKENS_FILE, cwd).split("\n");
    lines.forEach((line, index) => {
      const entry = line.replace(/#.*/, "").trim();
      if (entry !== "") tokens.push(parseToken(`AUTH_TOKENS_FILE line ${index + 1}`, entry));
    });
    if (tokens.length === before) {
      throw new ConfigError(`AUTH_TOKENS_FILE="${env.AUTH_TOKENS_FILE}" holds no token; add NAME:SCOPE:SECRET lines`);
    }
  }
  for (const [i, token] of tokens.entries()) {
    const earlier = tokens.slice(0, i);
    if (earlier.some((t) => t.name === token.name)) throw new ConfigError(`token name "${token.name}" is used twice`);
    if (earlier.some((t) => t.secret === token.secret)) {
      throw new ConfigError(
        `tokens "${earlier.find((t) => t.secret === token.secret)?.name}" and "${token.name}" share a secret`,
      );
    }
  }
  return Object.freeze(tokens);
}

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
  const databaseUrl = env.DATABASE_URL;
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ConfigError("DATABASE_URL must look like postgres://user:password@host:5432/database");
  }
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
    stores: parseStores(env.STORES, dataDir, cwd),
    logLevel: oneOf(env, "LOG_LEVEL", "info", ["debug", "info", "warn", "error", "silent"] as const),
    dashboardDir: path.resolve(cwd, env.DASHBOARD_DIR ?? BUILT_DASHBOARD),
    tokens: parseTokens(env, cwd),
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
    }),
  });
}
