import assert from "node:assert/strict";
import { mkdir, rename, rm, symlink } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { Code } from "@connectrpc/connect";
import { MediaEventType } from "@media/proto/media/v1/admin_service_pb";
import { MediaState } from "@media/proto/media/v1/media_pb";
import { CLAIMS_AHEAD_MIN, hasClaimRoom } from "@media/server/deletion";
import { expectCode, waitFor } from "@media/server/testing";
import { type DeletionHarness, startDeletionHarness } from "../testing/harness.ts";

let h: DeletionHarness;
before(async () => {
  // Sweeps run only when a test asks: a scheduled one at a minute boundary would race the assertions.
  h = await startDeletionHarness({ BLAST_RADIUS_LIMIT: "5", DELETE_MAX_ATTEMPTS: "2", SWEEP_SCHEDULE: "0 0 1 1 *" });
});
after(() => h.stop());

/** Registers, links, unlinks and makes the media due now; returns its id. */
async function orphanDueNow(store: "default" | "s3", key: string): Promise<bigint> {
  const id = await h.put(store, key);
  await h.t.media.linkMedia({ mediaId: id, owner: "post/1" });
  await h.t.media.unlinkMedia({ mediaId: id, owner: "post/1" });
  await h.t.admin.deleteMediaNow({ mediaId: id });
  return id;
}

const state = async (id: bigint) => (await h.t.media.getMedia({ id })).media?.state;

