// `npm run bench stats`: GetStats (the dashboard overview) and the lifecycle
// gauges' read, on the list bench's realistic media (bench/list/fill.ts) at a
// small and a large table, median of 9 each, and their ratio: per-state
// totals come from media_state_totals (never a count over the table), so the
// ratio shows what still grows with the table (the due and purge windows
// read index ranges of media due within 7 days and tombstones purged within 24 hours).
//   BENCH_STATS_SMALL (100000)  BENCH_STATS_LARGE (10000000)
import { connectDatabase } from "@media/server/db";
import { getStats } from "@media/server/media";
import { readLifecycleSnapshot } from "@media/server/metrics";
import { fill } from "./list/fill.ts";
import { benchDatabase, fmt, log, median } from "./shared.ts";

const SIZES = [Number(process.env.BENCH_STATS_SMALL ?? 100_000), Number(process.env.BENCH_STATS_LARGE ?? 10_000_000)];
const RUNS = 9;

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const started = performance.now();
    await fn();
    times.push(performance.now() - started);
  }
  return median(times);
}

const results: { rows: number; stats: number; gauges: number; due7d: string }[] = [];
for (const rows of SIZES) {
  log(`stats bench: ${fmt(rows)} media`);
  const db = await benchDatabase(`stats_${rows}`);
  const handle = connectDatabase({ url: db.url, poolSize: 2 });
  try {
    await fill(handle.pool, rows);
    const stats = await getStats(handle.pool);
    results.push({
      rows,
      stats: await timed(() => getStats(handle.pool)),
      gauges: await timed(() => readLifecycleSnapshot(handle.pool, 30_000)),
      due7d: stats.dueNext7d.count,
    });
  } finally {
    await handle.close();
    await db.stop();
  }
}
const [small, large] = results as [(typeof results)[0], (typeof results)[0]];
log(
  [
    "",
    "| media | GetStats, median ms | lifecycle gauges' read, median ms | due within 7 days |",
    "|---:|---:|---:|---:|",
    ...results.map(
      (r) => `| ${fmt(r.rows)} | ${r.stats.toFixed(1)} | ${r.gauges.toFixed(1)} | ${fmt(Number(r.due7d))} |`,
    ),
    "",
    `large / small: GetStats ${(large.stats / small.stats).toFixed(2)}x, gauges ${(large.gauges / small.gauges).toFixed(2)}x (bar: at most 50 ms at the large size: GetStats ${large.stats <= 50 ? "met" : "NOT met"}, gauges ${large.gauges <= 50 ? "met" : "NOT met"})`,
  ].join("\n"),
);
