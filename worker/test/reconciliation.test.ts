import assert from "node:assert/strict";
import { mkdir, rm, symlink, unlink, utimes, writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { DeleteObjectCommand } from "@aws-sdk/client-s3";
import { Code } from "@connectrpc/connect";
import { ErrorInfoSchema } from "@media/proto/google/rpc/error_details_pb";
import {
  MediaEventType,
  type Reconciliation,
  ReconciliationAction,
  ReconciliationFindingKind,
  ReconciliationFindingResolution,
  ReconciliationState,
} from "@media/proto/media/v1/admin_service_pb";
import { MediaState } from "@media/proto/media/v1/media_pb";
import { createDiskStore, resolveDiskRoot } from "@media/server/storage";
import { expectCode, killAllProcesses, killProcess, putObject } from "@media/server/testing";
import { BUCKET, type DeletionHarness, S3_PREFIX, startDeletionHarness, waitFor } from "../testing/harness.ts";
import { spawnWorker } from "../testing/worker-process.ts";

// Storage reconciliation end to end: StartReconciliation on a real service, its
// reconcile job on a real worker walking a real disk store and s3rver, findings
// through ListReconciliationFindings, adoption and ignoring through
// ApplyReconciliation. Times are back-dated (file mtimes, media create_time in
// SQL), never waited for. The worker lists 4 objects a second, in pages of 4,
// so every run crosses page boundaries.

const LIMIT = 6;
let h: DeletionHarness;
let outside: string;
before(async () => {
  h = await startDeletionHarness({
    BLAST_RADIUS_LIMIT: String(LIMIT),
    SWEEP_SCHEDULE: "0 0 1 1 *",
    TRASH_RETENTION: "7d",
    RECONCILIATION_RATE: "4",
  });
  outside = path.join(path.dirname(h.diskRoot), "outside");
  await mkdir(outside, { recursive: true });
});
after(async () => {
  await killAllProcesses();
  await h.stop();
});

const DAY_AGO = new Date(Date.now() - 86_400_000);
const hour = { seconds: 3600n, nanos: 0 };

/** Writes a file into the disk store, back-dated a day unless `young`. */
async function plant(key: string, young = false, content = `content of ${key}`): Promise<void> {
  const file = path.join(h.diskRoot, key);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, content);
  if (!young) await utimes(file, DAY_AGO, DAY_AGO);
}

/** Registers a media with no file (its file removed), created a day ago. */
async function missing(store: "default" | "s3", key: string): Promise<bigint> {
  const id = await h.put(store, key);
  if (store === "default") await unlink(path.join(h.diskRoot, key));
  else await h.s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: S3_PREFIX + key }));
  await backdate(id);
  return id;
}

const backdate = (id: bigint) =>
  h.t.sql.query("UPDATE media SET create_time = now() - interval '1 day' WHERE id = $1", [String(id)]);

/** A tracked file, created a day ago. */
async function tracked(store: "default" | "s3", key: string): Promise<bigint> {
  const id = await h.put(store, key);
  if (store === "default") await utimes(path.join(h.diskRoot, key), DAY_AGO, DAY_AGO);
  await backdate(id);
  return id;
}

const json = (value: unknown) => JSON.stringify(value, (_, v) => (typeof v === "bigint" ? String(v) : v));

/** Starts a run and waits until it is over; returns it. */
async function reconcile(store: string, keyPrefix: string, minAge = hour): Promise<Reconciliation> {
  const started = (await h.t.admin.startReconciliation({ store, keyPrefix, minAge })).reconciliation;
  assert.ok(started);
  assert.equal(started.state, ReconciliationState.QUEUED);
  return settled(started.id);
}

async function settled(id: bigint): Promise<Reconciliation> {
  let last: Reconciliation | undefined;
  await waitFor(
    async () => {
      last = (await h.t.admin.getReconciliation({ reconciliationId: id })).reconciliation;
      return last?.state === ReconciliationState.SUCCEEDED || last?.state === ReconciliationState.FAILED;
    },
    `reconciliation ${id} to finish`,
    60_000,
    async () => json(last),
  );
  assert.ok(last);
  assert.equal(last.state, ReconciliationState.SUCCEEDED, last.lastError);
  return last;
}

