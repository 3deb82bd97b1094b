import assert from "node:assert/strict";
import { hostname } from "node:os";
import { after, before, describe, test } from "node:test";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { type DeletionRun, DeletionRunKind } from "@media/proto/media/v1/admin_service_pb";
import { type DeletionHarness, S3_PREFIX, startDeletionHarness, waitFor } from "@media/worker/testing";
import { buildInfo } from "../src/build-info.ts";
import { expectCode } from "../testing/support.ts";

// What the workers did, as AdminService tells it: RunSweep's answer, the runs
// a real sweep and its batch record (ListDeletionRuns), the workers'
// heartbeats and the next scheduled sweep (ListWorkers), and the stores
// (ListStores). A real service and worker (the deletion harness); ages are
// back-dated in SQL.

let h: DeletionHarness;
before(async () => {
  // Sweeps run only when a test asks: the schedule names midnight on January 1st.
  h = await startDeletionHarness({ SWEEP_SCHEDULE: "0 0 1 1 *", WORKER_CONCURRENCY: "3" });
});
after(() => h.stop());

async function dueNow(store: "default" | "s3", key: string): Promise<bigint> {
  const id = await h.put(store, key);
  await h.t.admin.deleteMediaNow({ mediaId: id });
  return id;
}

/** Every run, newest first, following next_page_token. */
async function allRuns(pageSize = 2): Promise<DeletionRun[]> {
  const runs: DeletionRun[] = [];
  let pageToken = "";
  for (let pages = 0; pages < 100; pages++) {
    const page = await h.t.admin.listDeletionRuns({ pageSize, pageToken });
    runs.push(...page.runs);
    if (page.nextPageToken === "") return runs;
    pageToken = page.nextPageToken;
  }
  throw new Error("too many pages");
}

/** Runs RunSweep and waits until its sweep's run, and the batch it claimed (if any), are recorded. */
async function sweepAndWait() {
  const [latest] = (await h.t.admin.listDeletionRuns({ pageSize: 1 })).runs;
  const since = latest?.id ?? 0n;
  const answer = await h.t.admin.runSweep({});
  const recorded = async () => {
    const runs = (await allRuns(100)).filter((r) => r.id > since);
    const sweep = runs.find((r) => r.kind === DeletionRunKind.SWEEP && r.jobId === answer.jobId);
    const batches = runs.filter((r) => r.kind === DeletionRunKind.BATCH);
    return { sweep, batches };
  };
  await waitFor(
    async () => {
      const { sweep, batches } = await recorded();
      return sweep !== undefined && batches.length >= (sweep.fileCount > 0n ? 1 : 0);
    },
    "the sweep's run and its batch",
    15_000,
    async () => JSON.stringify((await h.t.sql.query("SELECT * FROM deletion_runs")).rows),
  );
  const { sweep, batches } = await recorded();
  return { answer, sweep: sweep as DeletionRun, batches };
}

