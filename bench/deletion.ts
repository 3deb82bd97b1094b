// `npm run bench deletion`: the deletion engine on a disk store, with real worker
// processes, in one run and one table:
//   1. into the trash: BENCH_FILES (1,000,000) expired orphans, a worker with
//      TRASH_RETENTION=7d, until no row is ORPHANED or DELETING (all TRASHED);
//      verifies that no file is left at its key and that the trash holds them all;
//   2. purge: their purge_time back-dated in SQL, a fresh worker, one sweep,
//      until the media table is empty; verifies that the trash is empty;
//   3. direct delete: BENCH_FILES fresh orphans, a worker with TRASH_RETENTION=0
//      (deletion as it was before the trash), until the media table is empty;
//   4. the naive one-job-per-file design on BENCH_BASELINE_FILES (20,000).
// Each design deletes from a fresh store folder of its own (the purge from the
// first phase's trash), and the direct delete from a freshly truncated table. Each phase measures end-to-end time, its worker's peak RSS and the WAL PostgreSQL
// wrote meanwhile (autovacuum's included, as production would pay it); each worker is
// stopped (SIGTERM) and has exited before the next starts. The workers run `npm run
// worker`'s command, heap flags included (workerOnlyArgs). BENCH_WORKER_CONCURRENCY
// (8); BENCH_WORKER_NODE_ARGS passes more node flags to the workers (the command's own
// come after them, and win).
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { connectDatabase, type MediaStateName } from "@media/server/db";
import { requestSweep } from "@media/server/deletion";
import { readStateTotals } from "@media/server/media";
import { forEachLimited, TRASH_FOLDER } from "@media/server/storage";
import { startupLineWatcher, workerOnlyArgs } from "@media/server/testing";
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
  // The kernel's writeback of what the bench just wrote is setup, not the deletion: flushed before timing.
  const flushing = performance.now();
  const flushed = spawnSync("sync", ["--file-system", dir], { stdio: "inherit" });
  if (flushed.status !== 0) throw new Error(`sync --file-system ${dir} failed (${flushed.status ?? flushed.signal})`);
  log(`  flushing them to disk took ${((performance.now() - flushing) / 1000).toFixed(1)} s`);
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

/** Files at their keys: the key folders' entries, the trash folder not among them. */
async function countFiles(dir: string): Promise<number> {
  let n = 0;
  for (const folder of await readdir(dir)) {
    if (folder !== TRASH_FOLDER) n += (await readdir(path.join(dir, folder))).length;
  }
  return n;
}

/** Files in the store's trash (`.media-trash/<shard>/<id>`); 0 when there is no trash folder. */
async function countTrash(dir: string): Promise<number> {
  const trash = path.join(dir, TRASH_FOLDER);
  const shards = await readdir(trash).catch((e: NodeJS.ErrnoException) => {
    if (e.code === "ENOENT") return [];
    throw e;
  });
  let n = 0;
  for (const shard of shards) n += (await readdir(path.join(trash, shard))).length;
  return n;
}

/** Makes every tombstone due for purging, in chunks of ids, then VACUUM ANALYZE. */
async function backdatePurgeTimes(sql: pg.Pool): Promise<number> {
  const { rows } = await sql.query<{ lo: string | null; hi: string | null }>(
    "SELECT min(id)::text AS lo, max(id)::text AS hi FROM media WHERE purge_time IS NOT NULL",
  );
  const lo = Number(rows[0]?.lo ?? 0);
  const hi = Number(rows[0]?.hi ?? -1);
  let updated = 0;
  for (let i = lo; i <= hi; i += 200_000) {
    const result = await sql.query(
      `UPDATE media SET purge_time = now() - interval '1 second'
       WHERE id BETWEEN $1 AND $2 AND purge_time IS NOT NULL`,
      [i, Math.min(hi, i + 200_000 - 1)],
    );
    updated += result.rowCount ?? 0;
  }
  await sql.query("VACUUM ANALYZE media");
  return updated;
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

/** Sends SIGTERM and waits until the process has exited (SIGKILL if it has not after a minute). */
async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => {
    log(`  pid ${child.pid} still running a minute after SIGTERM: SIGKILL`);
    child.kill("SIGKILL");
  }, 60_000);
  await exited;
  clearTimeout(timer);
}

/**
 * A phase's end: no media left in these states, or in any state. Read from the
 * state totals (constant time, media/state-totals.ts): a probe over the media
 * table itself walks the dead index entries the phase leaves behind, and at a
 * million rows polling it cost PostgreSQL a third of the CPU it measures. The
 * table is asked once at the end, to confirm.
 */
type PhaseEnd = { readonly states: readonly MediaStateName[] } | "empty";
const UNTRASHED: PhaseEnd = { states: ["ORPHANED", "DELETING"] };

const confirmation = (end: PhaseEnd) =>
  end === "empty"
    ? "SELECT 1 FROM media LIMIT 1"
    : `SELECT 1 FROM media WHERE state IN (${end.states.map((s) => `'${s}'`).join(", ")}) LIMIT 1`;