describe("deletion end to end", () => {
  test("the claims ahead are bounded by the live workers' job slots, less the sweep's own", async () => {
    const claimsAhead = async (n: number, kind = "delete") =>
      h.t.sql.query(
        `INSERT INTO deletion_claims (token, lease_expire_time, media_ids, kind)
         SELECT gen_random_uuid(), now() + interval '1 hour', '{}', $2 FROM generate_series(1, $1)`,
        [n, kind],
      );
    const heartbeat = (concurrency: number, seenAgo: string) =>
      h.t.sql.query(
        `INSERT INTO worker_heartbeats (id, host, pid, version, concurrency, last_seen_at)
         VALUES (gen_random_uuid(), 'elsewhere', 1, 'test', $1, now() - $2::interval)`,
        [concurrency, seenAgo],
      );
    try {
      // The harness's one worker runs 4 jobs at once: 3 slots besides a sweep's, so the floor applies.
      await claimsAhead(CLAIMS_AHEAD_MIN - 1);
      await claimsAhead(5, "restore");
      assert.equal(await hasClaimRoom(h.t.sql), true, "below the bound; restores do not count");
      await claimsAhead(1, "purge");
      assert.equal(await hasClaimRoom(h.t.sql), false, "at the bound");
      // A worker gone quiet adds nothing; a live one adds its slots.
      await heartbeat(10, "10 minutes");
      assert.equal(await hasClaimRoom(h.t.sql), false, "a stale heartbeat");
      await heartbeat(10, "1 second");
      assert.equal(await hasClaimRoom(h.t.sql), true, "13 other slots allow 52");
      // One worker that runs one job at a time: while its sweep waited, no job could make room.
      await h.t.sql.query("DELETE FROM worker_heartbeats WHERE host = 'elsewhere'");
      await h.t.sql.query("UPDATE worker_heartbeats SET concurrency = 1");
      await claimsAhead(1000);
      assert.equal(await hasClaimRoom(h.t.sql), true, "no slot but the sweep's own: no bound");
    } finally {
      await h.t.sql.query("UPDATE worker_heartbeats SET concurrency = 4");
      await h.t.sql.query("DELETE FROM deletion_claims WHERE media_ids = '{}'");
      await h.t.sql.query("DELETE FROM worker_heartbeats WHERE host = 'elsewhere'");
    }
  });

  test("a sweep claims no further ahead of the jobs than its bound, and carries on once they make room", async () => {
    const ids: bigint[] = [];
    for (let i = 0; i < 3; i++) ids.push(await orphanDueNow("default", `e2e/ahead/${i}.jpg`));
    // Far more claims outstanding than any bound here, with no job that will ever finish them.
    await h.t.sql.query(
      `INSERT INTO deletion_claims (token, lease_expire_time, media_ids)
       SELECT gen_random_uuid(), now() + interval '1 hour', '{}' FROM generate_series(1, 1000)`,
    );
    try {
      await h.t.admin.runSweep({});
      await waitFor(async () => {
        const running = await h.t.sql.query(
          "SELECT 1 FROM graphile_worker.jobs WHERE task_identifier = 'sweep' AND locked_at IS NOT NULL",
        );
        return running.rowCount === 1;
      }, "the sweep to run");
      // The window is the behaviour: the sweep looks for room every 100 ms, and finds none for a second.
      const until = performance.now() + 1000;
      while (performance.now() < until) {
        for (const id of ids) assert.equal(await state(id), MediaState.ORPHANED, "claimed past the bound");
      }
    } finally {
      await h.t.sql.query("DELETE FROM deletion_claims WHERE media_ids = '{}'");
    }
    // Room made: the same sweep claims them, and they are deleted.
    await waitFor(async () => {
      const { rowCount } = await h.t.sql.query("SELECT 1 FROM media WHERE id = ANY($1::bigint[])", [ids.map(String)]);
      return rowCount === 0;
    }, "the media to be deleted once the claims ahead made room");
    assert.equal(await h.exists("default", "e2e/ahead/0.jpg"), false);
  });

  test("at the bound a sweep gives way to a newer one, which carries on", async () => {
    const id = await orphanDueNow("default", "e2e/ahead/newer.jpg");
    await h.t.sql.query(
      `INSERT INTO deletion_claims (token, lease_expire_time, media_ids)
       SELECT gen_random_uuid(), now() + interval '1 hour', '{}' FROM generate_series(1, 1000)`,
    );
    const locked = async (jobId: string) =>
      (await h.t.sql.query("SELECT 1 FROM graphile_worker.jobs WHERE id = $1 AND locked_at IS NOT NULL", [jobId]))
        .rowCount === 1;
    const sweepRun = async (jobId: string) =>
      (await h.t.admin.listDeletionRuns({ pageSize: 50 })).runs.find((r) => r.jobId === jobId);
    try {
      const older = await h.t.admin.runSweep({});
      await waitFor(() => locked(older.jobId), "the first sweep to run");
      // Queued while the first runs (RunSweep replaces only a sweep still waiting): the two run side by side.
      const newer = await h.t.admin.runSweep({});
      assert.notEqual(newer.jobId, older.jobId);
      await waitFor(async () => (await sweepRun(older.jobId)) !== undefined, "the older sweep to give way");
      assert.equal((await sweepRun(older.jobId))?.note, "stopped at the claim bound: a newer sweep carries on");
      assert.equal(await locked(newer.jobId), true, "the newer sweep waits for room");
      assert.equal(await state(id), MediaState.ORPHANED);
    } finally {
      await h.t.sql.query("DELETE FROM deletion_claims WHERE media_ids = '{}'");
    }
    await waitFor(async () => {
      const { rowCount } = await h.t.sql.query("SELECT 1 FROM media WHERE id = $1", [String(id)]);
      return rowCount === 0;
    }, "the newer sweep to claim the media once there is room");
  });

  for (const store of ["default", "s3"] as const) {
    test(`an orphan past its grace is deleted from the ${store} store, then its row, leaving its timeline`, async () => {
      const key = `e2e/${store}/gone.jpg`;
      const id = await orphanDueNow(store, key);
      assert.equal(await h.exists(store, key), true);
      await h.sweep();
      assert.equal(await h.exists(store, key), false);
      await expectCode(h.t.media.getMedia({ id }), Code.NotFound);
      const events = (await h.t.admin.listMediaEvents({ mediaId: id })).events.map((e) => e.type);
      assert.deepEqual(events.slice(-2), [MediaEventType.CLAIMED, MediaEventType.DELETED]);
    });
  }

  test("a linked media and an orphan still in its grace period are left alone", async () => {
    const linked = await h.put("default", "e2e/linked.jpg");
    await h.t.media.linkMedia({ mediaId: linked, owner: "post/2" });
    const young = await h.put("default", "e2e/young.jpg");
    await h.t.media.linkMedia({ mediaId: young, owner: "post/3" });
    await h.t.media.unlinkMedia({ mediaId: young, owner: "post/3" });
    await h.sweep();
    assert.equal(await state(linked), MediaState.LINKED);
    assert.equal(await state(young), MediaState.ORPHANED);
    assert.equal(await h.exists("default", "e2e/linked.jpg"), true);
    assert.equal(await h.exists("default", "e2e/young.jpg"), true);
  });

  test("relinking before the sweep cancels the deletion", async () => {
    const id = await orphanDueNow("default", "e2e/relinked.jpg");
    await h.t.media.linkMedia({ mediaId: id, owner: "post/4" });
    await h.sweep();
    assert.equal(await state(id), MediaState.LINKED);
    assert.equal(await h.exists("default", "e2e/relinked.jpg"), true);
  });

  test("a hold protects a due media until released", async () => {
    const id = await orphanDueNow("default", "e2e/held.jpg");
    await h.t.admin.holdMedia({ mediaId: id, reason: "legal review" });
    await h.sweep();
    assert.equal(await h.exists("default", "e2e/held.jpg"), true);
    await expectCode(h.t.admin.deleteMediaNow({ mediaId: id }), Code.FailedPrecondition, "release it first");
    await h.t.admin.releaseMedia({ mediaId: id });
    await h.sweep();
    assert.equal(await h.exists("default", "e2e/held.jpg"), false);
  });

  test("pause stops every deletion until resumed", async () => {
    const id = await orphanDueNow("s3", "e2e/paused.jpg");
    const paused = await h.t.admin.pauseDeletions({ reason: "investigating" });
    assert.equal(paused.status?.paused, true);
    await h.sweep();
    assert.equal(await state(id), MediaState.ORPHANED);
    assert.equal(await h.exists("s3", "e2e/paused.jpg"), true);
    await h.t.admin.resumeDeletions({});
    await h.sweep();
    assert.equal(await h.exists("s3", "e2e/paused.jpg"), false);
  });

  test("the blast-radius guard deletes nothing, pauses, and resumes only after confirmation", async () => {
    const before = await h.t.admin.getDeletionPlan({ withinHours: 1 });
    const ids: bigint[] = [];
    for (let i = 0; i < 6; i++) ids.push(await orphanDueNow("default", `e2e/blast/${i}.jpg`));
    const plan = await h.t.admin.getDeletionPlan({ withinHours: 1 });
    assert.equal(plan.count - before.count, 6n);
    assert.ok(plan.samples.some((m) => m.id === ids[0]));
    await h.sweep();
    const status = (await h.t.admin.getDeletionStatus({})).status;
    assert.equal(status?.paused, true);
    assert.equal(status?.guardDueCount, 6n);
    assert.match(status?.pauseReason ?? "", /blast-radius guard: 6 files are due, more than the limit of 5/);
    for (const id of ids) assert.equal(await state(id), MediaState.ORPHANED);

    await expectCode(h.t.admin.resumeDeletions({}), Code.FailedPrecondition, "confirm_blast_radius");
    await h.t.admin.resumeDeletions({ confirmBlastRadius: true });
    await h.sweep();
    for (let i = 0; i < 6; i++) assert.equal(await h.exists("default", `e2e/blast/${i}.jpg`), false);
    assert.equal((await h.t.admin.getDeletionStatus({})).status?.paused, false);
  });

  test("an S3 key that fails keeps its row, is retried, becomes FAILED, and is deleted after an admin retry", async () => {
    const key = "e2e/stubborn.jpg";
    const id = await orphanDueNow("s3", key);
    h.proxy.failingKeys.add(`pfx/${key}`);
    try {
      await h.sweep();
      let media = (await h.t.media.getMedia({ id })).media;
      assert.equal(media?.state, MediaState.ORPHANED, "first failure: rescheduled");
      assert.equal(media?.deleteAttempts, 1);
      assert.equal(
        media?.lastError,
        'STORAGE_ERROR: deleting key "e2e/stubborn.jpg" failed: InternalError: injected failure',
      );
      assert.equal(await h.exists("s3", key), true);

      await h.sweep(); // DELETE_RETRY_DELAY=0s makes it due again at once
      media = (await h.t.media.getMedia({ id })).media;
      assert.equal(media?.state, MediaState.FAILED, "out of attempts (DELETE_MAX_ATTEMPTS=2)");
      await h.sweep();
      assert.equal(await state(id), MediaState.FAILED, "FAILED media are not claimed again by themselves");
      await expectCode(h.t.media.linkMedia({ mediaId: id, owner: "late" }), Code.FailedPrecondition);
    } finally {
      h.proxy.failingKeys.clear();
    }
    await h.t.admin.retryMedia({ mediaId: id });
    await h.sweep();
    assert.equal(await h.exists("s3", key), false);
    await expectCode(h.t.media.getMedia({ id }), Code.NotFound);
  });

  test("a key through an in-store symlink never deletes the file it aliases, and ends FAILED saying why", async () => {
    // current -> 2026-12 is an ordinary thing to find in a store.
    const real = await h.put("default", "e2e/2026-12/shared.png");
    await h.t.media.linkMedia({ mediaId: real, owner: "post/shared" });
    await symlink("2026-12", path.join(h.diskRoot, "e2e/current"));
    const { media } = await h.t.media.createMedia({ store: "default", key: "e2e/current/shared.png", sizeBytes: 10n });
    assert.ok(media);
    await h.t.admin.deleteMediaNow({ mediaId: media.id });
    await h.sweep();
    await h.sweep(); // DELETE_MAX_ATTEMPTS=2, DELETE_RETRY_DELAY=0s
    const alias = (await h.t.media.getMedia({ id: media.id })).media;
    assert.equal(alias?.state, MediaState.FAILED);
    assert.match(alias?.lastError ?? "", /^UNSAFE_KEY: .*passes through a symbolic link at "e2e\/current"/);
    assert.equal(await h.exists("default", "e2e/2026-12/shared.png"), true);
    assert.equal(await state(real), MediaState.LINKED);
  });

  test("a store root swapped away leaves a stable code, and no server path, in last_error and the event", async () => {
    const key = "e2e/root-swap.jpg";
    const id = await orphanDueNow("default", key);
    const away = `${h.diskRoot}-away`;
    await rename(h.diskRoot, away);
    await mkdir(h.diskRoot);
    try {
      await h.sweep();
    } finally {
      await rm(h.diskRoot, { recursive: true, force: true });
      await rename(away, h.diskRoot);
    }
    const media = (await h.t.media.getMedia({ id })).media;
    assert.equal(media?.state, MediaState.ORPHANED, "first failure: rescheduled");
    const { events } = await h.t.admin.listMediaEvents({ mediaId: id });
    const reason = events.find((e) => e.type === MediaEventType.DELETE_FAILED)?.reason ?? "";
    for (const stored of [media?.lastError ?? "", reason]) {
      assert.match(stored, /^STORE_UNAVAILABLE: key "e2e\/root-swap.jpg" not deleted: the store root is no longer/);
      assert.ok(!stored.includes(path.dirname(h.diskRoot)), `no temp folder path in ${stored}`);
      assert.doesNotMatch(stored, /\/proc\//);
    }
    await h.sweep(); // the root is back: DELETE_RETRY_DELAY=0s
    assert.equal(await h.exists("default", key), false);
    await expectCode(h.t.media.getMedia({ id }), Code.NotFound);
  });

  test("admin actions refuse media in the wrong state", async () => {
    const id = await h.put("default", "e2e/refusals.jpg");
    await h.t.media.linkMedia({ mediaId: id, owner: "post/9" });
    await expectCode(h.t.admin.deleteMediaNow({ mediaId: id }), Code.FailedPrecondition, "only PENDING or ORPHANED");
    await expectCode(h.t.admin.retryMedia({ mediaId: id }), Code.FailedPrecondition, "only FAILED");
    await expectCode(h.t.admin.releaseMedia({ mediaId: id }), Code.FailedPrecondition, "not held");
    await expectCode(h.t.admin.holdMedia({ mediaId: 99999n, reason: "x" }), Code.NotFound);
    await expectCode(h.t.admin.holdMedia({ mediaId: id, reason: "" }), Code.InvalidArgument, "reason");
  });

  test("the deletion history counts deleted files, their bytes and failed attempts", async () => {
    const totals = async () => {
      const { hours } = await h.t.admin.getDeletionHistory({ hours: 2 });
      return hours.reduce(
        (sum, hour) => ({
          deleted: sum.deleted + hour.deletedCount,
          bytes: sum.bytes + hour.deletedSizeBytes,
          failed: sum.failed + hour.failedCount,
        }),
        { deleted: 0n, bytes: 0n, failed: 0n },
      );
    };
    const before = await totals();
    await orphanDueNow("default", "e2e/history/1.jpg");
    await orphanDueNow("default", "e2e/history/2.jpg");
    const stubborn = await orphanDueNow("s3", "e2e/history/stubborn.jpg");
    h.proxy.failingKeys.add("pfx/e2e/history/stubborn.jpg");
    try {
      await h.sweep();
    } finally {
      h.proxy.failingKeys.clear();
    }
    assert.equal(await state(stubborn), MediaState.ORPHANED);
    const now = await totals();
    assert.deepEqual(
      { deleted: now.deleted - before.deleted, bytes: now.bytes - before.bytes, failed: now.failed - before.failed },
      { deleted: 2n, bytes: 20n, failed: 1n },
    );
  });
});
