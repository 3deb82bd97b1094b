import { outsideCallScope } from "../db/call-scope.ts";
import type { MediaRow } from "../db/schema.ts";
import type { MediaRepository } from "./media-repository.ts";

export interface MediaLoader {
  /** The row for id, or undefined when there is none. */
  load(id: string): Promise<MediaRow | undefined>;
}

interface Waiter {
  resolve(row: MediaRow | undefined): void;
  reject(error: unknown): void;
}

/**
 * Coalesces concurrent single-id lookups: every id asked for during one turn
 * of the event loop is fetched by one `id = ANY($1)` query. Under load this
 * turns N round trips into one, which is where GetMedia's throughput comes from.
 */
export function createMediaLoader(media: Pick<MediaRepository, "findByIds">, maxBatch = 1000): MediaLoader {
  let waiting = new Map<string, Waiter[]>();
  let scheduled = false;

  async function fetchBatch(batch: Map<string, Waiter[]>): Promise<void> {
    try {
      const rows = await media.findByIds([...batch.keys()]);
      const byId = new Map(rows.map((row) => [row.id, row]));
      for (const [id, waiters] of batch) for (const w of waiters) w.resolve(byId.get(id));
    } catch (error) {
      for (const waiters of batch.values()) for (const w of waiters) w.reject(error);
    }
  }

  function flush(): void {
    scheduled = false;
    const all = waiting;
    waiting = new Map();
    let batch = new Map<string, Waiter[]>();
    for (const entry of all) {
      batch.set(...entry);
      if (batch.size === maxBatch) {
        void fetchBatch(batch);
        batch = new Map();
      }
    }
    if (batch.size > 0) void fetchBatch(batch);
  }

  return {
    load(id) {
      return new Promise((resolve, reject) => {
        const waiters = waiting.get(id);
        if (waiters === undefined) waiting.set(id, [{ resolve, reject }]);
        else waiters.push({ resolve, reject });
        if (!scheduled) {
          scheduled = true;
          // The batch serves every call waiting on it: the first caller's end must not cancel it.
          outsideCallScope(() => setImmediate(flush));
        }
      });
    },
  };
}