async function findings(id: bigint, filter: Record<string, unknown> = {}) {
  const all = [];
  let pageToken = "";
  do {
    const page = await h.t.admin.listReconciliationFindings({
      reconciliationId: id,
      pageSize: 3,
      pageToken,
      ...filter,
    });
    all.push(...page.findings);
    pageToken = page.nextPageToken;
  } while (pageToken !== "");
  return all;
}

const keysOf = (list: { key: string }[]) => list.map((f) => f.key);

describe("the disk listing", () => {
  test("walks in byte order of full keys, resumes after a key, skips symlinks, the trash and non-files", async () => {
    for (const key of ["order/a-b", "order/a/x", "order/a/y/z", "order/a0", "order/b", "order/\u00e9", "order/~"]) {
      await plant(key);
    }
    await writeFile(path.join(outside, "secret"), "outside");
    await symlink(path.join(outside, "secret"), path.join(h.diskRoot, "order/link"));
    await symlink(outside, path.join(h.diskRoot, "order/linkdir"));
    await mkdir(path.join(h.diskRoot, ".media-trash/order"), { recursive: true });
    await writeFile(path.join(h.diskRoot, ".media-trash/order/t"), "trashed");
    const store = createDiskStore("listing", resolveDiskRoot(h.diskRoot));
    const expected = ["order/a-b", "order/a/x", "order/a/y/z", "order/a0", "order/b", "order/~", "order/\u00e9"];
    const whole = await store.list("order/", "", 1000);
    assert.deepEqual(keysOf([...whole.objects]), expected);
    assert.equal(whole.done, true);
    // Page by page, two at a time, each resuming after the last key.
    const paged: string[] = [];
    let afterKey = "";
    for (;;) {
      const page = await store.list("order/", afterKey, 2);
      paged.push(...page.objects.map((o) => o.key));
      if (page.done) break;
      afterKey = page.last as string;
    }
    assert.deepEqual(paged, expected);
    // A prefix ending inside a name.
    assert.deepEqual(keysOf([...(await store.list("order/a", "", 10)).objects]), expected.slice(0, 4));
    // Resuming after a key that no longer exists, inside a folder.
    assert.deepEqual(keysOf([...(await store.list("order/", "order/a/q", 10)).objects]), expected.slice(1));
    // The whole store: nothing from the trash, nothing through a symlink.
    const all = await store.list("", "", 1000);
    assert.ok(all.objects.every((o) => !o.key.startsWith(".media-trash") && !o.key.includes("link")));
    const listed = whole.objects.find((o) => o.key === "order/b");
    assert.equal(listed?.sizeBytes, Buffer.byteLength("content of order/b"));
    assert.equal(listed?.modifyTime.getTime(), DAY_AGO.getTime());
  });
});

