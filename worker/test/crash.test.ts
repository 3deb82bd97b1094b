import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Code } from "@connectrpc/connect";
import { MediaState } from "@media/proto/media/v1/media_pb";
import { expectCode, killAllProcesses, killProcess } from "@media/server/testing";
import { type DeletionHarness, expireLeases, startDeletionHarness, waitFor } from "../testing/harness.ts";
import { spawnWorker } from "../testing/worker-process.ts";

// A worker child process is killed with SIGKILL while frozen at a chosen point
// (the S3 proxy holds its DeleteObjects request, or the answer to it). After a
// new worker starts, everything converges: nothing lost, nothing wrongly deleted.

// The SIGTERM test holds its storage request only until the worker has the signal: well within STORAGE_TIMEOUT.
const LEASE = { CLAIM_TIMEOUT: "15s", STORAGE_TIMEOUT: "5s" };

let h: DeletionHarness;
before(async () => {
  h = await startDeletionHarness(LEASE);
  // This suite runs its workers as child processes only.
  await h.worker?.stop();
  h.worker = undefined;
});
after(async () => {
  await killAllProcesses();
  await h.stop();
});

const workerEnv = () => ({ DATABASE_URL: h.t.databaseUrl, ...h.env, ...LEASE, WORKER_CONCURRENCY: "2" });

async function states(ids: bigint[]): Promise<Array<string | undefined>> {
  const { rows } = await h.t.sql.query("SELECT id, state FROM media WHERE id = ANY($1::bigint[]) ORDER BY id", [
    ids.map(String),
  ]);
  return ids.map((id) => rows.find((r) => r.id === id.toString())?.state);
}

for (const point of ["request", "response"] as const) {
  const where =
    point === "request" ? "after the claim, before storage deletes" : "after storage deleted, before the rows";
  test(`killed ${where}: a new worker converges`, async () => {
    const keep = await h.put("s3", `crash/${point}/keep.jpg`);
    await h.t.media.linkMedia({ mediaId: keep, owner: "album/1" });
    const ids: bigint[] = [];
    for (let i = 0; i < 5; i++) {
      const id = await h.put("s3", `crash/${point}/${i}.jpg`);
      await h.t.admin.deleteMediaNow({ mediaId: id });
      ids.push(id);
    }

    h.proxy.hold = point;
    h.proxy.held = 0;
    const first = await spawnWorker(workerEnv());
    await h.t.admin.runSweep({});
    await waitFor(async () => h.proxy.held > 0, "the worker to reach storage");
    await killProcess(first);
    h.proxy.hold = undefined;

    assert.deepEqual(await states(ids), Array(5).fill("DELETING"), "claimed rows stay claimed");
    for (let i = 0; i < 5; i++) {
      assert.equal(await h.exists("s3", `crash/${point}/${i}.jpg`), point === "request");
    }
    await expectCode(h.t.media.linkMedia({ mediaId: ids[0]!, owner: "late" }), Code.FailedPrecondition);

    const second = await spawnWorker(workerEnv());
    try {
      await expireLeases(h.t.sql); // the killed worker's lease, as if it had run out
      await h.t.admin.runSweep({});
      await waitFor(async () => (await states(ids)).every((s) => s === undefined), "the rows to be deleted");
    } finally {
      await killProcess(second, "SIGTERM");
    }
    for (let i = 0; i < 5; i++) assert.equal(await h.exists("s3", `crash/${point}/${i}.jpg`), false);
    assert.equal(await h.exists("s3", `crash/${point}/keep.jpg`), true);
    assert.equal((await h.t.media.getMedia({ id: keep })).media?.state, MediaState.LINKED);
    const stuck = await h.t.sql.query("SELECT count(*)::int AS n FROM media WHERE state = 'DELETING'");
    assert.equal(stuck.rows[0].n, 0);
  });
}

test("SIGTERM lets a running batch finish before the worker exits", async () => {
  const ids: bigint[] = [];
  for (let i = 0; i < 3; i++) {
    const id = await h.put("s3", `crash/sigterm/${i}.jpg`);
    await h.t.admin.deleteMediaNow({ mediaId: id });
    ids.push(id);
  }
  // The batch's DeleteObjects is held at the proxy until the worker has taken the signal, so the
  // signal arrives while the batch is running, whatever the machine's speed.
  h.proxy.hold = "request";
  h.proxy.held = 0;
  const worker = await spawnWorker({ ...workerEnv(), LOG_LEVEL: "info" });
  try {
    await h.t.admin.runSweep({});
    await waitFor(async () => h.proxy.held > 0, "the batch to reach storage");
    worker.child.kill("SIGTERM");
    await waitFor(
      () => worker.output().includes('"msg":"shutting down"'),
      "the worker to log that it is shutting down",
    );
    assert.deepEqual(await states(ids), Array(3).fill("DELETING"), "the batch was running when the signal came");
  } finally {
    h.proxy.release();
  }
  assert.equal(await worker.exited, 0, worker.output());
  assert.deepEqual(await states(ids), [undefined, undefined, undefined], "the batch finished before exit");
});