describe("RunSweep and the runs it leaves", () => {
  test("RunSweep says it queued a job; the sweep and its batch are recorded with their figures", async () => {
    await dueNow("default", "jobs/a.jpg");
    await dueNow("s3", "jobs/b.jpg");
    const before = Date.now();
    const { answer, sweep, batches } = await sweepAndWait();
    assert.equal(answer.queued, true);
    assert.match(answer.jobId, /^[1-9][0-9]*$/);
    assert.ok(answer.runTime, "run_time set");
    assert.ok(Math.abs(timestampDate(answer.runTime).getTime() - before) < 60_000, "run_time is now");

    const [worker] = (await h.t.admin.listWorkers({})).workers;
    assert.ok(worker, "the worker is listed");
    assert.equal(sweep.workerId, worker.id);
    assert.equal(sweep.fileCount, 2n, "the sweep claimed both");
    assert.equal(sweep.reclaimedCount, 0n);
    assert.equal(sweep.note, "");
    assert.ok(sweep.startTime && sweep.finishTime);
    assert.ok(timestampDate(sweep.finishTime) >= timestampDate(sweep.startTime));
    assert.ok(sweep.durationMs >= 0n);

    assert.equal(batches.length, 1, "one batch for the claim");
    const [batch] = batches as [DeletionRun];
    assert.equal(batch.workerId, worker.id);
    assert.match(batch.jobId, /^[1-9][0-9]*$/);
    assert.equal(batch.fileCount, 2n);
    assert.equal(batch.sizeBytes, 20n);
    assert.equal(batch.failureCount, 0n);
    assert.equal(await h.exists("default", "jobs/a.jpg"), false);
  });

  test("a failed deletion is counted in its batch's run", async () => {
    await dueNow("s3", "jobs/failing.jpg");
    h.proxy.failingKeys.add(`${S3_PREFIX}jobs/failing.jpg`);
    try {
      const { sweep, batches } = await sweepAndWait();
      assert.equal(sweep.fileCount, 1n);
      assert.deepEqual(
        batches.map((b) => [b.fileCount, b.failureCount]),
        [[0n, 1n]],
      );
    } finally {
      h.proxy.failingKeys.clear();
    }
  });

  test("a sweep while deletions are paused is recorded, saying so", async () => {
    await h.t.admin.pauseDeletions({ reason: "jobs test" });
    try {
      const { sweep } = await sweepAndWait();
      assert.equal(sweep.fileCount, 0n);
      assert.equal(sweep.note, "deletions paused");
    } finally {
      await h.t.admin.resumeDeletions({});
    }
  });

  test("runs page newest first; a page token from another list is refused", async () => {
    const all = await allRuns(100);
    assert.ok(all.length >= 4);
    assert.deepEqual(
      (await allRuns(1)).map((r) => r.id),
      all.map((r) => r.id),
    );
    const ids = all.map((r) => r.id);
    assert.deepEqual(
      ids,
      [...ids].sort((a, b) => (a > b ? -1 : 1)),
    );
    const { nextPageToken } = await h.t.admin.listMediaEvents({ mediaId: 1n, pageSize: 1 });
    await expectCode(
      h.t.admin.listDeletionRuns({ pageToken: nextPageToken || "bm9wZQ" }),
      Code.InvalidArgument,
      "page_token",
    );
  });

  test("runs older than 7 days go at the next sweep", async () => {
    await h.t.sql.query(
      "INSERT INTO deletion_runs (kind, worker_id, job_id, started_at, finished_at, duration_ms) VALUES ('sweep', gen_random_uuid(), 'old', now() - interval '8 days', now() - interval '8 days', 5)",
    );
    await sweepAndWait();
    assert.equal(
      (await allRuns(100)).find((r) => r.jobId === "old"),
      undefined,
    );
  });
});

describe("ListWorkers", () => {
  test("lists the worker with its heartbeat, the schedule and the next sweep it names", async () => {
    const answer = await h.t.admin.listWorkers({});
    assert.equal(answer.sweepSchedule, "0 0 1 1 *");
    assert.ok(answer.nextSweepTime);
    const next = timestampDate(answer.nextSweepTime);
    assert.equal(next.toISOString(), `${new Date().getUTCFullYear() + 1}-01-01T00:00:00.000Z`);
    assert.equal(answer.workers.length, 1);
    const [w] = answer.workers;
    assert.ok(w?.startTime && w.lastSeenTime);
    assert.equal(w.host, hostname());
    assert.equal(w.pid, process.pid);
    assert.equal(w.version, buildInfo().version);
    assert.equal(w.concurrency, 3);
    assert.ok(Date.now() - timestampDate(w.lastSeenTime).getTime() < 60_000);
  });

  test("the worker beats again on its own; a worker silent for over an hour is not listed", async () => {
    await h.t.sql.query(
      `INSERT INTO worker_heartbeats (id, host, pid, version, concurrency, started_at, last_seen_at) VALUES
         (gen_random_uuid(), 'gone-host', 1, '0.0.1', 1, now() - interval '3 hours', now() - interval '61 minutes'),
         (gen_random_uuid(), 'quiet-host', 2, '0.0.1', 1, now() - interval '3 hours', now() - interval '10 minutes')`,
    );
    await h.t.sql.query(
      "UPDATE worker_heartbeats SET last_seen_at = now() - interval '5 minutes' WHERE host NOT IN ('gone-host', 'quiet-host')",
    );
    const hosts = (await h.t.admin.listWorkers({})).workers.map((w) => w.host);
    assert.deepEqual(hosts, [hostname(), "quiet-host"], "most recently seen first; the 61-minute-old one left out");
    await waitFor(
      async () => {
        const [w] = (await h.t.admin.listWorkers({})).workers;
        return w?.lastSeenTime !== undefined && Date.now() - timestampDate(w.lastSeenTime).getTime() < 60_000;
      },
      "the worker's next heartbeat",
      25_000,
    );
  });
});

test("ListStores answers the configured stores, by name, with their kind", async () => {
  const { stores } = await h.t.admin.listStores({});
  assert.deepEqual(
    stores.map((s) => [s.name, s.kind]),
    [
      ["default", "disk"],
      ["s3", "s3"],
    ],
  );
});
