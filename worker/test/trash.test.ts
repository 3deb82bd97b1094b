import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { Code } from "@connectrpc/connect";
import { ErasureOutcome, MediaEventType } from "@media/proto/media/v1/admin_service_pb";
import { MediaState } from "@media/proto/media/v1/media_pb";
import { expectCode, killAllProcesses, killProcess, TEST_ADMIN_TOKEN } from "@media/server/testing";
import { trashPathOf } from "../../server/src/storage/disk-trash.ts";
import { trashedName } from "../../server/src/storage/s3-trash.ts";
import { type DeletionHarness, expireLeases, S3_PREFIX, startDeletionHarness, waitFor } from "../testing/harness.ts";
import { spawnWorker } from "../testing/worker-process.ts";

// The trash from the outside: a deletion moves the file into its store's
// trash and keeps the row as a TRASHED tombstone; RestoreMedia brings both
// back (never over anything at the key); the purge deletes them for good after
// the retention (back-dated here, never slept), respecting the pause and the
// blast-radius guard; a crash between the move and the row converges;
// EraseMedia skips grace and trash, verifies, and redacts owners.

const LEASE = { CLAIM_TIMEOUT: "15s", STORAGE_TIMEOUT: "5s" };
let h: DeletionHarness;

before(async () => {
  h = await startDeletionHarness({ TRASH_RETENTION: "7d", BLAST_RADIUS_LIMIT: "50", ...LEASE });
});
after(async () => {
  await killAllProcesses();
  await h.stop();
});

const state = async (id: bigint) => (await h.t.media.getMedia({ id })).media?.state;
const trashedOnDisk = (id: bigint) => path.join(h.diskRoot, trashPathOf(String(id)));
const inS3Trash = (id: bigint) => h.exists("s3", trashedName("", String(id)));

/** Registers files, makes them due now and sweeps: they go to the trash. */
async function trash(store: "default" | "s3", keys: string[]): Promise<bigint[]> {
  const ids: bigint[] = [];
  for (const key of keys) {
    const id = await h.put(store, key);
    await h.t.admin.deleteMediaNow({ mediaId: id });
    ids.push(id);
  }
  await h.sweep();
  for (const id of ids) assert.equal(await state(id), MediaState.TRASHED, `media ${id} is trashed`);
  return ids;
}

/** Moves the tombstones' purge_time into the past, as if their retention had passed. */
const expire = (ids: bigint[]) =>
  h.t.sql.query(
    "UPDATE media SET purge_time = now() - interval '1 second', trash_time = now() - interval '8 days' WHERE id = ANY($1::bigint[])",
    [ids.map(String)],
  );

