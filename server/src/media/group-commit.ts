import { AsyncLocalStorage } from "node:async_hooks";
import { callSignal, outsideCallScope } from "../db/call-scope.ts";

// Group commit: concurrent writes gathered into one statement, so one
// transaction and one commit serve many calls. Every call still gets its own
// outcome, and only once the group has committed. A call waits for the next
// group while GROUPS_IN_FLIGHT groups run, which is what lets groups grow under
// load (and stay single calls when there is none). Calls on the same key keep
// their arrival order: a call whose key is in a running group waits for the
// group after it. A group that fails (a deadlock, a lock wait past its limit,
// a poisoned call) is retried call by call, each in its own call's scope, so
// one bad call never fails its neighbours.

export interface GroupCommitOptions<I, O> {
  /** Runs a group of at least two items in one statement: one result per item, in the items' order. */
  readonly runGroup: (items: readonly I[]) => Promise<O[]>;
  /** Runs one item alone (a group of one, and the retry of a failed group's items). */
  readonly runOne: (item: I) => Promise<O>;
  /** The key whose calls keep their arrival order (the media id). */
  readonly keyOf: (item: I) => string;
  /** Items per group at most. */
  readonly maxGroup: number;
  /** Groups running at once at most. */
  readonly maxInFlight: number;
}

interface Waiting<I, O> {
  readonly item: I;
  readonly key: string;
  /** Runs a function in the caller's async context (its call scope), for the retry alone. */
  readonly inCallerContext: (fn: () => Promise<O>) => Promise<O>;
  settled: boolean;
  resolve(value: O): void;
  reject(error: unknown): void;
}

export function createGroupCommit<I, O>(options: GroupCommitOptions<I, O>): (item: I) => Promise<O> {
  const { runGroup, runOne, keyOf, maxGroup, maxInFlight } = options;
  let queue: Waiting<I, O>[] = [];
  /** Keys with an item in a running group (or its retry). */
  const busy = new Map<string, number>();
  let inFlight = 0;
  let scheduled = false;

  const settle = (w: Waiting<I, O>, outcome: { value: O } | { error: unknown }) => {
    if (w.settled) return;
    w.settled = true;
    if ("value" in outcome) w.resolve(outcome.value);
    else w.reject(outcome.error);
  };

  /** Items to run next: arrival order, at most maxGroup, none whose key is busy (nor any later one of that key). */
  function takeGroup(): Waiting<I, O>[] {
    const group: Waiting<I, O>[] = [];
    const rest: Waiting<I, O>[] = [];
    const held = new Set<string>();
    for (const w of queue) {
      if (w.settled) continue;
      if (group.length < maxGroup && !busy.has(w.key) && !held.has(w.key)) group.push(w);
      else {
        held.add(w.key);
        rest.push(w);
      }
    }
    queue = rest;
    return group;
  }

  async function retryAlone(group: readonly Waiting<I, O>[]): Promise<void> {
    // Per key in arrival order; different keys at once, so one blocked call holds up only its own key.
    const byKey = new Map<string, Waiting<I, O>[]>();
    for (const w of group) {
      const calls = byKey.get(w.key);
      if (calls === undefined) byKey.set(w.key, [w]);
      else calls.push(w);
    }
    await Promise.all(
      [...byKey.values()].map(async (calls) => {
        for (const w of calls) {
          if (w.settled) continue;
          await w
            .inCallerContext(() => runOne(w.item))
            .then(
              (value) => settle(w, { value }),
              (error: unknown) => settle(w, { error }),
            );
        }
      }),
    );
  }

  async function run(group: Waiting<I, O>[]): Promise<void> {
    if (group.length === 1) {
      const [only] = group as [Waiting<I, O>];
      await only
        .inCallerContext(() => runOne(only.item))
        .then(
          (value) => settle(only, { value }),
          (error: unknown) => settle(only, { error }),
        );
      return;
    }
    let results: O[];
    try {
      results = await outsideCallScope(() => runGroup(group.map((w) => w.item)));
    } catch {
      await retryAlone(group);
      return;
    }
    group.forEach((w, i) => {
      settle(w, { value: results[i] as O });
    });
  }

  function drain(): void {
    scheduled = false;
    while (inFlight < maxInFlight) {
      const group = takeGroup();
      if (group.length === 0) return;
      inFlight++;
      for (const w of group) busy.set(w.key, (busy.get(w.key) ?? 0) + 1);
      void run(group).finally(() => {
        inFlight--;
        for (const w of group) {
          const n = (busy.get(w.key) ?? 1) - 1;
          if (n === 0) busy.delete(w.key);
          else busy.set(w.key, n);
        }
        schedule();
      });
    }
  }

  function schedule(): void {
    if (scheduled || queue.length === 0) return;
    scheduled = true;
    // After this turn of the event loop: every call that arrived in it joins the group.
    outsideCallScope(() => setImmediate(drain));
  }

  return (item) =>
    new Promise<O>((resolve, reject) => {
      const signal = callSignal();
      const w: Waiting<I, O> = {
        item,
        key: keyOf(item),
        inCallerContext: AsyncLocalStorage.snapshot(),
        settled: false,
        resolve,
        reject,
      };
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      // A call that ends while it waits answers at once; a group it is in commits without it mattering.
      signal?.addEventListener("abort", () => settle(w, { error: signal.reason }), { once: true });
      queue.push(w);
      schedule();
    });
}
