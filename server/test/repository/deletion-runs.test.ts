import assert from "node:assert/strict";
import { after, before, beforeEach, describe, test } from "node:test";
import type pg from "pg";
import {
  listDeletionRuns,
  listWorkers,
  pruneRuns,
  RUN_RETENTION_DAYS,
  recordHeartbeat,
  recordRun,
  type WorkerIdentity,
} from "../../src/deletion/runs.ts";
import { nextScheduledTime } from "../../src/deletion/schedule.ts";
import { createMigratedDatabase, type MigratedDatabase } from "../../testing/support.ts";

// Worker heartbeats and the recent sweeps and batches (deletion_runs): the
// SQL the worker writes them with and the Jobs page reads them with, and the
// retention the sweep applies. Ages are back-dated in SQL, never waited for.

let database: MigratedDatabase;
let pool: pg.Pool;

before(async () => {
  database = await createMigratedDatabase();
  pool = database.handle.pool;
});
after(() => database.close());
beforeEach(() => pool.query("TRUNCATE deletion_runs, worker_heartbeats"));

const worker = (id: string, extra: Partial<WorkerIdentity> = {}): WorkerIdentity => ({
  id,
  host: "box-1",
  pid: 4242,
  version: "1.2.3",
  concurrency: 4,
  ...extra,
});
const W1 = "00000000-0000-4000-8000-000000000001";
const W2 = "00000000-0000-4000-8000-000000000002";

describe("worker heartbeats", () => {
  test("the first beat writes the row, later ones only move last_seen_at on", async () => {
    await recordHeartbeat(pool, worker(W1));
    await pool.query(
      "UPDATE worker_heartbeats SET started_at = now() - interval '1 hour', last_seen_at = now() - interval '30 seconds'",
    );
    await recordHeartbeat(pool, worker(W1, { host: "ignored" }));
    const [row, ...rest] = await listWorkers(pool);
    assert.deepEqual(rest, []);
    assert.ok(row);
    assert.equal(row.id, W1);
    assert.equal(row.host, "box-1");
    assert.equal(row.pid, 4242);
    assert.equal(row.version, "1.2.3");
    assert.equal(row.concurrency, 4);
    assert.ok(Date.now() - row.last_seen_at.getTime() < 10_000, "last seen just now");
    assert.ok(Date.now() - row.started_at.getTime() > 3_000_000, "started an hour ago, as first written");
  });

  test("lists the workers seen within the window, most recently seen first; a silent one ages out", async () => {
    await recordHeartbeat(pool, worker(W1));
    await recordHeartbeat(pool, worker(W2));
    await pool.query("UPDATE worker_heartbeats SET last_seen_at = now() - interval '10 minutes' WHERE id = $1", [W1]);
    assert.deepEqual(
      (await listWorkers(pool)).map((w) => w.id),
      [W2, W1],
    );
    await pool.query("UPDATE worker_heartbeats SET last_seen_at = now() - interval '61 minutes' WHERE id = $1", [W1]);
    assert.deepEqual(
      (await listWorkers(pool)).map((w) => w.id),
      [W2],
    );
  });
});