describe("disk store", () => {
  test("a deletion moves the file to the trash; a restore brings the same bytes back, ORPHANED", async () => {
    const [id] = (await trash("default", ["trash/disk/a.jpg"])) as [bigint];
    assert.equal(await h.exists("default", "trash/disk/a.jpg"), false);
    assert.equal(await readFile(trashedOnDisk(id), "utf8"), "content of trash/disk/a.jpg");
    const { media } = await h.t.media.getMedia({ id });
    assert.ok(media?.trashTime && media.purgeTime, "trash_time and purge_time are set");
    const retention = Number(media.purgeTime.seconds - media.trashTime.seconds);
    assert.equal(retention, 7 * 86400);

    const restored = await h.t.admin.restoreMedia({ mediaId: id });
    assert.equal(restored.media?.state, MediaState.ORPHANED);
    assert.equal(restored.media?.trashTime, undefined);
    assert.ok(restored.media?.deleteTime, "a fresh grace period");
    assert.equal(await readFile(path.join(h.diskRoot, "trash/disk/a.jpg"), "utf8"), "content of trash/disk/a.jpg");
    assert.equal(existsSync(trashedOnDisk(id)), false, "the trashed copy is dropped");
    const { events } = await h.t.admin.listMediaEvents({ mediaId: id });
    assert.deepEqual(events.map((e) => e.type).slice(-2), [MediaEventType.TRASHED, MediaEventType.RESTORED]);
  });

  test("a restore with an owner links the media at once", async () => {
    const [id] = (await trash("default", ["trash/disk/linked.jpg"])) as [bigint];
    const { media } = await h.t.admin.restoreMedia({ mediaId: id, owner: "post/9" });
    assert.equal(media?.state, MediaState.LINKED);
    assert.equal(media?.referenceCount, 1n);
    const refs = await h.t.admin.listMediaReferences({ mediaId: id });
    assert.deepEqual(
      refs.references.map((r) => r.owner),
      ["post/9"],
    );
  });

  test("a TRASHED key is free: a new media may take it, and the old one's restore is then refused", async () => {
    const [old] = (await trash("default", ["trash/disk/reused.jpg"])) as [bigint];
    await expectCode(h.t.media.linkMedia({ mediaId: old, owner: "late" }), Code.FailedPrecondition);
    const fresh = await h.put("default", "trash/disk/reused.jpg");
    assert.notEqual(fresh, old);
    // The tombstone's preview never serves the file now at its key (the new media's).
    await h.t.sql.query("UPDATE media SET content_type = 'image/jpeg' WHERE id = $1", [String(old)]);
    const preview = await fetch(`http://127.0.0.1:${h.t.service.httpPort}/preview/${old}`, {
      headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` },
    });
    assert.equal(preview.status, 404);
    assert.match(await preview.text(), /in the trash/);
    await expectCode(h.t.admin.restoreMedia({ mediaId: old }), Code.FailedPrecondition);
    assert.equal(
      await readFile(path.join(h.diskRoot, "trash/disk/reused.jpg"), "utf8"),
      "content of trash/disk/reused.jpg",
    );
    assert.equal(await state(old), MediaState.TRASHED, "the tombstone stays");
    assert.equal(existsSync(trashedOnDisk(old)), true, "its trashed copy stays");
    // The old tombstone's purge never touches the new media's file.
    await expire([old]);
    await h.sweep();
    await expectCode(h.t.media.getMedia({ id: old }), Code.NotFound);
    assert.equal(await state(fresh), MediaState.PENDING);
    assert.equal(await h.exists("default", "trash/disk/reused.jpg"), true);
  });

  test("a restore is refused when an unregistered file is at the key, and leaves it untouched", async () => {
    const [id] = (await trash("default", ["trash/disk/squatted.jpg"])) as [bigint];
    await writeFile(path.join(h.diskRoot, "trash/disk/squatted.jpg"), "someone else's");
    await expectCode(h.t.admin.restoreMedia({ mediaId: id }), Code.FailedPrecondition);
    assert.equal(await readFile(path.join(h.diskRoot, "trash/disk/squatted.jpg"), "utf8"), "someone else's");
    assert.equal(await state(id), MediaState.TRASHED);
  });

  test("the purge deletes trashed files and rows after the retention, never before", async () => {
    const ids = await trash("default", ["trash/disk/p1.jpg", "trash/disk/p2.jpg"]);
    await h.sweep();
    for (const id of ids) assert.equal(await state(id), MediaState.TRASHED, "not yet due");
    await expire(ids);
    await h.sweep();
    for (const id of ids) {
      await expectCode(h.t.media.getMedia({ id }), Code.NotFound);
      assert.equal(existsSync(trashedOnDisk(id)), false);
    }
    const { events } = await h.t.admin.listMediaEvents({ mediaId: ids[0] as bigint });
    assert.equal(events.at(-1)?.type, MediaEventType.PURGED);
  });

  test("a held tombstone is never purged", async () => {
    const [id] = (await trash("default", ["trash/disk/held.jpg"])) as [bigint];
    await h.t.admin.holdMedia({ mediaId: id, reason: "legal" });
    await expire([id]);
    await h.sweep();
    assert.equal(await state(id), MediaState.TRASHED);
    assert.equal(existsSync(trashedOnDisk(id)), true);
    await h.t.admin.releaseMedia({ mediaId: id });
    await h.sweep();
    await expectCode(h.t.media.getMedia({ id }), Code.NotFound);
  });

  test("the purge waits while deletions are paused, and trips the blast-radius guard", async () => {
    const ids = await trash(
      "default",
      Array.from({ length: 3 }, (_, i) => `trash/disk/paused/${i}.jpg`),
    );
    await expire(ids);
    await h.t.admin.pauseDeletions({ reason: "audit" });
    await h.sweep();
    for (const id of ids) assert.equal(await state(id), MediaState.TRASHED);
    await h.t.admin.resumeDeletions({});
    // More due purges than BLAST_RADIUS_LIMIT (50): the guard pauses everything.
    await h.t.sql.query(
      `INSERT INTO media (store, key, state, trash_time, purge_time)
       SELECT 'default', 'trash/disk/guard/' || i, 'TRASHED', now() - interval '8 days', now() - interval '1 day'
       FROM generate_series(1, 60) i`,
    );
    await h.sweep();
    const status = (await h.t.admin.getDeletionStatus({})).status;
    assert.equal(status?.paused, true);
    assert.match(status?.pauseReason ?? "", /blast-radius guard/);
    for (const id of ids) assert.equal(await state(id), MediaState.TRASHED);
    await h.t.admin.resumeDeletions({ confirmBlastRadius: true });
    await h.sweep();
    const { rows } = await h.t.sql.query("SELECT count(*)::int AS n FROM media WHERE key LIKE 'trash/disk/guard/%'");
    assert.equal(rows[0].n, 0);
    for (const id of ids) await expectCode(h.t.media.getMedia({ id }), Code.NotFound);
  });

  test("EraseMedia deletes file and row at once, verifies, redacts owners; a held media is refused", async () => {
    const live = await h.put("default", "trash/erase/live.jpg");
    await h.t.media.linkMedia({ mediaId: live, owner: "user/42/avatar" });
    const [trashed] = (await trash("default", ["trash/erase/trashed.jpg"])) as [bigint];
    const held = await h.put("default", "trash/erase/held.jpg");
    await h.t.admin.holdMedia({ mediaId: held, reason: "litigation" });

    const { receipts } = await h.t.admin.eraseMedia({
      mediaIds: [live, trashed, held, 999_999_999n],
      reason: "GDPR #7",
    });
    assert.deepEqual(
      receipts.map((r) => [r.mediaId, r.outcome, r.verifiedGone]),
      [
        [live, ErasureOutcome.ERASED, true],
        [trashed, ErasureOutcome.ERASED, true],
        [held, ErasureOutcome.REFUSED, false],
        [999_999_999n, ErasureOutcome.REFUSED, false],
      ],
    );
    assert.match(receipts[2]?.detail ?? "", /held/);
    assert.equal(await h.exists("default", "trash/erase/live.jpg"), false);
    assert.equal(existsSync(trashedOnDisk(trashed)), false);
    assert.equal(await h.exists("default", "trash/erase/held.jpg"), true);
    await expectCode(h.t.media.getMedia({ id: live }), Code.NotFound);
    const { events } = await h.t.admin.listMediaEvents({ mediaId: live });
    assert.equal(events.at(-1)?.type, MediaEventType.ERASED);
    assert.match(events.at(-1)?.reason ?? "", /GDPR #7/);
    assert.ok(
      events.every((e) => e.owner === ""),
      "no event keeps the erased owner",
    );
    const raw = await h.t.sql.query("SELECT count(*)::int AS n FROM media_events WHERE owner = 'user/42/avatar'");
    assert.equal(raw.rows[0].n, 0);
    // The audit log still refuses every other change.
    await assert.rejects(
      h.t.sql.query("UPDATE media_events SET reason = 'x' WHERE media_id = $1", [String(live)]),
      /append-only/,
    );
  });

  test("EraseMedia by owner erases what the owner references", async () => {
    const a = await h.put("default", "trash/erase/owner/a.jpg");
    const b = await h.put("default", "trash/erase/owner/b.jpg");
    for (const id of [a, b]) await h.t.media.linkMedia({ mediaId: id, owner: "user/77" });
    const { receipts, remainingCount } = await h.t.admin.eraseMedia({ owner: "user/77", reason: "account closed" });
    assert.deepEqual(
      receipts.map((r) => [r.mediaId, r.outcome]),
      [
        [a, ErasureOutcome.ERASED],
        [b, ErasureOutcome.ERASED],
      ],
    );
    assert.equal(remainingCount, 0n);
    await expectCode(h.t.admin.eraseMedia({ mediaIds: [a], owner: "user/77", reason: "x" }), Code.InvalidArgument);
  });
});

describe("S3 store", () => {
  test("trash and restore round trip: the restored bytes equal the originals", async () => {
    const [id] = (await trash("s3", ["trash/s3/a.jpg"])) as [bigint];
    assert.equal(await h.exists("s3", "trash/s3/a.jpg"), false);
    assert.equal(await inS3Trash(id), true);
    await h.t.admin.restoreMedia({ mediaId: id });
    assert.equal(await h.exists("s3", "trash/s3/a.jpg"), true);
    assert.equal(await inS3Trash(id), false);
    assert.equal(await state(id), MediaState.ORPHANED);
  });

  test("per-key errors during the trash copy keep those media and their objects, and retry them", async () => {
    const ids: bigint[] = [];
    for (const name of ["ok", "denied"]) {
      const id = await h.put("s3", `trash/s3/errors/${name}.jpg`);
      await h.t.admin.deleteMediaNow({ mediaId: id });
      ids.push(id);
    }
    const denied = `${S3_PREFIX}trash/s3/errors/denied.jpg`;
    h.proxy.failingCopies.set(denied, { status: 403, code: "AccessDenied" });
    try {
      await h.sweep();
    } finally {
      h.proxy.failingCopies.delete(denied);
    }
    assert.equal(await state(ids[0] as bigint), MediaState.TRASHED);
    const refused = (await h.t.media.getMedia({ id: ids[1] as bigint })).media;
    assert.equal(refused?.state, MediaState.ORPHANED, "rescheduled, not trashed");
    assert.match(refused?.lastError ?? "", /^PERMISSION_DENIED: /);
    assert.equal(await h.exists("s3", "trash/s3/errors/denied.jpg"), true, "its object stays");
    await h.t.sql.query("UPDATE media SET delete_time = now() WHERE id = $1", [String(ids[1])]);
    await h.sweep();
    assert.equal(await state(ids[1] as bigint), MediaState.TRASHED);
  });
});

test("a worker killed between the trash move and the row update: a new worker converges, nothing lost", async () => {
  await h.worker?.stop();
  h.worker = undefined;
  const workerEnv = { DATABASE_URL: h.t.databaseUrl, ...h.env, WORKER_CONCURRENCY: "1" };
  try {
    const ids: bigint[] = [];
    for (let i = 0; i < 3; i++) {
      const id = await h.put("s3", `trash/crash/${i}.jpg`);
      await h.t.admin.deleteMediaNow({ mediaId: id });
      ids.push(id);
    }
    // Hold the answer to the DeleteObjects of the originals: the copies are made, the originals gone,
    // the rows not yet recorded.
    h.proxy.hold = "response";
    h.proxy.held = 0;
    const first = await spawnWorker(workerEnv);
    await h.t.admin.runSweep({});
    await waitFor(async () => h.proxy.held > 0, "the worker to reach the DeleteObjects");
    await killProcess(first);
    h.proxy.hold = undefined;
    for (const id of ids) assert.equal((await h.t.media.getMedia({ id })).media?.state, MediaState.DELETING);
    await expectCode(h.t.media.linkMedia({ mediaId: ids[0] as bigint, owner: "late" }), Code.FailedPrecondition);

    const second = await spawnWorker(workerEnv);
    try {
      await expireLeases(h.t.sql);
      await h.t.admin.runSweep({});
      await waitFor(async () => {
        for (const id of ids) if ((await state(id)) !== MediaState.TRASHED) return false;
        return true;
      }, "the rows to be recorded as trashed");
    } finally {
      await killProcess(second, "SIGTERM");
    }
    for (let i = 0; i < 3; i++) {
      assert.equal(await h.exists("s3", `trash/crash/${i}.jpg`), false);
      assert.equal(await inS3Trash(ids[i] as bigint), true, "each file is in the trash");
    }
    await h.t.admin.restoreMedia({ mediaId: ids[0] as bigint });
    assert.equal(await h.exists("s3", "trash/crash/0.jpg"), true, "and restorable");
  } finally {
    await h.startWorker();
  }
});
