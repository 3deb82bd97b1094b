import { Kysely, PostgresDialect } from "kysely";
import pg from "pg";
import { traceQueries } from "../telemetry/sql-spans.ts";
import { cancelWithCalls } from "./call-scope.ts";
import type { Database } from "./schema.ts";

export interface DatabaseHandle {
  readonly db: Kysely<Database>;
  readonly pool: pg.Pool;
  close(): Promise<void>;
}

/** Bounds PostgreSQL itself enforces on every session of a pool. */
export interface SessionLimits {
  /** statement_timeout: a statement running longer is cancelled. */
  readonly statementTimeoutMs: number;
  /** idle_in_transaction_session_timeout: a session idle this long inside a transaction is ended, its locks freed. */
  readonly idleInTransactionTimeoutMs: number;
}

export interface ConnectOptions {
  readonly url: string;
  readonly poolSize: number;
  /** How long to wait for a connection (a new one, or a free slot) before failing; default 2 s. */
  readonly connectTimeoutMs?: number;
  /** Called for errors on idle connections (a restarted database, say); the pool replaces them. */
  readonly onIdleError?: (error: Error) => void;
  /** Unset: PostgreSQL's defaults (no limits), as migrations need. */
  readonly sessionLimits?: SessionLimits;
  /**
   * Queries made inside an API call's scope (runInCallScope) are cancelled
   * when the call ends early; the cancels go over one extra connection.
   */
  readonly cancelWithCalls?: boolean;
}

/**
 * Settings every session of ours runs with, whatever the database or role
 * defaults: node-pg parses timestamps in ISO style only.
 */
export const SESSION_OPTIONS = "-c datestyle=ISO,YMD";

function sessionOptions(limits: SessionLimits | undefined): string {
  if (limits === undefined) return SESSION_OPTIONS;
  return `${SESSION_OPTIONS} -c statement_timeout=${limits.statementTimeoutMs} -c idle_in_transaction_session_timeout=${limits.idleInTransactionTimeoutMs}`;
}

function createPool(options: ConnectOptions, max: number, sessionLimits: SessionLimits | undefined): pg.Pool {
  const pool = new pg.Pool({
    connectionString: options.url,
    max,
    // Fail fast when the database is unreachable instead of queueing forever.
    connectionTimeoutMillis: options.connectTimeoutMs ?? 2000,
    idleTimeoutMillis: 30_000,
    options: sessionOptions(sessionLimits),
  });
  pool.on("error", (error) => {
    // pg-pool hangs the whole client on the error; logged, it would be hundreds of lines.
    delete (error as Error & { client?: unknown }).client;
    options.onIdleError?.(error);
  });
  // A connection that dies while checked out also emits "error" on its client;
  // without a listener that would crash the process. The failing query rejects
  // on its own, so the listener only has to exist.
  pool.on("connect", (client) => client.on("error", () => {}));
  return pool;
}

/**
 * The one pool factory: a pool and a Kysely instance over it, with the
 * session settings and error handling every pool of the service needs.
 * Nothing connects until the first query.
 */
export function connectDatabase(options: ConnectOptions): DatabaseHandle {
  const pool = createPool(options, options.poolSize, options.sessionLimits);
  // A span per statement made inside a call's or a job's span (the no-op API with tracing off).
  traceQueries(pool);
  let cancelLane: pg.Pool | undefined;
  if (options.cancelWithCalls === true) {
    const lane = createPool(options, 1, undefined);
    cancelLane = lane;
    cancelWithCalls(pool, async (processId) => {
      await lane.query("SELECT pg_cancel_backend($1)", [processId]);
    });
  }
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return {
    db,
    pool,
    // Kysely's destroy ends the pool only if Kysely itself ever used it; a pool
    // used only directly (the worker's) is ended here, or its idle connections
    // would hold the process open until idleTimeoutMillis.
    close: async () => {
      await db.destroy();
      if (!pool.ending) await pool.end();
      await cancelLane?.end();
    },
  };
}