describe("deletion runs", () => {
  const run = (n: number) =>
    recordRun(pool, {
      kind: n % 2 === 0 ? "sweep" : "batch",
      workerId: W1,
      jobId: String(100 + n),
      startedAt: new Date(Date.now() - 1000),
      durationMs: 12.6,
      files: n,
      bytes: 2n ** 62n,
      failures: 1,
      reclaimed: 0,
      note: n === 3 ? "x".repeat(3000) : "",
    });

  test("records a run with its figures, and pages newest first without gaps or repeats", async () => {
    for (let n = 1; n <= 5; n++) await run(n);
    const seen: string[] = [];
    let before: string | undefined;
    for (;;) {
      const page = await listDeletionRuns(pool, before, 2);
      if (page.length === 0) break;
      seen.push(...page.map((r) => r.job_id));
      before = page.at(-1)?.id;
    }
    assert.deepEqual(seen, ["105", "104", "103", "102", "101"]);
    const [newest] = await listDeletionRuns(pool, undefined, 1);
    assert.ok(newest);
    assert.equal(newest.kind, "batch");
    assert.equal(newest.worker_id, W1);
    assert.equal(newest.files, "5");
    assert.equal(newest.bytes, (2n ** 62n).toString());
    assert.equal(newest.failures, "1");
    assert.equal(newest.duration_ms, "13");
    assert.ok(newest.finished_at.getTime() >= newest.started_at.getTime());
    const long = (await listDeletionRuns(pool, undefined, 10)).find((r) => r.job_id === "103");
    assert.equal(long?.note.length, 2000, "a note is cut to 2000 characters");
  });

  test(`the retention deletes runs and heartbeats older than ${RUN_RETENTION_DAYS} days, and only those`, async () => {
    for (let n = 1; n <= 3; n++) await run(n);
    await recordHeartbeat(pool, worker(W1));
    await recordHeartbeat(pool, worker(W2));
    await pool.query(
      `UPDATE deletion_runs SET finished_at = now() - make_interval(days => $1, mins => 1) WHERE job_id IN ('101', '102')`,
      [RUN_RETENTION_DAYS],
    );
    await pool.query(
      "UPDATE worker_heartbeats SET last_seen_at = now() - make_interval(days => $1, mins => 1) WHERE id = $2",
      [RUN_RETENTION_DAYS, W1],
    );
    assert.deepEqual(await pruneRuns(pool), { runs: 2, workers: 1 });
    assert.deepEqual(
      (await listDeletionRuns(pool, undefined, 10)).map((r) => r.job_id),
      ["103"],
    );
    const { rows } = await pool.query("SELECT id::text FROM worker_heartbeats");
    assert.deepEqual(
      rows.map((r) => r.id),
      [W2],
    );
  });

  test("the table refuses a kind it does not know and a negative duration", async () => {
    await assert.rejects(
      pool.query(
        "INSERT INTO deletion_runs (kind, worker_id, job_id, started_at, duration_ms) VALUES ('nap', $1, '1', now(), 0)",
        [W1],
      ),
      /deletion_runs_kind_check/,
    );
    await assert.rejects(
      pool.query(
        "INSERT INTO deletion_runs (kind, worker_id, job_id, started_at, duration_ms) VALUES ('sweep', $1, '1', now(), -1)",
        [W1],
      ),
      /deletion_runs_duration_ms_check/,
    );
  });
});

describe("the next scheduled sweep", () => {
  const at = (iso: string) => new Date(iso);
  const next = (schedule: string, after: string) => nextScheduledTime(schedule, at(after))?.toISOString();

  test("every minute: the next whole minute", () => {
    assert.equal(next("* * * * *", "2026-03-01T10:15:30.500Z"), "2026-03-01T10:16:00.000Z");
    assert.equal(next("* * * * *", "2026-03-01T10:15:00.000Z"), "2026-03-01T10:16:00.000Z");
  });

  test("steps, ranges and lists, in UTC", () => {
    assert.equal(next("*/15 * * * *", "2026-03-01T10:15:00Z"), "2026-03-01T10:30:00.000Z");
    assert.equal(next("0 3 * * *", "2026-03-01T10:15:00Z"), "2026-03-02T03:00:00.000Z");
    assert.equal(next("30 1-2,22 * * *", "2026-03-01T10:15:00Z"), "2026-03-01T22:30:00.000Z");
    assert.equal(next("0 0 1 1 *", "2026-03-01T10:15:00Z"), "2027-01-01T00:00:00.000Z");
  });

  test("days of week (7 is Sunday); both day fields restricted: either matches", () => {
    // 2026-03-01 is a Sunday.
    assert.equal(next("0 9 * * 1", "2026-03-01T10:15:00Z"), "2026-03-02T09:00:00.000Z");
    assert.equal(next("0 9 * * 7", "2026-03-01T10:15:00Z"), "2026-03-08T09:00:00.000Z");
    assert.equal(next("0 9 15 * 3", "2026-03-01T10:15:00Z"), "2026-03-04T09:00:00.000Z");
  });

  test("a schedule it cannot read, or one naming no time within a year, has no next time", () => {
    assert.equal(next("mon * * * *", "2026-03-01T10:15:00Z"), undefined);
    assert.equal(next("* * * *", "2026-03-01T10:15:00Z"), undefined);
    assert.equal(next("0 0 31 2 *", "2026-03-01T10:15:00Z"), undefined);
  });
});