describe("StartReconciliation on a disk store", () => {
  test("finds untracked and missing files, leaves young uploads, symlinks and the trash alone", async () => {
    const keep = await tracked("default", "r1/keep.jpg");
    const gone = await missing("default", "r1/gone.jpg");
    const fresh = await h.put("default", "r1/fresh-gone.jpg");
    await unlink(path.join(h.diskRoot, "r1/fresh-gone.jpg"));
    for (const key of ["r1/a-b", "r1/a/x", "r1/a0", "r1/z/deep/old.bin"]) await plant(key);
    await plant("r1/young.bin", true);
    await writeFile(path.join(outside, "r1-secret"), "outside");
    await symlink(path.join(outside, "r1-secret"), path.join(h.diskRoot, "r1/link.jpg"));
    await symlink(outside, path.join(h.diskRoot, "r1/linked-folder"));

    const run = await reconcile("default", "r1/");
    assert.equal(run.actor, "test-admin");
    assert.equal(run.keyPrefix, "r1/");
    assert.equal(run.untrackedCount, 4n);
    assert.equal(
      run.untrackedBytes,
      BigInt(["r1/a-b", "r1/a/x", "r1/a0", "r1/z/deep/old.bin"].reduce((n, k) => n + `content of ${k}`.length, 0)),
    );
    assert.equal(run.missingCount, 1n);
    assert.equal(run.youngCount, 1n);
    assert.equal(run.objectsScanned, 6n, "4 untracked, 1 young, 1 tracked; no symlink");
    assert.equal(run.mediaScanned, 3n);
    assert.ok(run.finishTime);

    const all = await findings(run.id);
    assert.deepEqual(keysOf(all), ["r1/a-b", "r1/a/x", "r1/a0", "r1/gone.jpg", "r1/z/deep/old.bin"]);
    const gf = all.find((f) => f.key === "r1/gone.jpg");
    assert.equal(gf?.kind, ReconciliationFindingKind.MISSING);
    assert.equal(gf?.resolution, ReconciliationFindingResolution.FLAGGED);
    assert.equal(gf?.mediaId, gone);
    const untracked = await findings(run.id, { kind: ReconciliationFindingKind.UNTRACKED, keyPrefix: "r1/a" });
    assert.deepEqual(keysOf(untracked), ["r1/a-b", "r1/a/x", "r1/a0"]);
    assert.ok(untracked.every((f) => f.resolution === ReconciliationFindingResolution.OPEN && f.modifyTime));

    // The missing file is flagged at once, with an event naming who started the run.
    const flagged = (await h.t.media.getMedia({ id: gone })).media;
    assert.ok(flagged?.fileMissingTime);
    assert.equal((await h.t.media.getMedia({ id: keep })).media?.fileMissingTime, undefined);
    assert.equal((await h.t.media.getMedia({ id: fresh })).media?.fileMissingTime, undefined, "younger than min_age");
    const events = (await h.t.admin.listMediaEvents({ mediaId: gone })).events.filter(
      (e) => e.type === MediaEventType.FILE_MISSING,
    );
    assert.equal(events.length, 1);
    assert.equal(events[0]?.actor, "test-admin");
    assert.equal(events[0]?.reason, `reconciliation ${run.id}`);
    // The media browser's filter, and the bulk actions' filter.
    const listed = await h.t.admin.listMedia({ fileMissing: true, keyPrefix: "r1/" });
    assert.deepEqual(
      listed.media.map((m) => m.id),
      [gone],
    );
    const counted = await h.t.admin.runBulkAction({
      filter: { fileMissing: true, keyPrefix: "r1/" },
      action: 1,
      reason: "count",
      validateOnly: true,
    });
    assert.equal(counted.matchedCount, 1n);

    // The file comes back: a later run clears the flag, with FILE_FOUND.
    await plant("r1/gone.jpg");
    const again = await reconcile("default", "r1/");
    assert.equal(again.missingCount, 0n);
    assert.equal((await h.t.media.getMedia({ id: gone })).media?.fileMissingTime, undefined);
    const foundEvents = (await h.t.admin.listMediaEvents({ mediaId: gone })).events.filter(
      (e) => e.type === MediaEventType.FILE_FOUND,
    );
    assert.equal(foundEvents.length, 1);
    assert.equal((await h.t.admin.listMedia({ fileMissing: true, keyPrefix: "r1/" })).media.length, 0);
    // Nothing was deleted.
    for (const key of ["r1/a-b", "r1/a/x", "r1/a0", "r1/young.bin"]) assert.ok(await h.exists("default", key));
  });

  test("a TRASHED tombstone does not own its key; DELETING media are not missing", async () => {
    const trashed = await h.put("default", "r2/trashed.jpg");
    await h.t.admin.deleteMediaNow({ mediaId: trashed });
    await h.sweep();
    assert.equal((await h.t.media.getMedia({ id: trashed })).media?.state, MediaState.TRASHED);
    await plant("r2/trashed.jpg");
    const deleting = await missing("default", "r2/deleting.jpg");
    await h.t.sql.query("UPDATE media SET state = 'DELETING', claim_time = now() WHERE id = $1", [String(deleting)]);
    const run = await reconcile("default", "r2/");
    assert.deepEqual(keysOf(await findings(run.id)), ["r2/trashed.jpg"]);
    assert.equal(run.missingCount, 0n);
    await h.t.sql.query("UPDATE media SET state = 'PENDING', claim_time = NULL WHERE id = $1", [String(deleting)]);
  });

  test("refuses a bad request, an unknown id, and applying a run that has not succeeded", async () => {
    await expectCode(h.t.admin.startReconciliation({ store: "nope" }), Code.InvalidArgument, "store");
    await expectCode(
      h.t.admin.startReconciliation({ store: "default", keyPrefix: ".media-trash/" }),
      Code.InvalidArgument,
      "key_prefix",
    );
    await expectCode(
      h.t.admin.startReconciliation({ store: "default", keyPrefix: "a/../b" }),
      Code.InvalidArgument,
      "key_prefix",
    );
    await expectCode(
      h.t.admin.startReconciliation({ store: "default", minAge: { seconds: 31n * 86400n, nanos: 0 } }),
      Code.InvalidArgument,
      "min_age",
    );
    await expectCode(h.t.admin.getReconciliation({ reconciliationId: 999999n }), Code.NotFound);
    const { rows } = await h.t.sql.query(
      "INSERT INTO reconciliations (store, min_age_seconds, actor, state) VALUES ('default', 0, 'x', 'FAILED') RETURNING id",
    );
    const error = await expectCode(
      h.t.admin.applyReconciliation({ reconciliationId: BigInt(rows[0].id), action: ReconciliationAction.ADOPT }),
      Code.FailedPrecondition,
    );
    assert.equal(error.findDetails(ErrorInfoSchema)[0]?.reason, "RECONCILIATION_NOT_FINISHED");
  });
});

