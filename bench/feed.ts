// `npm run bench feed`: what the change feed costs (migration 0009, MediaService.ListEvents).
// Writing: microseconds per event for a bulk INSERT ... SELECT of events, three ways on a fresh
// database each: the store filled by the trigger (an insert that names none), the store given (what
// the engine's statements do), and without 0009's trigger and its two indexes (what an event cost
// before), the median of 3 runs; single-event transactions are commit-bound and shown for scale.
// Reading: events/s through readFeedPage in pages of 1,000, and one call's time for a filter that
// matches nothing (10,000 events examined).
//   BENCH_FEED_EVENTS (100000 per run)
import { connectDatabase } from "@media/server/db";
import { FEED_START, type FeedFilter, readFeedPage, SCAN_LIMIT } from "@media/server/media";
import { benchDatabase, fmt, log, median } from "./shared.ts";

const EVENTS = Number(process.env.BENCH_FEED_EVENTS ?? 100_000);
const SINGLES = 2000;

const CONFIGS = [
  { label: "store filled by the trigger", store: null, strip: false },
  { label: "store given", store: "default", strip: false },
  { label: "without 0009's trigger and indexes", store: "default", strip: true },
] as const;

const NO_FILTER: FeedFilter = {
  types: undefined,
  ownerPrefix: undefined,
  store: undefined,
  actor: undefined,
  startTime: undefined,
  endTime: undefined,
};
const NO_LIMITS = { stores: undefined, ownerPrefixes: undefined };

const writes: { label: string; bulkUs: number; singlesPerSecond: number }[] = [];
let reading = "";
for (const config of CONFIGS) {
  log(`feed bench: writing events, ${config.label}`);
  const db = await benchDatabase(`feed_${writes.length}`);
  const handle = connectDatabase({ url: db.url, poolSize: 8 });
  const pool = handle.pool;
  try {
    if (config.strip) {
      await pool.query(
        "DROP TRIGGER media_events_store ON media_events; DROP INDEX media_events_feed_idx; DROP INDEX media_events_id_idx",
      );
    }
    await pool.query(`INSERT INTO media (store, key, size_bytes, labels, state, delete_time)
      SELECT 'default', 'feed/' || g, 1, '{}', 'PENDING', now() FROM generate_series(1, 1000) g`);
    const first = (await pool.query("SELECT min(id)::text AS id FROM media")).rows[0].id as string;
    const times: number[] = [];
    for (let run = 0; run < 3; run++) {
      const started = performance.now();
      await pool.query(
        `INSERT INTO media_events (media_id, type, actor, store)
         SELECT $1::bigint + (g % 1000), 'HELD', 'bench', $2 FROM generate_series(1, $3) g`,
        [first, config.store, EVENTS],
      );
      times.push(((performance.now() - started) * 1000) / EVENTS);
    }
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < SINGLES) {
          next++;
          await pool.query(
            "INSERT INTO media_events (media_id, type, actor, store) VALUES ($1::bigint + $2, 'HELD', 'bench', $3)",
            [first, next % 1000, config.store],
          );
        }
      }),
    );
    writes.push({
      label: config.label,
      bulkUs: median(times),
      singlesPerSecond: SINGLES / ((performance.now() - started) / 1000),
    });
    if (!config.strip) {
      await pool.query("VACUUM ANALYZE media_events");
      let position = FEED_START;
      let read = 0;
      const began = performance.now();
      for (;;) {
        const page = await readFeedPage(pool, position, NO_FILTER, NO_LIMITS, 1000);
        read += page.events.length;
        position = page.next;
        if (page.caughtUp) break;
      }
      const readMs = performance.now() - began;
      const sparse: number[] = [];
      for (let i = 0; i < 9; i++) {
        const t0 = performance.now();
        await readFeedPage(pool, FEED_START, { ...NO_FILTER, actor: "nobody" }, NO_LIMITS, 100);
        sparse.push(performance.now() - t0);
      }
      reading =
        `reading: ${fmt(read)} events in pages of 1,000 at ${fmt(Math.round(read / (readMs / 1000)))} events/s; ` +
        `a filter matching nothing: ${median(sparse).toFixed(1)} ms per call (${fmt(SCAN_LIMIT)} examined), median of 9`;
    }
  } finally {
    await handle.close();
    await db.stop();
  }
}
const [trigger, given, before] = writes as [(typeof writes)[0], (typeof writes)[0], (typeof writes)[0]];
log(
  [
    "",
    "| events written | µs per event, bulk (median of 3) | single-event transactions/s, 8 at once |",
    "|---|---:|---:|",
    ...writes.map((w) => `| ${w.label} | ${w.bulkUs.toFixed(1)} | ${fmt(Math.round(w.singlesPerSecond))} |`),
    "",
    `the two indexes: +${(given.bulkUs - before.bulkUs).toFixed(1)} µs per event; the trigger's lookup: +${(trigger.bulkUs - given.bulkUs).toFixed(1)} µs per event that names no store`,
    reading,
  ].join("\n"),
);
