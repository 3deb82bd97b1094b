// The Prometheus series, read back from metrics.text() the way a scrape reads
// them: the worker's counters after real deletions (disk and S3) and a real
// storage failure, the lifecycle gauges against the real database, their
// cache, and their behaviour when the database cannot be read.
import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { Code } from "@connectrpc/connect";
import { MediaState } from "@media/proto/media/v1/media_pb";
import { loadConfig } from "@media/server/config";
import { createMetrics, type Metrics, registerLifecycleGauges, rpcCodeName } from "@media/server/metrics";
import { putObject, TEST_ADMIN_TOKEN } from "@media/server/testing";
import pg from "pg";
import { pino } from "pino";
import { startWorker } from "../src/worker.ts";
import { BUCKET, type DeletionHarness, S3_PREFIX, startDeletionHarness } from "../testing/harness.ts";

type Labels = Record<string, string>;

/** The value of one series in Prometheus text, or undefined when it is absent. */
function sample(text: string, name: string, labels: Labels = {}): number | undefined {
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null || m[1] !== name) continue;
    const found: Labels = {};
    for (const l of (m[2] ?? "").matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)) found[l[1]!] = l[2]!;
    if (Object.keys(found).length !== Object.keys(labels).length) continue;
    if (Object.entries(labels).every(([k, v]) => found[k] === v)) return Number(m[3]);
  }
  return undefined;
}

/** Like sample, but the series must be there. */
function value(text: string, name: string, labels: Labels = {}): number {
  const v = sample(text, name, labels);
  assert.notEqual(v, undefined, `${name}${JSON.stringify(labels)} is missing from:\n${text}`);
  return v as number;
}

const STATES = ["PENDING", "LINKED", "ORPHANED", "DELETING", "FAILED"] as const;

/** Per-state files and bytes as the gauges report them. */
function byState(text: string) {
  const files: Record<string, number> = {};
  const bytes: Record<string, number> = {};
  for (const state of STATES) {
    files[state] = value(text, "media_files", { state });
    bytes[state] = value(text, "media_bytes", { state });
  }
  return { files, bytes };
}

/** The worker counters this suite checks, keyed by a short name. */
function workerCounters(text: string) {
  const out: Record<string, number> = {};
  for (const store of ["default", "s3"]) {
    out[`files.${store}`] = value(text, "media_deleted_files_total", { store });
    out[`bytes.${store}`] = value(text, "media_deleted_bytes_total", { store });
    out[`failures.${store}`] = value(text, "media_deletion_failures_total", { store });
  }
  out.retries = value(text, "media_deletion_retries_total");
  out.exhausted = value(text, "media_deletion_exhausted_total");
  out.claimed = value(text, "media_claimed_files_total");
  out.sweeps = value(text, "media_sweep_duration_seconds_count");
  out.batches = value(text, "media_delete_batch_duration_seconds_count");
  return out;
}

function delta(before: Record<string, number>, now: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.keys(now).map((k) => [k, (now[k] ?? 0) - (before[k] ?? 0)]));
}

const metrics: Metrics = createMetrics();
let h: DeletionHarness;

before(async () => {
  h = await startDeletionHarness(
    // No crontab sweep during the suite: every sweep is one the test started.
    // A fresh read on every scrape, so assertions see the database as it is.
    { BLAST_RADIUS_LIMIT: "3", DELETE_MAX_ATTEMPTS: "2", SWEEP_SCHEDULE: "0 0 1 1 *", METRICS_REFRESH: "0s" },
    metrics,
  );
});
after(() => h.stop());

/** Stores a file of `size` bytes on the disk store (or S3) and registers it with that size. */
async function put(store: "default" | "s3", key: string, size: number): Promise<bigint> {
  if (store === "default") {
    await mkdir(path.dirname(path.join(h.diskRoot, key)), { recursive: true });
    await writeFile(path.join(h.diskRoot, key), "x".repeat(size));
  } else {
    await putObject(h.s3, BUCKET, S3_PREFIX + key, "x".repeat(size));
  }
  const { media } = await h.t.media.createMedia({ store, key, sizeBytes: BigInt(size) });
  assert.ok(media);
  return media.id;
}

async function orphan(id: bigint): Promise<void> {
  await h.t.media.linkMedia({ mediaId: id, owner: "post/1" });
  await h.t.media.unlinkMedia({ mediaId: id, owner: "post/1" });
}

async function orphanDueNow(id: bigint): Promise<bigint> {
  await orphan(id);
  await h.t.admin.deleteMediaNow({ mediaId: id });
  return id;
}