describe("ApplyReconciliation", () => {
  test("ADOPT registers PENDING media, skipping taken keys, vanished objects and keys the API refuses; they expire through the trash", async () => {
    for (const key of ["ad/one.bin", "ad/two.bin", "ad/taken.bin", "ad/vanished.bin", "ad/bad\u200bname.bin"]) {
      await plant(key);
    }
    const run = await reconcile("default", "ad/");
    assert.equal(run.untrackedCount, 5n);
    // Meanwhile: one key registered, one object gone.
    const { media: taken } = await h.t.media.createMedia({ store: "default", key: "ad/taken.bin", sizeBytes: 1n });
    await unlink(path.join(h.diskRoot, "ad/vanished.bin"));

    const applied = await h.t.admin.applyReconciliation({
      reconciliationId: run.id,
      action: ReconciliationAction.ADOPT,
    });
    assert.equal(applied.appliedCount, 2n);
    assert.equal(applied.skippedCount, 3n);
    assert.equal(applied.remainingCount, 0n);
    assert.equal(applied.reconciliation?.adoptedCount, 2n);
    const all = await findings(run.id);
    const byKey = new Map(all.map((f) => [f.key, f]));
    for (const key of ["ad/taken.bin", "ad/vanished.bin", "ad/bad\u200bname.bin"]) {
      assert.equal(byKey.get(key)?.resolution, ReconciliationFindingResolution.SKIPPED, key);
    }
    const one = byKey.get("ad/one.bin");
    assert.equal(one?.resolution, ReconciliationFindingResolution.ADOPTED);
    const adopted = (await h.t.media.getMedia({ id: one?.mediaId ?? 0n })).media;
    assert.equal(adopted?.state, MediaState.PENDING);
    assert.equal(adopted?.key, "ad/one.bin");
    assert.equal(adopted?.sizeBytes, BigInt("content of ad/one.bin".length));
    assert.deepEqual(adopted?.labels, { reconciliation: String(run.id) });
    const created = (await h.t.admin.listMediaEvents({ mediaId: adopted?.id ?? 0n })).events.find(
      (e) => e.type === MediaEventType.CREATED,
    );
    assert.equal(created?.reason, `adopted by reconciliation ${run.id}`);
    assert.equal(created?.actor, "test-admin");
    assert.notEqual(taken?.id, byKey.get("ad/taken.bin")?.mediaId);
    // Applying again does nothing more.
    const twice = await h.t.admin.applyReconciliation({ reconciliationId: run.id, action: ReconciliationAction.ADOPT });
    assert.equal(twice.appliedCount, 0n);

    // The adopted media expire like any PENDING media: through the trash.
    await h.t.sql.query("UPDATE media SET delete_time = now() - interval '1 second' WHERE id = $1", [
      String(adopted?.id),
    ]);
    await h.sweep();
    assert.equal((await h.t.media.getMedia({ id: adopted?.id ?? 0n })).media?.state, MediaState.TRASHED);
    assert.equal(await h.exists("default", "ad/one.bin"), false);
  });

  test("more OPEN findings than the blast-radius limit need confirm_blast_radius", async () => {
    for (let i = 0; i < LIMIT + 1; i++) await plant(`blast/${i}.bin`);
    const run = await reconcile("default", "blast/");
    const error = await expectCode(
      h.t.admin.applyReconciliation({ reconciliationId: run.id, action: ReconciliationAction.ADOPT }),
      Code.FailedPrecondition,
    );
    assert.equal(error.findDetails(ErrorInfoSchema)[0]?.reason, "BULK_CONFIRMATION_REQUIRED");
    assert.equal((await findings(run.id, { resolution: ReconciliationFindingResolution.OPEN })).length, LIMIT + 1);
    // Under a narrower prefix it is within the limit.
    const some = await h.t.admin.applyReconciliation({
      reconciliationId: run.id,
      action: ReconciliationAction.ADOPT,
      keyPrefix: "blast/1",
    });
    assert.equal(some.appliedCount, 1n);
    const rest = await h.t.admin.applyReconciliation({
      reconciliationId: run.id,
      action: ReconciliationAction.ADOPT,
      confirmBlastRadius: true,
    });
    assert.equal(rest.appliedCount, BigInt(LIMIT));
    assert.equal(rest.reconciliation?.adoptedCount, BigInt(LIMIT + 1));
  });

  test("IGNORE marks the findings and leaves the prefix out of later runs", async () => {
    await plant("ign/cache/1.tmp");
    await plant("ign/cache/2.tmp");
    await plant("ign/other.bin");
    const run = await reconcile("default", "ign/");
    const ignored = await h.t.admin.applyReconciliation({
      reconciliationId: run.id,
      action: ReconciliationAction.IGNORE,
      keyPrefix: "ign/cache/",
    });
    assert.equal(ignored.appliedCount, 2n);
    assert.equal(ignored.remainingCount, 0n);
    assert.deepEqual(keysOf(await findings(run.id, { resolution: ReconciliationFindingResolution.IGNORED })), [
      "ign/cache/1.tmp",
      "ign/cache/2.tmp",
    ]);
    const later = await reconcile("default", "ign/");
    assert.equal(later.ignoredCount, 2n);
    assert.equal(later.untrackedCount, 1n);
    assert.deepEqual(keysOf(await findings(later.id)), ["ign/other.bin"]);
  });
});

