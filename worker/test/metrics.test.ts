// The Prometheus series a worker feeds, read back from metrics.text() the way a
// scrape reads them: the worker's counters after real deletions (disk and S3)
// and a real storage failure, the lifecycle gauges as sweeps change the real
// database, and the worker's job logs. The server's own series (the gauges'
// cache and staleness, the RPC series) are in server/test/metrics.test.ts.
import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { MediaState } from "@media/proto/media/v1/media_pb";
import { loadConfig } from "@media/server/config";
import { createMetrics, type Metrics } from "@media/server/metrics";
import { putObject, TEST_ADMIN_TOKEN, metricValue as value } from "@media/server/testing";
import { pino } from "pino";
import { startWorker } from "../src/worker.ts";
import { BUCKET, type DeletionHarness, S3_PREFIX, startDeletionHarness } from "../testing/harness.ts";

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
});
