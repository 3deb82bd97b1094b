import { type ConnectOptions, connectDatabase, type DatabaseHandle, isDatabaseUnavailable } from "@media/server/db";
import type pg from "pg";

// graphile-worker 0.18 completes and fails jobs without awaiting the result,
// and retries those statements only for the error codes it lists (ETIMEDOUT,
// EHOSTUNREACH, 57P03, conflicts): a connection refused or cut during an
// outage there is an unhandled rejection that ends the process (its batched
// variant never retries at all: graphile/worker#636). The pool we hand it
// labels every connection loss ETIMEDOUT, a code it retries with backoff, so
// an outage only delays those statements. Both are single idempotent
// statements (delete the job; update the job this worker still holds).

const RETRIED_BY_GRAPHILE = new Set(["ETIMEDOUT", "EHOSTUNREACH", "57P03", "40001", "40P01"]);

function labelled(error: unknown): unknown {
  if (isDatabaseUnavailable(error)) {
    const e = error as Error & { code?: string };
    if (e.code === undefined || !RETRIED_BY_GRAPHILE.has(e.code)) e.code = "ETIMEDOUT";
  }
  return error;
}

function labelQueries(client: pg.PoolClient): void {
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  client.query = ((...args: unknown[]) => {
    const callback = args.at(-1);
    if (typeof callback === "function") {
      args[args.length - 1] = (error: unknown, ...rest: unknown[]) => callback(labelled(error), ...rest);
      return query(...args);
    }
    const result = query(...args);
    return result instanceof Promise ? result.catch((error) => Promise.reject(labelled(error))) : result;
  }) as typeof client.query;
}

/** The pool graphile-worker runs its queue on: ours (limits, error handling), with connection losses it retries. */
export function connectQueuePool(options: ConnectOptions): DatabaseHandle {
  const handle = connectDatabase(options);
  const { pool } = handle;
  pool.on("connect", labelQueries);
  const connect = pool.connect.bind(pool) as (callback?: (error: unknown, ...rest: unknown[]) => void) => unknown;
  pool.connect = ((callback?: (error: unknown, ...rest: unknown[]) => void) =>
    callback === undefined
      ? (connect() as Promise<pg.PoolClient>).catch((error) => Promise.reject(labelled(error)))
      : connect((error, ...rest) => callback(labelled(error), ...rest))) as typeof pool.connect;
  return handle;
}