describe("StartReconciliation on S3", () => {
  test("finds untracked and missing objects through ListObjectsV2, skipping the trash, after a failed attempt", async () => {
    const keep = await tracked("s3", "s3r/keep.jpg");
    const gone = await missing("s3", "s3r/gone.jpg");
    for (const key of ["s3r/a-b", "s3r/a/x", "s3r/a0", "s3r/b/c/d"]) await putObject(h.s3, BUCKET, S3_PREFIX + key);
    await putObject(h.s3, BUCKET, `${S3_PREFIX}.media-trash/123`);
    // s3rver cannot answer a truncated ListObjectsV2 page on Node 24 (its continuation token
    // uses DES, which OpenSSL 3 dropped): this suite's S3 runs list in pages of 1000, on a
    // worker of their own. Page boundaries are the disk suites' (pages of 4).
    await h.worker?.stop();
    h.worker = undefined;
    const child = await spawnWorker({ DATABASE_URL: h.t.databaseUrl, ...h.env, RECONCILIATION_RATE: "1000" });
    // Just uploaded: young for a min_age of an hour.
    const young = await reconcile("s3", "s3r/");
    assert.equal(young.youngCount, 4n);
    assert.equal(young.untrackedCount, 0n);
    assert.equal(young.missingCount, 1n);

    // The first listing fails past the SDK's retries: graphile-worker retries the job.
    h.proxy.slowDown(5);
    const run = await reconcile("s3", "", { seconds: 0n, nanos: 0 });
    const keys = keysOf(await findings(run.id));
    for (const key of ["s3r/a-b", "s3r/a/x", "s3r/a0", "s3r/b/c/d", "s3r/gone.jpg"]) assert.ok(keys.includes(key), key);
    assert.ok(!keys.some((k) => k.startsWith(".media-trash")));
    assert.deepEqual(
      keys.filter((k) => k.startsWith("s3r/")),
      ["s3r/a-b", "s3r/a/x", "s3r/a0", "s3r/b/c/d", "s3r/gone.jpg"],
    );
    assert.ok(!keys.includes("s3r/keep.jpg"));
    assert.ok((await h.t.media.getMedia({ id: gone })).media?.fileMissingTime);
    assert.equal((await h.t.media.getMedia({ id: keep })).media?.fileMissingTime, undefined);
    await killProcess(child);
    await h.startWorker();
  });
});