/** PostgreSQL's current WAL position, as a byte count (pg_lsn minus 0/0). */
async function walPosition(sql: pg.Pool): Promise<number> {
  const { rows } = await sql.query<{ at: string }>("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::text AS at");
  return Number(rows[0]?.at ?? 0);
}

/** Waits until the phase has ended, sampling the process's peak RSS; returns seconds and the WAL written meanwhile. */
async function timeUntil(sql: pg.Pool, pid: number, end: PhaseEnd, start: () => Promise<void>) {
  const walBefore = await walPosition(sql);
  const started = performance.now();
  await start();
  let peak = 0;
  let lastReport = performance.now();
  for (;;) {
    const totals = (await readStateTotals(sql)).filter((t) => Number(t.count) !== 0);
    if (performance.now() - lastReport > 10_000) {
      lastReport = performance.now();
      const counts = totals.map((t) => `${t.state} ${fmt(Number(t.count))}`).join(", ");
      log(`  ${((lastReport - started) / 1000).toFixed(0)} s: ${counts || "no media"}`);
    }
    peak = Math.max(peak, await peakRssMiB(pid));
    if (!totals.some((t) => end === "empty" || end.states.includes(t.state))) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  const seconds = (performance.now() - started) / 1000;
  const walBytes = (await walPosition(sql)) - walBefore;
  if ((await sql.query(confirmation(end))).rows.length > 0) {
    throw new Error("the state totals say the phase is over, but the media table disagrees: the totals drifted");
  }
  return { seconds, peakRss: Math.max(peak, await peakRssMiB(pid)), walBytes };
}

const db = await benchDatabase("deletion");
const base = await mkdtemp(path.join(tmpdir(), "media-bench-files-"));
/**
 * Each design deletes from a store folder of its own, fresh, as the first does: the folders the
 * earlier phases emptied (and the kernel's state they left: a million names unlinked in each) would
 * otherwise slow a later design's file system calls, and with them the comparison.
 */
async function freshStore(name: string): Promise<string> {
  const root = path.join(base, name);
  await mkdir(root);
  return root;
}
const trashDir = await freshStore("trash-then-purge");
const directDir = await freshStore("direct");
const baselineDir = await freshStore("one-job-per-file");
const handle = connectDatabase({ url: db.url, poolSize: 4 });
const sql = handle.pool;
let running: ChildProcess | undefined;

/** Starts the service's worker with this trash retention, and waits until it is up. */
async function startWorker(trashRetention: string, dir: string): Promise<ChildProcess> {
  const watch = startupLineWatcher();
  running = await spawnAndWait(
    workerOnlyArgs(),
    {
      DATABASE_URL: db.url,
      STORES: `default=file:${dir}`,
      TRASH_RETENTION: trashRetention,
      BLAST_RADIUS_LIMIT: String(FILES * 2),
      WORKER_CONCURRENCY: String(CONCURRENCY),
      LOG_LEVEL: "warn",
      METRICS_PORT: "0",
      ...BENCH_AUTH_ENV,
    },
    (chunk) => watch(chunk) !== undefined,
  );
  return running;
}

async function stopRunning(): Promise<void> {
  if (running !== undefined) await stopProcess(running);
  running = undefined;
}

const sweep = async () => {
  if (!(await requestSweep(sql))) throw new Error("the worker is up, yet there is no job queue");
};

try {
  log(
    `deletion bench: ${fmt(FILES)} orphans on disk (into the trash, purge, direct delete), worker concurrency ${CONCURRENCY}; baseline ${fmt(BASELINE_FILES)}`,
  );
  await makeFiles(trashDir, 0, FILES);
  await insertOrphans(sql, 0, FILES);

  log("into the trash: worker with TRASH_RETENTION=7d...");
  const trashWorker = await startWorker("7d", trashDir);
  const trashed = await timeUntil(sql, trashWorker.pid ?? 0, UNTRASHED, sweep);
  await stopRunning();
  const states = await sql.query<{ state: string; n: string }>(
    "SELECT state::text, count(*)::text AS n FROM media GROUP BY state ORDER BY state",
  );
  const tombstones = Number(states.rows.find((r) => r.state === "TRASHED")?.n ?? 0);
  const leftTrashed = await countFiles(trashDir);
  const inTrash = await countTrash(trashDir);
  log(`  rows by state: ${states.rows.map((r) => `${r.state} ${fmt(Number(r.n))}`).join(", ") || "none"}`);
  log(`  files at their keys: ${fmt(leftTrashed)}; in the trash: ${fmt(inTrash)} (expected ${fmt(FILES)})`);

  log("purge: purge_time back-dated, a fresh worker, one sweep...");
  const backdated = await backdatePurgeTimes(sql);
  log(`  back-dated ${fmt(backdated)} tombstones`);
  const purgeWorker = await startWorker("7d", trashDir);
  const purged = await timeUntil(sql, purgeWorker.pid ?? 0, "empty", sweep);
  await stopRunning();
  const leftInTrash = await countTrash(trashDir);

  log("direct delete: fresh orphans, worker with TRASH_RETENTION=0...");
  await makeFiles(directDir, FILES, 2 * FILES);
  // The purge left the table empty but its storage full of the first two phases' dead space: the
  // direct delete starts on a table as fresh as the first phase's, as it does on fresh folders.
  await sql.query("TRUNCATE media_references, media");
  await insertOrphans(sql, FILES, 2 * FILES);
  const directWorker = await startWorker("0", directDir);
  const direct = await timeUntil(sql, directWorker.pid ?? 0, "empty", sweep);
  await stopRunning();
  const leftDirect = await countFiles(directDir);
  const trashAfterDirect = await countTrash(directDir);

  log(`baseline: ${fmt(BASELINE_FILES)} files, one job each...`);
  await sql.query("TRUNCATE graphile_worker._private_jobs CASCADE").catch(() => {});
  await makeFiles(baselineDir, 2 * FILES, 2 * FILES + BASELINE_FILES);
  await insertOrphans(sql, 2 * FILES, 2 * FILES + BASELINE_FILES);
  running = await spawnAndWait(["bench/one-job-per-file.ts", db.url, baselineDir, String(CONCURRENCY)], {}, (chunk) =>
    chunk.includes("baseline worker is up"),
  );
  const baseline = await timeUntil(sql, running.pid ?? 0, "empty", async () => {
    await sql.query("SELECT graphile_worker.add_job('delete_one', json_build_object('id', id)) FROM media");
  });
  await stopRunning();
  const leftBaseline = await countFiles(baselineDir);

  const trashRate = FILES / trashed.seconds;
  const purgeRate = FILES / purged.seconds;
  const directRate = FILES / direct.seconds;
  const baseRate = BASELINE_FILES / baseline.seconds;
  const bothSeconds = trashed.seconds + purged.seconds;
  const bothRate = FILES / bothSeconds;
  // The time bar is 60 s for 1,000,000 files: a rate, so that smaller runs are judged the same way.
  const BAR_RATE = 1_000_000 / 60;
  const bar = (met: boolean) => (met ? "met" : "NOT met");
  const row = (
    design: string,
    files: number,
    r: { seconds: number; peakRss: number; walBytes: number },
    left: number,
  ) =>
    `| ${design} | ${fmt(files)} | ${r.seconds.toFixed(1)} | ${fmt(files / r.seconds)} | ${r.peakRss.toFixed(0)} MiB | ${fmt(r.walBytes / files)} B | ${fmt(left)} |`;
  const rss = (r: { peakRss: number }) => `${r.peakRss.toFixed(0)} MiB (${bar(r.peakRss <= 256)})`;
  const secs = (r: { seconds: number }, rate: number) =>
    `${r.seconds.toFixed(1)} s, ${fmt(rate)} files/s (${bar(rate >= BAR_RATE)})`;
  const speedUp = (rate: number) => `${(rate / baseRate).toFixed(1)}x (${bar(rate / baseRate >= 10)})`;
  log(
    [
      "",
      "| design | files | seconds | files/s | worker peak RSS | WAL per file | files left |",
      "|---|---:|---:|---:|---:|---:|---:|",
      row("into the trash (TRASH_RETENTION=7d)", FILES, trashed, leftTrashed),
      row("purge (trash emptied)", FILES, purged, leftInTrash),
      row("direct delete (TRASH_RETENTION=0)", FILES, direct, leftDirect),
      row("one job per file (baseline)", BASELINE_FILES, baseline, leftBaseline),
      "",
      `"files left": at their keys, for the purge in the trash. Checks: ${fmt(tombstones)} of ${fmt(FILES)} rows TRASHED and ${fmt(inTrash)} of ${fmt(FILES)} files in the trash after the first phase (${bar(tombstones === FILES && inTrash === FILES)}); ${fmt(leftInTrash)} left in the trash after the purge; ${fmt(trashAfterDirect)} in the trash after the direct delete.`,
      `speed-up over one job per file (bar >= 10x): into the trash ${speedUp(trashRate)}; trash then purge ${(bothRate / baseRate).toFixed(1)}x (for information); direct delete ${speedUp(directRate)}`,
      `time (bar <= 60 s for 1,000,000, i.e. >= ${fmt(BAR_RATE)} files/s): into the trash ${secs(trashed, trashRate)}; purge ${secs(purged, purgeRate)}; direct delete ${secs(direct, directRate)}`,
      `peak RSS (bar <= 256 MiB): into the trash ${rss(trashed)}; purge ${rss(purged)}; direct delete ${rss(direct)}`,
      `trash vs direct: into the trash takes ${(trashed.seconds / direct.seconds).toFixed(2)}x the direct delete's time; trash then purge ${(bothSeconds / direct.seconds).toFixed(2)}x`,
    ].join("\n"),
  );
} finally {
  await stopRunning().catch(() => {});
  await handle.close();
  await rm(base, { recursive: true, force: true });
  await db.stop();
}
