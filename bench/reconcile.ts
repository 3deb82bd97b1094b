// `npm run bench reconcile`: a storage reconciliation over BENCH_FILES (1,000,000)
// objects on a disk store, with a real worker process: files in 1,000 folders,
// all but BENCH_UNTRACKED (5,000) registered by bulk SQL inserts, plus
// BENCH_MISSING (5,000) media without a file. One run of the whole store
// (min_age 0) with RECONCILIATION_RATE high enough not to throttle it; reports
// objects per second end to end, the worker's peak RSS, and checks the counts.
// BENCH_FILES_DIR=/dev/shm plants the files in seconds rather than minutes.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { connectDatabase } from "@media/server/db";
import { createReconciliation, getReconciliation } from "@media/server/media";
import { startupLineWatcher, workerOnlyArgs } from "@media/server/testing";
import { BENCH_AUTH_ENV, benchDatabase, fmt, log, peakRssMiB, root } from "./shared.ts";

const FILES = Number(process.env.BENCH_FILES ?? 1_000_000);
const UNTRACKED = Number(process.env.BENCH_UNTRACKED ?? 5_000);
const MISSING = Number(process.env.BENCH_MISSING ?? 5_000);
const FOLDERS = 1000;

const fileKey = (i: number) => `d${i % FOLDERS}/f${i}.bin`;

/** Writes the files synchronously: one call per file, about ten times faster than a promise each. */
function makeFiles(dir: string): void {
  for (let f = 0; f < FOLDERS; f++) mkdirSync(path.join(dir, `d${f}`), { recursive: true });
  const started = performance.now();
  for (let i = 0; i < FILES; i++) {
    writeFileSync(path.join(dir, fileKey(i)), "");
    if ((i + 1) % 100_000 === 0 || i + 1 === FILES) log(`  wrote ${fmt(i + 1)} / ${fmt(FILES)} files`);
  }
  log(`  files took ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

const db = await benchDatabase("reconcile");
// BENCH_FILES_DIR: where the store's folder is made (default the temp folder; /dev/shm plants faster).
const dir = await mkdtemp(path.join(process.env.BENCH_FILES_DIR ?? tmpdir(), "media-bench-reconcile-"));
const handle = connectDatabase({ url: db.url, poolSize: 2 });
const sql = handle.pool;
let worker: ChildProcess | undefined;

try {
  log(`reconcile bench: ${fmt(FILES)} files on disk, ${fmt(UNTRACKED)} untracked, ${fmt(MISSING)} media missing`);
  makeFiles(dir);
  // Every UNTRACKED-th... spread evenly: file i is untracked when i % (FILES / UNTRACKED) === 7.
  const every = Math.floor(FILES / UNTRACKED);
  for (let i = 0; i < FILES; i += 200_000) {
    await sql.query(
      `INSERT INTO media (store, key, size_bytes, state, delete_time, create_time)
       SELECT 'default', 'd' || (g % ${FOLDERS}) || '/f' || g || '.bin', 0, 'PENDING', now() + interval '30 days', now() - interval '1 day'
       FROM generate_series($1::int, $2::int) g WHERE g % ${every} <> 7`,
      [i, Math.min(FILES, i + 200_000) - 1],
    );
  }
  await sql.query(
    `INSERT INTO media (store, key, size_bytes, state, delete_time, create_time)
     SELECT 'default', 'd' || (g % ${FOLDERS}) || '/m' || g || '.bin', 1, 'PENDING', now() + interval '30 days', now() - interval '1 day'
     FROM generate_series(0, $1::int - 1) g`,
    [MISSING],
  );
  await sql.query("VACUUM ANALYZE media");

  const watch = startupLineWatcher();
  worker = spawn(process.execPath, workerOnlyArgs(), {
    cwd: root,
    env: {
      ...process.env,
      DATABASE_URL: db.url,
      STORES: `default=file:${dir}`,
      RECONCILIATION_RATE: "1000000",
      LOG_LEVEL: "warn",
      METRICS_PORT: "0",
      SWEEP_SCHEDULE: "0 0 1 1 *",
      ...BENCH_AUTH_ENV,
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const child = worker;
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on("data", (chunk: Buffer) => {
      if (watch(chunk.toString()) !== undefined) resolve();
    });
    child.on("exit", (code) => reject(new Error(`the worker exited with ${code}`)));
  });

  const started = performance.now();
  const run = await createReconciliation(sql, { store: "default", keyPrefix: "", minAgeSeconds: 0, actor: "bench" });
  if (run === undefined) throw new Error("the worker is up, yet there is no job queue");
  let peak = 0;
  let last = run;
  let lastReport = performance.now();
  for (;;) {
    peak = Math.max(peak, await peakRssMiB(child.pid ?? 0));
    last = (await getReconciliation(sql, run.id)) ?? last;
    if (last.state === "SUCCEEDED" || last.state === "FAILED") break;
    if (performance.now() - lastReport > 10_000) {
      lastReport = performance.now();
      log(`  ${((lastReport - started) / 1000).toFixed(0)} s: ${fmt(Number(last.objects_scanned))} objects compared`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  const seconds = (performance.now() - started) / 1000;
  peak = Math.max(peak, await peakRssMiB(child.pid ?? 0));
  if (last.state !== "SUCCEEDED") throw new Error(`the reconciliation ${last.state}: ${last.last_error}`);
  const objects = Number(last.objects_scanned);
  const ok = objects === FILES && Number(last.untracked_count) === UNTRACKED && Number(last.missing_count) === MISSING;
  log("");
  log("| objects | media | untracked | missing | seconds | objects/s | worker peak RSS |");
  log("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
  log(
    `| ${fmt(objects)} | ${fmt(Number(last.media_scanned))} | ${fmt(Number(last.untracked_count))} | ${fmt(Number(last.missing_count))} | ${seconds.toFixed(1)} | ${fmt(objects / seconds)} | ${peak.toFixed(0)} MiB |`,
  );
  log(ok ? "counts: as planted" : "counts: NOT as planted");
  // The page's media query (media/reconciliations.ts), as planned at this size: a range of the live-key index.
  const plan = await sql.query(
    `EXPLAIN SELECT id, key FROM media
     WHERE store = 'default' AND key LIKE 'd5%' AND key > 'd5/f1' AND key <= 'd5/f9' AND trash_time IS NULL
     ORDER BY key LIMIT 1001`,
  );
  log(`page query plan: ${plan.rows.map((r) => r["QUERY PLAN"]).join(" / ")}`);
  if (!ok) process.exitCode = 1;
} finally {
  worker?.kill("SIGTERM");
  await handle.close();
  await db.stop();
  await rm(dir, { recursive: true, force: true });
}