describe("a reconciliation killed mid-run", () => {
  test("resumes from its cursor with exact counts and no duplicate findings", async () => {
    for (let i = 0; i < 40; i++) await plant(`kill/${String(i).padStart(2, "0")}.bin`);
    const gone: bigint[] = [];
    for (const i of [5, 17, 33]) gone.push(await missing("default", `kill/${i}-gone.jpg`));
    await h.worker?.stop();
    h.worker = undefined;
    const started = (await h.t.admin.startReconciliation({ store: "default", keyPrefix: "kill/", minAge: hour }))
      .reconciliation;
    assert.ok(started);
    const child = await spawnWorker({ DATABASE_URL: h.t.databaseUrl, ...h.env, RECONCILIATION_RATE: "5" });
    let progress: Reconciliation | undefined;
    await waitFor(async () => {
      progress = (await h.t.admin.getReconciliation({ reconciliationId: started.id })).reconciliation;
      return (progress?.objectsScanned ?? 0n) >= 10n;
    }, "the run to get under way");
    await killProcess(child);
    progress = (await h.t.admin.getReconciliation({ reconciliationId: started.id })).reconciliation;
    assert.equal(progress?.state, ReconciliationState.RUNNING);
    assert.ok((progress?.objectsScanned ?? 0n) < 40n, json(progress));
    assert.notEqual(progress?.resumeKey, "");
    // graphile-worker frees a dead worker's job after 4 hours: as if they had passed.
    await h.t.sql.query(
      `UPDATE graphile_worker._private_jobs SET locked_at = NULL, locked_by = NULL
       WHERE task_id = (SELECT id FROM graphile_worker._private_tasks WHERE identifier = 'reconcile')`,
    );
    await h.startWorker();
    const done = await settled(started.id);
    assert.equal(done.objectsScanned, 40n);
    assert.equal(done.untrackedCount, 40n);
    assert.equal(done.missingCount, 3n);
    assert.equal(done.mediaScanned, 3n);
    const all = await findings(started.id);
    assert.equal(all.length, 43);
    assert.equal(new Set(keysOf(all)).size, 43);
    for (const id of gone) {
      const flagged = (await h.t.admin.listMediaEvents({ mediaId: id })).events.filter(
        (e) => e.type === MediaEventType.FILE_MISSING,
      );
      assert.equal(flagged.length, 1);
    }
    await rm(path.join(h.diskRoot, "kill"), { recursive: true, force: true });
  });
});
