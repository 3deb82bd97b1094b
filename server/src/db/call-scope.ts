import { AsyncLocalStorage } from "node:async_hooks";
import type pg from "pg";

// Ties the database work of an API call to the call: when the call ends early
// (its deadline passed, or the caller cancelled), PostgreSQL stops the
// queries the call has running, so a query waiting on a lock does not hold a
// connection, and the pool, past the deadline its caller gave up at.

type Cancel = (processId: number) => Promise<void>;

interface CallScope {
  readonly signal: AbortSignal;
  /** Connections the call has checked out, with how to cancel each one's query. */
  readonly connections: Map<pg.PoolClient, Cancel>;
  /** Connections whose query was cancelled: never returned to the pool (see tieToCall). */
  readonly cancelled: Set<pg.PoolClient>;
}

const scopes = new AsyncLocalStorage<CallScope>();

/** Thrown for a connection handed to a call that had already ended. */
export class CallEndedError extends Error {
  override name = "CallEndedError";
}

/** Runs fn with every connection it checks out (from a pool made with cancelWithCalls) tied to signal. */
export async function runInCallScope<T>(signal: AbortSignal, fn: () => Promise<T>): Promise<T> {
  const scope: CallScope = { signal, connections: new Map(), cancelled: new Set() };
  const onAbort = () => {
    for (const [client, cancel] of scope.connections) {
      scope.cancelled.add(client);
      const pid = (client as pg.PoolClient & { processID: number | null }).processID;
      if (pid !== null) void cancel(pid).catch(() => {});
    }
  };
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    return await scopes.run(scope, fn);
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}

/** The abort signal of the API call this code runs for; undefined outside any call. */
export function callSignal(): AbortSignal | undefined {
  return scopes.getStore()?.signal;
}

/** Database work done on behalf of many calls at once (a batched lookup): no one call's end may cancel it. */
export function outsideCallScope<T>(fn: () => T): T {
  return scopes.exit(fn);
}

function tieToCall(scope: CallScope, client: pg.PoolClient, cancel: Cancel): pg.PoolClient {
  if (scope.signal.aborted) {
    client.release();
    throw new CallEndedError("the call ended before a database connection was free");
  }
  scope.connections.set(client, cancel);
  const release = client.release;
  client.release = (error?: Error | boolean) => {
    scope.connections.delete(client);
    // A cancel may still be on its way: this connection must not serve another call's query first.
    return release(
      error ?? (scope.cancelled.has(client) ? new CallEndedError("its call's query was cancelled") : undefined),
    );
  };
  return client;
}

/**
 * Makes the pool's connections follow the call scope they are checked out in
 * (pool.query and Kysely both check out through pool.connect); cancel stops
 * the query of a backend by its process id, on a connection of its own.
 */
export function cancelWithCalls(pool: pg.Pool, cancel: Cancel): void {
  const connect = pool.connect.bind(pool);
  const scoped = (callback?: (error: Error | undefined, client?: pg.PoolClient, done?: () => void) => void) => {
    const scope = scopes.getStore();
    if (scope === undefined) return callback === undefined ? connect() : connect(callback as never);
    const acquired = connect().then((client) => tieToCall(scope, client, cancel));
    if (callback === undefined) return acquired;
    acquired.then(
      (client) => callback(undefined, client, client.release),
      (error: Error) => callback(error),
    );
    return undefined;
  };
  pool.connect = scoped as typeof pool.connect;
}
