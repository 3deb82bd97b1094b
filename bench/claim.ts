// `npm run bench claim`: the cost of claiming one batch of due orphans in a
// table of BENCH_SMALL_ROWS (100,000) rows and of BENCH_LARGE_ROWS (10,000,000)
// rows, each with the same 10,000 due orphans among rows that are linked or not
// yet due. The claim reads the partial due index, so it should cost the same.
// The plan shown is the real claim statement's (claimDueBatch's own), explained
// in a transaction that is rolled back.

import { connectDatabase } from "@media/server/db";
import { claimDueBatch } from "@media/server/deletion";
import { runMigrations } from "graphile-worker";
import type pg from "pg";
import { benchDatabase, fmt, log, median } from "./shared.ts";

const SMALL = Number(process.env.BENCH_SMALL_ROWS ?? 100_000);
const LARGE = Number(process.env.BENCH_LARGE_ROWS ?? 10_000_000);
const DUE = 10_000;
const CLAIMS = 7;

async function fill(sql: pg.Pool, rows: number): Promise<void> {
  const started = performance.now();
  const chunk = 1_000_000;
  for (let from = 0; from < rows; from += chunk) {
    const to = Math.min(rows, from + chunk) - 1;
    // Every 1000th row is a due orphan until DUE of them exist; a third of the rest wait in their
    // grace period, the others are linked.
    await sql.query(
      `INSERT INTO media (store, key, size_bytes, state, reference_count, orphan_time, delete_time)
       SELECT 'default', 'claim/' || g, 1,
              (CASE WHEN g % $3 = 0 AND g / $3 < $4 THEN 'ORPHANED' WHEN g % 3 = 0 THEN 'ORPHANED' ELSE 'LINKED' END)::media_state,
              CASE WHEN (g % $3 = 0 AND g / $3 < $4) OR g % 3 = 0 THEN 0 ELSE 1 END,
              CASE WHEN (g % $3 = 0 AND g / $3 < $4) OR g % 3 = 0 THEN now() END,
              CASE WHEN g % $3 = 0 AND g / $3 < $4 THEN now() - interval '1 hour'
                   WHEN g % 3 = 0 THEN now() + interval '3 days' END
       FROM generate_series($1::int, $2::int) g`,
      [from, to, Math.max(1, Math.floor(rows / DUE)), DUE],
    );
    if (rows > chunk) log(`  inserted ${fmt(to + 1)} / ${fmt(rows)}`);
  }
  await sql.query("VACUUM ANALYZE media");
  log(`  ${fmt(rows)} rows in ${((performance.now() - started) / 1000).toFixed(0)} s`);
}

/**
 * EXPLAIN (ANALYZE, BUFFERS) of the statement claimDueBatch sends, claiming
 * one batch of 1,000 inside a transaction that is then rolled back: the
 * function runs on a stand-in pool whose query explains instead.
 */
async function claimPlan(sql: pg.Pool): Promise<string> {
  const client = await sql.connect();
  let plan = "";
  const explaining = {
    async query(text: string, values: unknown[]) {
      const result = await client.query(`EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) ${text}`, values);
      plan = result.rows.map((r) => r["QUERY PLAN"]).join("\n");
      return { rows: [{ n: 0, delete_time: null, id: null }] };
    },
  } as unknown as pg.Pool;
  try {
    await client.query("BEGIN");
    await claimDueBatch(explaining, 1000, 600);
    return plan;
  } finally {
    await client.query("ROLLBACK");
    client.release();
  }
}

async function measure(rows: number) {
  const db = await benchDatabase(`claim_${rows}`);
  const handle = connectDatabase({ url: db.url, poolSize: 2 });
  const sql = handle.pool;
  try {
    await runMigrations({ pgPool: sql });
    await fill(sql, rows);
    const plan = await claimPlan(sql);
    const times: number[] = [];
    let cursor: Awaited<ReturnType<typeof claimDueBatch>>["cursor"];
    for (let i = 0; i < CLAIMS; i++) {
      const started = performance.now();
      const result = await claimDueBatch(sql, 1000, 600, cursor);
      times.push(performance.now() - started);
      cursor = result.cursor;
      if (result.claimed !== 1000) throw new Error(`claimed ${result.claimed}, expected 1000`);
    }
    return { median: median(times), plan };
  } finally {
    await handle.close();
    await db.stop();
  }
}

log(`claim bench: one batch of 1,000 out of ${fmt(DUE)} due, in ${fmt(SMALL)} and ${fmt(LARGE)} rows`);
const small = await measure(SMALL);
const large = await measure(LARGE);
log(
  [
    "",
    "| table rows | median claim of 1,000 (ms, incl. events and job) |",
    "|---:|---:|",
    `| ${fmt(SMALL)} | ${small.median.toFixed(1)} |`,
    `| ${fmt(LARGE)} | ${large.median.toFixed(1)} |`,
    "",
    `ratio large/small: ${(large.median / small.median).toFixed(2)} (bar: within 2x)`,
    "",
    `plan of the claim statement at ${fmt(LARGE)} rows:`,
    large.plan,
  ].join("\n"),
);
