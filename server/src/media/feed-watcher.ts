import type pg from "pg";
import { outsideCallScope } from "../db/call-scope.ts";
import { before, type FeedPosition, feedEnd } from "./event-feed.ts";

// The change feed's long poll: one watcher per server process reads the
// feed's end (one short index read) every intervalMs while some ListEvents
// call waits, and wakes the calls whose cursor it has passed. No call polls on
// its own and nothing polls while nobody waits; LISTEN/NOTIFY is not used (it
// would cost every writing transaction a notification, and a connection here).

/** How often the watcher reads the feed's end while calls wait. */
export const FEED_WATCH_INTERVAL_MS = 150;

export interface FeedWatcher {
  /**
   * Resolves true once the feed's end is past `position`; false when untilMs
   * (a performance.now() time) comes first, the signal aborts, or the watcher
   * is closed.
   */
  waitPast(position: FeedPosition, untilMs: number, signal: AbortSignal): Promise<boolean>;
  /** Ends every wait now (false) and every later one at once: for shutdown. */
  close(): void;
}

interface Waiter {
  readonly position: FeedPosition;
  readonly settle: (woke: boolean) => void;
}

export function createFeedWatcher(
  pool: pg.Pool,
  intervalMs = FEED_WATCH_INTERVAL_MS,
  readEnd: (pool: pg.Pool) => Promise<FeedPosition> = feedEnd,
): FeedWatcher {
  const waiters = new Set<Waiter>();
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  const schedule = () => {
    if (timer === undefined && !closed && waiters.size > 0) timer = setTimeout(tick, intervalMs);
  };

  async function tick() {
    try {
      // Shared by every waiting call: no one call's end may cancel it.
      const end = await outsideCallScope(() => readEnd(pool));
      for (const waiter of waiters) if (before(waiter.position, end)) waiter.settle(true);
    } catch {
      // The database is unavailable for now: the waits go on until their time is up.
    } finally {
      timer = undefined;
      schedule();
    }
  }

  return {
    waitPast(position, untilMs, signal) {
      const ms = untilMs - performance.now();
      if (closed || signal.aborted || ms <= 0) return Promise.resolve(false);
      return new Promise<boolean>((resolve) => {
        const waiter: Waiter = {
          position,
          settle: (woke) => {
            if (!waiters.delete(waiter)) return;
            clearTimeout(timeout);
            signal.removeEventListener("abort", onAbort);
            resolve(woke);
          },
        };
        const onAbort = () => waiter.settle(false);
        const timeout = setTimeout(() => waiter.settle(false), ms);
        signal.addEventListener("abort", onAbort, { once: true });
        waiters.add(waiter);
        schedule();
      });
    },
    close() {
      closed = true;
      clearTimeout(timer);
      timer = undefined;
      for (const waiter of waiters) waiter.settle(false);
    },
  };
}