describe("metrics", () => {
  test("lifecycle gauges: files and bytes per state, overdue count and age, paused and guard flags", async () => {
    let text = await metrics.text();
    // Before any deletion: every state at 0, the configured stores' counters at 0.
    assert.deepEqual(byState(text).files, { PENDING: 0, LINKED: 0, ORPHANED: 0, DELETING: 0, FAILED: 0 });
    assert.equal(value(text, "media_deleted_files_total", { store: "s3" }), 0);
    assert.equal(value(text, "media_lifecycle_metrics_stale"), 0);

    await put("default", "g/pending-1", 100);
    await put("default", "g/pending-2", 200);
    const linked = await put("default", "g/linked", 300);
    await h.t.media.linkMedia({ mediaId: linked, owner: "post/9" });
    await orphan(await put("default", "g/young", 400)); // in its grace period
    await h.t.admin.pauseDeletions({ reason: "metrics test" });
    const overdue = await orphanDueNow(await put("default", "g/overdue", 500));
    await h.t.sql.query("UPDATE media SET delete_time = now() - interval '1 hour' WHERE id = $1", [overdue]);
    const held = await orphanDueNow(await put("default", "g/held", 600)); // due, but held: not overdue
    await h.t.admin.holdMedia({ mediaId: held, reason: "legal" });
    await h.sweep(); // paused: claims nothing

    text = await metrics.text();
    assert.deepEqual(byState(text), {
      files: { PENDING: 2, LINKED: 1, ORPHANED: 3, DELETING: 0, FAILED: 0 },
      bytes: { PENDING: 300, LINKED: 300, ORPHANED: 1500, DELETING: 0, FAILED: 0 },
    });
    assert.equal(value(text, "media_overdue_files"), 1);
    const age = value(text, "media_oldest_overdue_age_seconds");
    assert.ok(age >= 3600 && age < 3660, `oldest overdue age ${age} s should be about an hour`);
    assert.equal(value(text, "media_deletions_paused"), 1);
    assert.equal(value(text, "media_blast_radius_tripped"), 0);
    assert.equal(value(text, "media_lifecycle_metrics_stale"), 0);

    // Four due files with a limit of 3: the guard trips at the next sweep.
    await h.t.admin.resumeDeletions({});
    for (let i = 0; i < 3; i++) await orphanDueNow(await put("default", `g/blast/${i}`, 10));
    await h.sweep();
    text = await metrics.text();
    assert.equal(value(text, "media_blast_radius_tripped"), 1);
    assert.equal(value(text, "media_deletions_paused"), 1);
    assert.equal(value(text, "media_overdue_files"), 4);

    const counters = workerCounters(text);
    await h.t.admin.resumeDeletions({ confirmBlastRadius: true });
    await h.sweep();
    text = await metrics.text();
    assert.equal(value(text, "media_blast_radius_tripped"), 0);
    assert.equal(value(text, "media_deletions_paused"), 0);
    assert.equal(value(text, "media_overdue_files"), 0);
    assert.equal(value(text, "media_oldest_overdue_age_seconds"), 0);
    assert.deepEqual(byState(text).files, { PENDING: 2, LINKED: 1, ORPHANED: 2, DELETING: 0, FAILED: 0 });
    assert.deepEqual(delta(counters, workerCounters(text)), {
      "files.default": 4,
      "bytes.default": 530,
      "failures.default": 0,
      "files.s3": 0,
      "bytes.s3": 0,
      "failures.s3": 0,
      retries: 0,
      exhausted: 0,
      claimed: 4,
      sweeps: 1,
      batches: 1,
    });
  });

  test("deleted files and bytes count per store, with one sweep and one batch observed, on GET /metrics", async () => {
    // Scraped over HTTP like Prometheus does: the service and the worker share a registry, as in `npm start`.
    const scrape = async () => {
      const res = await fetch(`http://127.0.0.1:${h.t.service.httpPort}/metrics`, {
        headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` },
      });
      assert.equal(res.status, 200);
      assert.match(res.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
      return res.text();
    };
    const before = workerCounters(await scrape());
    await orphanDueNow(await put("default", "d/a.jpg", 1000));
    await orphanDueNow(await put("default", "d/b.jpg", 2345));
    await orphanDueNow(await put("s3", "d/c.jpg", 777));
    await h.sweep();
    assert.equal(await h.exists("default", "d/a.jpg"), false);
    assert.equal(await h.exists("s3", "d/c.jpg"), false);
    const text = await scrape();
    assert.deepEqual(delta(before, workerCounters(text)), {
      "files.default": 2,
      "bytes.default": 3345,
      "failures.default": 0,
      "files.s3": 1,
      "bytes.s3": 777,
      "failures.s3": 0,
      retries: 0,
      exhausted: 0,
      claimed: 3,
      sweeps: 1,
      batches: 1,
    });
    assert.ok(value(text, "media_sweep_duration_seconds_sum") > 0);
    assert.ok(value(text, "media_delete_batch_duration_seconds_sum") > 0);
    assert.equal(
      value(text, "media_delete_batch_duration_seconds_bucket", { le: "+Inf" }),
      value(text, "media_delete_batch_duration_seconds_count"),
    );
  });

  test("a file storage cannot delete counts as a failure, then as a retry, then as exhausted", async () => {
    // A directory where the file should be: unlink fails with EISDIR.
    const key = "f/stubborn.jpg";
    await mkdir(path.join(h.diskRoot, key, "inside"), { recursive: true });
    const { media } = await h.t.media.createMedia({ store: "default", key, sizeBytes: 50n });
    assert.ok(media);
    await orphanDueNow(media.id);

    const first = workerCounters(await metrics.text());
    await h.sweep();
    let text = await metrics.text();
    assert.equal((await h.t.media.getMedia({ id: media.id })).media?.state, MediaState.ORPHANED);
    assert.deepEqual(delta(first, workerCounters(text)), {
      "files.default": 0,
      "bytes.default": 0,
      "failures.default": 1,
      "files.s3": 0,
      "bytes.s3": 0,
      "failures.s3": 0,
      retries: 1,
      exhausted: 0,
      claimed: 1,
      sweeps: 1,
      batches: 1,
    });
    const second = workerCounters(text);
    const gauges = byState(text);
    await h.sweep(); // DELETE_RETRY_DELAY=0s: due again at once; DELETE_MAX_ATTEMPTS=2: out of attempts
    text = await metrics.text();
    assert.equal((await h.t.media.getMedia({ id: media.id })).media?.state, MediaState.FAILED);
    assert.deepEqual(delta(second, workerCounters(text)), {
      "files.default": 0,
      "bytes.default": 0,
      "failures.default": 1,
      "files.s3": 0,
      "bytes.s3": 0,
      "failures.s3": 0,
      retries: 0,
      exhausted: 1,
      claimed: 1,
      sweeps: 1,
      batches: 1,
    });
    const now = byState(text);
    assert.equal(now.files.FAILED! - gauges.files.FAILED!, 1);
    assert.equal(now.bytes.FAILED! - gauges.bytes.FAILED!, 50);
    assert.equal(now.files.ORPHANED! - gauges.files.ORPHANED!, -1);
  });

  test("every line a job logs carries its task and graphile-worker job id", async () => {
    // This suite's own worker, logging into memory, in place of the harness's.
    await h.worker?.stop();
    h.worker = undefined;
    const lines: Array<Record<string, unknown>> = [];
    const log = pino({ level: "debug", base: undefined }, { write: (line: string) => lines.push(JSON.parse(line)) });
    const config = loadConfig({ DATABASE_URL: h.t.databaseUrl, ...h.env });
    const worker = await startWorker(config, h.t.databaseUrl, log, createMetrics({ defaultMetrics: false }));
    try {
      await orphanDueNow(await put("default", "l/a.jpg", 5));
      await h.sweep();
    } finally {
      await worker.stop();
      await h.startWorker();
    }
    const claimed = lines.find((l) => l.msg === "sweep claimed due media");
    const finished = lines.find((l) => l.msg === "batch finished");
    assert.ok(claimed && finished, `expected both job lines in ${JSON.stringify(lines)}`);
    assert.equal(claimed.task, "sweep");
    assert.equal(finished.task, "delete_batch");
    assert.match(String(finished.jobId), /^\d+$/);
    assert.match(String(claimed.jobId), /^\d+$/);
    assert.notEqual(finished.jobId, claimed.jobId);
    assert.equal(finished.deleted, 1);
    assert.equal(finished.bytes, 5);
  });

  test("lifecycle gauges reuse one read for the TTL, shared by concurrent scrapes", async () => {
    const pool = new pg.Pool({ connectionString: h.t.databaseUrl, max: 2 });
    let reads = 0;
    pool.on("acquire", () => reads++);
    try {
      const cached = createMetrics({ defaultMetrics: false });
      registerLifecycleGauges(cached, pool, { ttlMs: 60_000 });
      const texts = await Promise.all([cached.text(), cached.text(), cached.text()]);
      assert.equal(reads, 1, "three concurrent scrapes, one read");
      const pending = value(texts[0]!, "media_files", { state: "PENDING" });
      for (const text of texts) assert.equal(value(text, "media_files", { state: "PENDING" }), pending);

      await put("default", "c/new-pending.jpg", 1);
      const later = await cached.text();
      assert.equal(reads, 1, "within the TTL, no new read");
      assert.equal(value(later, "media_files", { state: "PENDING" }), pending);
      assert.equal(value(await metrics.text(), "media_files", { state: "PENDING" }), pending + 1);
    } finally {
      await pool.end();
    }
  });

  test("when the database cannot be read, a scrape answers at once with the last values, marked stale", async () => {
    const pool = new pg.Pool({ connectionString: h.t.databaseUrl, max: 1 });
    const m = createMetrics({ defaultMetrics: false });
    registerLifecycleGauges(m, pool, { ttlMs: 0, scrapeWaitMs: 300 });
    const good = await m.text();
    assert.equal(value(good, "media_lifecycle_metrics_stale"), 0);
    await pool.end(); // every later read fails
    const started = Date.now();
    const bad = await m.text();
    assert.ok(Date.now() - started < 1000);
    assert.equal(value(bad, "media_lifecycle_metrics_stale"), 1);
    for (const state of STATES) {
      assert.equal(value(bad, "media_files", { state }), value(good, "media_files", { state }));
      assert.equal(value(bad, "media_bytes", { state }), value(good, "media_bytes", { state }));
    }
    assert.equal(value(bad, "media_deletions_paused"), value(good, "media_deletions_paused"));

    // A database that accepts connections and never answers: the scrape waits scrapeWaitMs, not the read.
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((socket) => {
      sockets.add(socket);
      socket.on("error", () => {});
    });
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const port = (silent.address() as net.AddressInfo).port;
    const hung = new pg.Pool({ host: "127.0.0.1", port, user: "x", database: "x", connectionTimeoutMillis: 4000 });
    hung.on("error", () => {});
    try {
      const never = createMetrics({ defaultMetrics: false });
      registerLifecycleGauges(never, hung, { ttlMs: 0, scrapeWaitMs: 200 });
      const t0 = Date.now();
      const text = await never.text();
      // 200 ms of waiting, far from the 4 s the read itself takes to fail.
      assert.ok(Date.now() - t0 < 2000, `the scrape took ${Date.now() - t0} ms`);
      assert.equal(value(text, "media_lifecycle_metrics_stale"), 1);
      assert.equal(sample(text, "media_files", { state: "PENDING" }), undefined, "no values before a first read");
      await new Promise((r) => setTimeout(r, 4200)); // the connect timeout ends the read
    } finally {
      await hung.end();
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  test("RPC series by method and code, and the process's default series", async () => {
    const m = createMetrics();
    m.observeRpc("media.v1.MediaService/GetMedia", rpcCodeName(undefined), 0.003);
    m.observeRpc("media.v1.MediaService/GetMedia", rpcCodeName(Code.NotFound), 0.02);
    m.observeRpc("media.v1.MediaService/GetMedia", rpcCodeName(Code.NotFound), 4);
    const text = await m.text();
    const method = "media.v1.MediaService/GetMedia";
    assert.equal(value(text, "media_rpc_requests_total", { method, code: "ok" }), 1);
    assert.equal(value(text, "media_rpc_requests_total", { method, code: "not_found" }), 2);
    assert.equal(value(text, "media_rpc_duration_seconds_bucket", { method, le: "0.001" }), 0);
    assert.equal(value(text, "media_rpc_duration_seconds_bucket", { method, le: "0.005" }), 1);
    assert.equal(value(text, "media_rpc_duration_seconds_bucket", { method, le: "0.025" }), 2);
    assert.equal(value(text, "media_rpc_duration_seconds_bucket", { method, le: "10" }), 3);
    assert.equal(value(text, "media_rpc_duration_seconds_count", { method }), 3);
    assert.equal(rpcCodeName(Code.Unauthenticated), "unauthenticated");
    assert.equal(rpcCodeName(Code.FailedPrecondition), "failed_precondition");
    assert.equal(rpcCodeName(Code.Canceled), "canceled");
    assert.ok(value(text, "process_cpu_user_seconds_total") >= 0);
    assert.ok(value(text, "nodejs_eventloop_lag_seconds") >= 0);
    assert.ok(value(text, "process_resident_memory_bytes") > 0);
    assert.match(m.contentType, /^text\/plain; version=0\.0\.4/);
  });
});
