// `npm run bench deletion`: deletes BENCH_FILES (1,000,000) expired orphans from
// the disk store with a real worker process, measuring end-to-end time and the
// worker's peak RSS, beside the naive one-job-per-file design run on
// BENCH_BASELINE_FILES (20,000) in the same run. BENCH_WORKER_CONCURRENCY (8).
import { type ChildProcess, spawn } from "node:child_process";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { connectDatabase } from "@media/server/db";
import { requestSweep } from "@media/server/deletion";
import { forEachLimited } from "@media/server/storage";
import { startupLineWatcher } from "@media/server/testing";
import type pg from "pg";
import { BENCH_AUTH_ENV, benchDatabase, fmt, log, peakRssMiB, root } from "./shared.ts";

const FILES = Number(process.env.BENCH_FILES ?? 1_000_000);
const BASELINE_FILES = Number(process.env.BENCH_BASELINE_FILES ?? 20_000);
const CONCURRENCY = Number(process.env.BENCH_WORKER_CONCURRENCY ?? 8);
const FOLDERS = 1000;

const keyOf = (i: number) => `d${i % FOLDERS}/f${i}.bin`;

async function makeFiles(dir: string, from: number, to: number): Promise<void> {
  for (let f = 0; f < FOLDERS; f++) await mkdir(path.join(dir, `d${f}`), { recursive: true });
  const started = performance.now();
  const indexes = Array.from({ length: to - from }, (_, i) => from + i);
  for (let i = 0; i < indexes.length; i += 100_000) {
    await forEachLimited(indexes.slice(i, i + 100_000), 64, (n) => writeFile(path.join(dir, keyOf(n)), "x"));
    log(`  wrote ${fmt(Math.min(i + 100_000, indexes.length))} / ${fmt(indexes.length)} files`);
  }
  log(`  files took ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

async function insertOrphans(sql: pg.Pool, from: number, to: number): Promise<void> {
  for (let i = from; i < to; i += 200_000) {
    await sql.query(
      `INSERT INTO media (store, key, size_bytes, state, orphan_time, delete_time)
       SELECT 'default', 'd' || (g % ${FOLDERS}) || '/f' || g || '.bin', 1, 'ORPHANED', now() - interval '8 days', now() - interval '1 day'
       FROM generate_series($1::int, $2::int) g`,
      [i, Math.min(to, i + 200_000) - 1],
    );
  }
  await sql.query("VACUUM ANALYZE media");
}

async function countFiles(dir: string): Promise<number> {
  let n = 0;
  for (const folder of await readdir(dir)) n += (await readdir(path.join(dir, folder))).length;
  return n;
}

// BENCH_WORKER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the worker processes.
const nodeArgs = (process.env.BENCH_WORKER_NODE_ARGS ?? "").split(" ").filter(Boolean);

/** Starts a process and waits until isUp says a chunk of its stdout shows it up. */
function spawnAndWait(
  args: string[],
  env: Record<string, string>,
  isUp: (chunk: string) => boolean,
): Promise<ChildProcess> {
  const child = spawn(process.execPath, [...nodeArgs, ...args], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  return new Promise((resolve, reject) => {
    child.stdout?.on("data", (chunk: Buffer) => {
      if (isUp(chunk.toString())) resolve(child);
    });
    child.on("exit", (code) => reject(new Error(`${args[0]} exited with ${code}`)));
  });
}

/** Waits until no media rows are left, sampling the process's peak RSS; returns seconds. */
async function timeUntilEmpty(sql: pg.Pool, pid: number, start: () => Promise<void>) {
  const started = performance.now();
  await start();
  let peak = 0;
  let lastReport = performance.now();
  for (;;) {
    if (performance.now() - lastReport > 10_000) {
      lastReport = performance.now();
      const live = await sql.query("SELECT n_live_tup FROM pg_stat_user_tables WHERE relname = 'media'");
      log(
        `  ${((lastReport - started) / 1000).toFixed(0)} s: about ${fmt(Number(live.rows[0]?.n_live_tup ?? 0))} rows left`,
      );
    }
    peak = Math.max(peak, await peakRssMiB(pid));
    // Cheap probe (a count over a large table would load the database it measures).
    const { rows } = await sql.query("SELECT 1 FROM media LIMIT 1");
    if (rows.length === 0) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  return { seconds: (performance.now() - started) / 1000, peakRss: Math.max(peak, await peakRssMiB(pid)) };
}

const db = await benchDatabase("deletion");
const dir = await mkdtemp(path.join(tmpdir(), "media-bench-files-"));
const handle = connectDatabase({ url: db.url, poolSize: 4 });
const sql = handle.pool;
try {
  log(
    `deletion bench: ${fmt(FILES)} orphans on disk, worker concurrency ${CONCURRENCY}; baseline ${fmt(BASELINE_FILES)}`,
  );
  await makeFiles(dir, 0, FILES);
  await insertOrphans(sql, 0, FILES);

  const worker = await spawnAndWait(
    ["worker/src/main.ts", "--worker-only"],
    {
      DATABASE_URL: db.url,
      STORES: `default=file:${dir}`,
      BLAST_RADIUS_LIMIT: String(FILES * 2),
      WORKER_CONCURRENCY: String(CONCURRENCY),
      LOG_LEVEL: "warn",
      METRICS_PORT: "0",
      ...BENCH_AUTH_ENV,
    },
    (() => {
      const watch = startupLineWatcher();
      return (chunk) => watch(chunk) !== undefined;
    })(),
  );
  log("deleting with the worker...");
  const batched = await timeUntilEmpty(sql, worker.pid ?? 0, async () => {
    if (!(await requestSweep(sql))) throw new Error("the worker is up, yet there is no job queue");
  });
  worker.kill("SIGTERM");
  const leftBatched = await countFiles(dir);

  log(`baseline: ${fmt(BASELINE_FILES)} files, one job each...`);
  await sql.query("TRUNCATE graphile_worker._private_jobs CASCADE").catch(() => {});
  await makeFiles(dir, FILES, FILES + BASELINE_FILES);
  await insertOrphans(sql, FILES, FILES + BASELINE_FILES);
  const baselineWorker = await spawnAndWait(
    ["bench/one-job-per-file.ts", db.url, dir, String(CONCURRENCY)],
    {},
    (chunk) => chunk.includes("baseline worker is up"),
  );
  const baseline = await timeUntilEmpty(sql, baselineWorker.pid ?? 0, async () => {
    await sql.query("SELECT graphile_worker.add_job('delete_one', json_build_object('id', id)) FROM media");
  });
  baselineWorker.kill("SIGTERM");
  const leftBaseline = await countFiles(dir);

  const rate = FILES / batched.seconds;
  const baseRate = BASELINE_FILES / baseline.seconds;
  log(
    [
      "",
      "| design | files | seconds | files/s | worker peak RSS | files left |",
      "|---|---:|---:|---:|---:|---:|",
      `| batched claims (this service) | ${fmt(FILES)} | ${batched.seconds.toFixed(1)} | ${fmt(rate)} | ${batched.peakRss.toFixed(0)} MiB | ${leftBatched} |`,
      `| one job per file (baseline) | ${fmt(BASELINE_FILES)} | ${baseline.seconds.toFixed(1)} | ${fmt(baseRate)} | ${baseline.peakRss.toFixed(0)} MiB | ${leftBaseline} |`,
      "",
      `speed-up: ${(rate / baseRate).toFixed(1)}x (bar >= 10x); ${fmt(FILES)} files in ${batched.seconds.toFixed(1)} s (bar <= 60 s); peak RSS ${batched.peakRss.toFixed(0)} MiB (bar <= 256 MiB)`,
    ].join("\n"),
  );
} finally {
  await handle.close();
  await rm(dir, { recursive: true, force: true });
  await db.stop();
}
