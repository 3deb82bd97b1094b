import assert from "node:assert/strict";
import { existsSync, linkSync, readFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { GetObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { BulkActionState, BulkActionType, ErasureOutcome } from "@media/proto/media/v1/admin_service_pb";
import { MediaState } from "@media/proto/media/v1/media_pb";
import { claimPurgeBatch } from "@media/server/deletion";
import { killAllProcesses } from "@media/server/testing";
import { trashPathOf } from "../../server/src/storage/disk-trash.ts";
import { trashedName } from "../../server/src/storage/s3-trash.ts";
import { BUCKET, type DeletionHarness, S3_PREFIX, startDeletionHarness, waitFor } from "../testing/harness.ts";

// Attacks from a review of the trash, kept as regression tests: each asserts
// the service's promise at a place where a first version broke it.

let h: DeletionHarness;
before(async () => {
  h = await startDeletionHarness({
    TRASH_RETENTION: "7d",
    SWEEP_SCHEDULE: "0 0 1 1 *",
    CLAIM_TIMEOUT: "15s",
    STORAGE_TIMEOUT: "5s",
  });
});
after(async () => {
  await killAllProcesses();
  await h.stop();
});

const state = async (id: bigint) => (await h.t.media.getMedia({ id })).media?.state;
const noFilter = { state: MediaState.UNSPECIFIED, store: "", owner: "", keyPrefix: "", labels: {} };

async function s3Body(key: string): Promise<string | undefined> {
  try {
    const r = await h.s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    return await r.Body?.transformToString();
  } catch (error) {
    if ((error as { name?: string }).name === "NoSuchKey") return undefined;
    throw error;
  }
}

async function trashOne(id: bigint) {
  await h.t.admin.deleteMediaNow({ mediaId: id });
  await h.sweep();
  assert.equal(await state(id), MediaState.TRASHED);
}

describe("attack", () => {
  test("S3: a bulk RESTORE of two tombstones of one key never loses the restored media's bytes", async () => {
    // Per pair: media A (bytes "A-i") trashed, then media B at the same key (bytes "B-i") trashed.
    const pairs: { key: string; a: bigint; b: bigint }[] = [];
    for (let i = 0; i < 6; i++) {
      const key = `atk/samekey/${i}.jpg`;
      const ids: bigint[] = [];
      for (const who of ["A", "B"]) {
        await h.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: S3_PREFIX + key, Body: `${who}-${i}` }));
        const { media } = await h.t.media.createMedia({ store: "s3", key, sizeBytes: 3n });
        assert.ok(media);
        await trashOne(media.id);
        ids.push(media.id);
      }
      pairs.push({ key, a: ids[0] as bigint, b: ids[1] as bigint });
    }
    const answer = await h.t.admin.runBulkAction({
      filter: { ...noFilter, store: "s3", keyPrefix: "atk/samekey/" },
      action: BulkActionType.RESTORE,
      reason: "attack",
    });
    const id = answer.bulkAction?.id ?? 0n;
    await waitFor(
      async () => {
        const s = (await h.t.admin.getBulkAction({ bulkActionId: id })).bulkAction?.state;
        return s === BulkActionState.SUCCEEDED || s === BulkActionState.FAILED;
      },
      "the bulk restore",
      20_000,
    );
    const lost: string[] = [];
    for (const [i, p] of pairs.entries()) {
      for (const [who, mid] of [
        ["A", p.a],
        ["B", p.b],
      ] as const) {
        const st = await state(mid);
        if (st === MediaState.TRASHED) {
          // Restorable: its trashed copy must still hold its bytes.
          const copy = await s3Body(trashedName(S3_PREFIX, String(mid)));
          if (copy !== `${who}-${i}`) lost.push(`tombstone ${mid} (${who}-${i}) has trashed copy ${copy}`);
        } else {
          // Live again: the object at its key must be its own bytes.
          const atKey = await s3Body(S3_PREFIX + p.key);
          if (atKey !== `${who}-${i}`) lost.push(`live media ${mid} (${who}-${i}) has ${atKey} at its key`);
        }
      }
    }
    assert.deepEqual(lost, [], "every restored media has its own bytes, every tombstone its trashed copy");
  });

  test("disk: EraseMedia of a tombstone whose interrupted restore left its copy at the key refuses, then erases once restored", async () => {
    const key = "atk/erase/interrupted.jpg";
    const id = await h.put("default", key);
    await trashOne(id);
    // An interrupted restore: step 2 (link the trashed copy at the key) done, then the restorer died;
    // its expired claim is settled by the sweep (a RESTORE_INTERRUPTED hold).
    linkSync(path.join(h.diskRoot, trashPathOf(String(id))), path.join(h.diskRoot, key));
    await h.t.sql.query(
      `WITH c AS (INSERT INTO deletion_claims (token, kind, lease_expire_time, media_ids)
         VALUES (gen_random_uuid(), 'restore', now() - interval '1 minute', ARRAY[$1::bigint]) RETURNING token)
       UPDATE media SET claim_token = c.token, claim_time = now() FROM c WHERE id = $1`,
      [String(id)],
    );
    await h.sweep();
    const held = (await h.t.media.getMedia({ id })).media;
    assert.match(held?.holdReason ?? "", /restore interrupted/);
    // The operator releases the hold, then a legal erasure comes: it must not report gone what is at the key.
    await h.t.admin.releaseMedia({ mediaId: id });
    const first = await h.t.admin.eraseMedia({ mediaIds: [id], reason: "GDPR" });
    assert.equal(first.receipts[0]?.outcome, ErasureOutcome.REFUSED);
    assert.match(first.receipts[0]?.detail ?? "", /interrupted restore/);
    assert.equal(existsSync(path.join(h.diskRoot, trashPathOf(String(id)))), true, "nothing was touched");
    // As the receipt says: restore (it recognises its own copy at the key), then erase.
    assert.equal((await h.t.admin.restoreMedia({ mediaId: id })).media?.state, MediaState.ORPHANED);
    const second = await h.t.admin.eraseMedia({ mediaIds: [id], reason: "GDPR" });
    assert.equal(second.receipts[0]?.outcome, ErasureOutcome.ERASED);
    assert.equal(second.receipts[0]?.verifiedGone, true);
    const full = path.join(h.diskRoot, key);
    assert.equal(
      existsSync(full) ? readFileSync(full, "utf8") : undefined,
      undefined,
      "an ERASED, verified_gone media's bytes are nowhere in the store",
    );
    assert.equal(existsSync(path.join(h.diskRoot, trashPathOf(String(id)))), false);
  });

  test("EraseMedia(owner) erases the owner's trashed media too, and no row keeps the owner's name", async () => {
    const owner = "user/attack-erase";
    const id = await h.put("default", "atk/owner/a.jpg");
    await h.t.media.linkMedia({ mediaId: id, owner });
    await h.t.admin.runBulkAction({
      filter: { ...noFilter, owner },
      action: BulkActionType.HOLD,
      reason: "look at it",
      validateOnly: true,
    });
    await h.t.admin.runBulkAction({ filter: { ...noFilter, owner }, action: BulkActionType.RETRY, reason: "noop" });
    await h.t.media.unlinkMedia({ mediaId: id, owner });
    await trashOne(id);
    const { receipts } = await h.t.admin.eraseMedia({ owner, reason: "account closed" });
    const names = await h.t.sql.query(
      `SELECT (SELECT count(*)::int FROM media_events WHERE owner = $1) AS events,
              (SELECT count(*)::int FROM bulk_actions WHERE filter->>'owner' = $1) AS bulk`,
      [owner],
    );
    const left = await h.t.sql.query("SELECT count(*)::int AS n FROM media WHERE id = $1", [String(id)]);
    assert.deepEqual(
      { receipts: receipts.length, rows: left.rows[0].n, ...names.rows[0] },
      { receipts: 1, rows: 0, events: 0, bulk: 0 },
      "the owner's media (a tombstone restorable for 7 days) is erased and no row keeps the owner's name",
    );
  });

  test("a hold is refused on a tombstone a purge has claimed, rather than accepted and then ignored", async () => {
    const id = await h.put("default", "atk/hold/purged.jpg");
    await trashOne(id);
    await h.worker?.stop();
    h.worker = undefined;
    try {
      await h.t.sql.query("UPDATE media SET purge_time = now() - interval '1 second' WHERE id = $1", [String(id)]);
      const claimed = await claimPurgeBatch(h.t.sql, 100, 60);
      assert.equal(claimed.claimed, 1);
      // A legal hold arrives while the purge is under way: refused, saying why, so nobody believes it held.
      await assert.rejects(
        h.t.admin.holdMedia({ mediaId: id, reason: "litigation" }),
        /being purged, restored or erased/,
      );
    } finally {
      await h.startWorker();
    }
    await h.sweep();
    await assert.rejects(h.t.media.getMedia({ id }), /not found/);
  });

  test("S3: a media deleted again right after its restore was recorded keeps its new trashed copy", async () => {
    const key = "atk/redelete/a.jpg";
    await h.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: S3_PREFIX + key, Body: "precious" }));
    const { media } = await h.t.media.createMedia({ store: "s3", key, sizeBytes: 8n });
    assert.ok(media);
    const id = media.id;
    await trashOne(id);
    // The restorer is not frozen: its drop (DeleteObjects of the trashed copy) is merely slow on the wire.
    h.proxy.hold = "request";
    const restoring = h.t.admin.restoreMedia({ mediaId: id });
    await waitFor(async () => h.proxy.held >= 1, "the restore's drop to be sent", 5_000);
    h.proxy.hold = undefined;
    assert.equal(await state(id), MediaState.ORPHANED, "the restore is recorded, its lease still held");
    await h.t.admin.deleteMediaNow({ mediaId: id });
    await h.sweep();
    assert.equal(await state(id), MediaState.ORPHANED, "not trashed again while its restore still drops the old copy");
    h.proxy.release();
    await restoring;
    await h.sweep();
    assert.equal(await state(id), MediaState.TRASHED);
    assert.equal(
      await s3Body(trashedName(S3_PREFIX, String(id))),
      "precious",
      "a TRASHED media's bytes are in its store until purge_time",
    );
  });

  test("while deletions are paused an interrupted erasure is never settled: EraseMedia stays refused", async () => {
    const id = await h.put("default", "atk/paused/erase.jpg");
    // An EraseMedia that died after its claim (step 1), its lease long expired.
    await h.t.sql.query(
      `WITH c AS (INSERT INTO deletion_claims (token, kind, lease_expire_time, media_ids)
         VALUES (gen_random_uuid(), 'erase', now() - interval '1 hour', ARRAY[$1::bigint]) RETURNING token)
       UPDATE media SET state = 'DELETING', claim_token = c.token, claim_time = now() FROM c WHERE id = $1`,
      [String(id)],
    );
    await h.t.admin.pauseDeletions({ reason: "incident" });
    try {
      await h.sweep();
      const { receipts } = await h.t.admin.eraseMedia({ mediaIds: [id], reason: "GDPR, due today" });
      assert.notEqual(
        receipts[0]?.outcome,
        ErasureOutcome.REFUSED,
        `an erasure whose lease expired an hour ago blocks the legal erasure: ${receipts[0]?.detail}`,
      );
    } finally {
      await h.t.admin.resumeDeletions({ confirmBlastRadius: true });
    }
  });
});
