import { Kysely, PostgresDialect } from "kysely";
import pg from "pg";
import type { Database } from "./schema.ts";

export interface DatabaseHandle {
  readonly db: Kysely<Database>;
  readonly pool: pg.Pool;
  close(): Promise<void>;
}

export interface ConnectOptions {
  readonly url: string;
  readonly poolSize: number;
  /** How long to wait for a connection (a new one, or a free slot) before failing; default 2 s. */
  readonly connectTimeoutMs?: number;
  /** Called for errors on idle connections (a restarted database, say); the pool replaces them. */
  readonly onIdleError?: (error: Error) => void;
}

/**
 * Settings every session of ours runs with, whatever the database or role
 * defaults: node-pg parses timestamps in ISO style only.
 */
export const SESSION_OPTIONS = "-c datestyle=ISO,YMD";

/** Opens a pool and a Kysely instance over it. Nothing connects until the first query. */
export function connectDatabase(options: ConnectOptions): DatabaseHandle {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.poolSize,
    // Fail fast when the database is unreachable instead of queueing forever.
    connectionTimeoutMillis: options.connectTimeoutMs ?? 2000,
    idleTimeoutMillis: 30_000,
    options: SESSION_OPTIONS,
  });
  pool.on("error", (error) => options.onIdleError?.(error));
  // A connection that dies while checked out also emits "error" on its client;
  // without a listener that would crash the process. The failing query rejects
  // on its own, so the listener only has to exist.
  pool.on("connect", (client) => client.on("error", () => {}));
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return {
    db,
    pool,
    // Kysely's destroy ends the pool it was given.
    close: () => db.destroy(),
  };
}
