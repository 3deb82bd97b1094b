import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { ErrorInfoSchema, PreconditionFailureSchema } from "@media/proto/google/rpc/error_details_pb";
import {
  type BulkAction,
  BulkActionState,
  BulkActionType,
  MediaEventType,
} from "@media/proto/media/v1/admin_service_pb";
import { MediaState } from "@media/proto/media/v1/media_pb";
import { type DeletionHarness, startDeletionHarness, waitFor } from "@media/worker/testing";
import { expectCode } from "../testing/support.ts";

// Bulk actions end to end: RunBulkAction on a real service, its bulk_action
// job on a real worker, progress through GetBulkAction and ListBulkActions.
// Trash times are back-dated in SQL, never waited for.

const LIMIT = 5;
let h: DeletionHarness;
before(async () => {
  // Sweeps run only when a test asks; the trash on, for the bulk restore.
  h = await startDeletionHarness({
    BLAST_RADIUS_LIMIT: String(LIMIT),
    SWEEP_SCHEDULE: "0 0 1 1 *",
    TRASH_RETENTION: "7d",
  });
});
after(() => h.stop());

const noFilter = { state: MediaState.UNSPECIFIED, store: "", owner: "", keyPrefix: "", labels: {} };

async function putAll(prefix: string, names: string[]): Promise<bigint[]> {
  const ids: bigint[] = [];
  for (const name of names) ids.push(await h.put("default", `${prefix}${name}`));
  return ids;
}

/** Waits until the bulk action is over (SUCCEEDED or FAILED); returns it. */
async function settled(id: bigint): Promise<BulkAction> {
  let last: BulkAction | undefined;
  await waitFor(
    async () => {
      last = (await h.t.admin.getBulkAction({ bulkActionId: id })).bulkAction;
      return last?.state === BulkActionState.SUCCEEDED || last?.state === BulkActionState.FAILED;
    },
    `bulk action ${id} to finish`,
    15_000,
    async () => JSON.stringify(last, (_, v) => (typeof v === "bigint" ? String(v) : v)),
  );
  assert.ok(last);
  return last;
}

const mediaOf = async (id: bigint) => {
  const { media } = await h.t.media.getMedia({ id });
  assert.ok(media);
  return media;
};

describe("RunBulkAction", () => {
  test("validate_only counts the matching media and their bytes, and changes nothing", async () => {
    const ids = await putAll("bulk/validate/", ["a.jpg", "b.jpg", "c.jpg"]);
    await h.put("default", "bulk/other/x.jpg");
    const before = await h.t.sql.query("SELECT count(*)::int AS n FROM bulk_actions");
    const answer = await h.t.admin.runBulkAction({
      filter: { ...noFilter, keyPrefix: "bulk/validate/" },
      action: BulkActionType.HOLD,
      reason: "just looking",
      validateOnly: true,
    });
    assert.equal(answer.bulkAction, undefined);
    assert.equal(answer.matchedCount, 3n);
    assert.equal(answer.matchedSizeBytes, 30n);
    const after = await h.t.sql.query("SELECT count(*)::int AS n FROM bulk_actions");
    assert.equal(after.rows[0].n, before.rows[0].n);
    for (const id of ids) assert.equal((await mediaOf(id)).holdReason, "");
  });

  test("HOLD by key prefix holds exactly the matching media, with events naming the bulk action", async () => {
    const [a, b, c] = (await putAll("bulk/hold/", ["a.jpg", "b.jpg", "c.jpg"])) as [bigint, bigint, bigint];
    const outside = await h.put("default", "bulk/holdx.jpg");
    await h.t.admin.holdMedia({ mediaId: c, reason: "already held" });
    const answer = await h.t.admin.runBulkAction({
      filter: { ...noFilter, keyPrefix: "bulk/hold/" },
      action: BulkActionType.HOLD,
      reason: "legal review",
    });
    const queued = answer.bulkAction;
    assert.ok(queued);
    assert.equal(answer.matchedCount, 3n);
    assert.equal(queued.matchedCount, 3n);
    assert.equal(queued.actor, "test-admin");
    assert.equal(queued.action, BulkActionType.HOLD);
    assert.equal(queued.filter?.keyPrefix, "bulk/hold/");
    assert.ok(queued.state === BulkActionState.QUEUED || queued.state === BulkActionState.RUNNING);

    const done = await settled(queued.id);
    assert.equal(done.state, BulkActionState.SUCCEEDED, done.lastError);
    assert.equal(done.doneCount, 2n);
    assert.equal(done.skippedCount, 1n, "the media already held is skipped");
    assert.equal(done.failedCount, 0n);
    assert.ok(done.finishTime);

    assert.equal((await mediaOf(a)).holdReason, "legal review");
    assert.equal((await mediaOf(b)).holdReason, "legal review");
    assert.equal((await mediaOf(c)).holdReason, "already held");
    assert.equal((await mediaOf(outside)).holdReason, "");
    for (const id of [a, b]) {
      const held = (await h.t.admin.listMediaEvents({ mediaId: id })).events.filter(
        (e) => e.type === MediaEventType.HELD,
      );
      assert.equal(held.length, 1);
      assert.equal(held[0]?.bulkActionId, queued.id);
      assert.equal(held[0]?.actor, "test-admin");
      assert.equal(held[0]?.reason, `bulk action ${queued.id}: legal review`);
    }
    const cHeld = (await h.t.admin.listMediaEvents({ mediaId: c })).events.filter((e) => e.bulkActionId !== 0n);
    assert.deepEqual(cHeld, [], "a skipped media gets no event");

    // RELEASE through the same rules: the three held ones.
    const release = await h.t.admin.runBulkAction({
      filter: { ...noFilter, keyPrefix: "bulk/hold/" },
      action: BulkActionType.RELEASE,
      reason: "review over",
    });
    const released = await settled(release.bulkAction?.id ?? 0n);
    assert.equal(released.state, BulkActionState.SUCCEEDED, released.lastError);
    assert.equal(released.doneCount, 3n);
    for (const id of [a, b, c]) assert.equal((await mediaOf(id)).holdReason, "");
  });

  test("more media than BLAST_RADIUS_LIMIT need confirm_blast_radius", async () => {
    await putAll(
      "bulk/many/",
      ["1", "2", "3", "4", "5", "6"].map((n) => `${n}.jpg`),
    );
    const request = {
      filter: { ...noFilter, keyPrefix: "bulk/many/" },
      action: BulkActionType.HOLD,
      reason: "many",
    };
    const error = await expectCode(h.t.admin.runBulkAction(request), Code.FailedPrecondition);
    const [info] = error.findDetails(ErrorInfoSchema);
    assert.equal(info?.reason, "BULK_CONFIRMATION_REQUIRED");
    assert.equal(info?.metadata.matched_count, "6");
    const [precondition] = error.findDetails(PreconditionFailureSchema);
    assert.equal(precondition?.violations[0]?.type, "BLAST_RADIUS");
    assert.equal(precondition?.violations[0]?.subject, "bulk-actions");
    // Counting is always allowed.
    assert.equal((await h.t.admin.runBulkAction({ ...request, validateOnly: true })).matchedCount, 6n);
    const confirmed = await h.t.admin.runBulkAction({ ...request, confirmBlastRadius: true });
    const done = await settled(confirmed.bulkAction?.id ?? 0n);
    assert.equal(done.doneCount, 6n);
  });

  test("refuses an unspecified action, an empty reason and an unknown id", async () => {
    await expectCode(
      h.t.admin.runBulkAction({ filter: noFilter, action: BulkActionType.UNSPECIFIED, reason: "x" }),
      Code.InvalidArgument,
      "action",
    );
    await expectCode(
      h.t.admin.runBulkAction({ filter: noFilter, action: BulkActionType.HOLD, reason: "" }),
      Code.InvalidArgument,
      "reason",
    );
    await expectCode(h.t.admin.getBulkAction({ bulkActionId: 0n }), Code.InvalidArgument);
    const missing = await expectCode(h.t.admin.getBulkAction({ bulkActionId: 999_999n }), Code.NotFound);
    assert.equal(missing.findDetails(ErrorInfoSchema)[0]?.reason, "BULK_ACTION_NOT_FOUND");
  });

  test("ListBulkActions pages newest first", async () => {
    const ids: bigint[] = [];
    for (const n of [1, 2, 3]) {
      const answer = await h.t.admin.runBulkAction({
        filter: { ...noFilter, keyPrefix: `bulk/list/${n}/` },
        action: BulkActionType.RETRY,
        reason: `list ${n}`,
      });
      ids.push(answer.bulkAction?.id ?? 0n);
    }
    const listed: bigint[] = [];
    let pageToken = "";
    let pages = 0;
    do {
      const page = await h.t.admin.listBulkActions({ pageSize: 2, pageToken });
      assert.ok(page.bulkActions.length <= 2);
      listed.push(...page.bulkActions.map((b) => b.id));
      pageToken = page.nextPageToken;
      pages++;
    } while (pageToken !== "" && pages < 100);
    assert.ok(pages >= 2, "more than one page");
    assert.deepEqual(
      listed,
      [...listed].sort((x, y) => (x > y ? -1 : x < y ? 1 : 0)),
      "newest first",
    );
    assert.equal(new Set(listed).size, listed.length, "no bulk action twice");
    assert.deepEqual(listed.slice(0, 3), [...ids].reverse());
    await expectCode(h.t.admin.listBulkActions({ pageToken: "bm90LWEtdG9rZW4" }), Code.InvalidArgument);
  });

  test("RESTORE by trashed time range restores only the media trashed in the range", async () => {
    const keys = ["old.jpg", "mid.jpg", "new.jpg"].map((k) => `bulk/restore/${k}`);
    const ids: bigint[] = [];
    for (const key of keys) {
      const id = await h.put("default", key);
      await h.t.admin.deleteMediaNow({ mediaId: id });
      ids.push(id);
    }
    await h.sweep();
    for (const id of ids) assert.equal((await mediaOf(id)).state, MediaState.TRASHED, `media ${id} is trashed`);
    const [old, mid, recent] = ids as [bigint, bigint, bigint];
    const backDate = (id: bigint, hours: number) =>
      h.t.sql.query("UPDATE media SET trash_time = now() - make_interval(hours => $2) WHERE id = $1", [
        String(id),
        hours,
      ]);
    await backDate(old, 5);
    await backDate(mid, 2);
    const now = Date.now();
    const answer = await h.t.admin.runBulkAction({
      filter: {
        ...noFilter,
        keyPrefix: "bulk/restore/",
        trashedAfter: timestampFromDate(new Date(now - 3 * 3600_000)),
        trashedBefore: timestampFromDate(new Date(now - 3600_000)),
      },
      action: BulkActionType.RESTORE,
      reason: "restore the middle one",
    });
    assert.equal(answer.matchedCount, 1n);
    const done = await settled(answer.bulkAction?.id ?? 0n);
    assert.equal(done.state, BulkActionState.SUCCEEDED, done.lastError);
    assert.equal(done.doneCount, 1n);
    assert.equal((await mediaOf(mid)).state, MediaState.ORPHANED);
    assert.equal((await mediaOf(old)).state, MediaState.TRASHED);
    assert.equal((await mediaOf(recent)).state, MediaState.TRASHED);
    assert.equal(await h.exists("default", keys[1] as string), true, "the file is back at its key");
    const restored = (await h.t.admin.listMediaEvents({ mediaId: mid })).events.find(
      (e) => e.type === MediaEventType.RESTORED,
    );
    assert.equal(restored?.bulkActionId, answer.bulkAction?.id);
    assert.equal(restored?.actor, "test-admin");
  });
  // After the restore: these leave media due, which a sweep there would act on.
  test("DELETE_NOW skips held media; RETRY changes only FAILED media", async () => {
    const [free, held] = (await putAll("bulk/now/", ["free.jpg", "held.jpg"])) as [bigint, bigint];
    await h.t.admin.holdMedia({ mediaId: held, reason: "keep" });
    const now = await h.t.admin.runBulkAction({
      filter: { ...noFilter, keyPrefix: "bulk/now/" },
      action: BulkActionType.DELETE_NOW,
      reason: "cleanup",
    });
    const nowDone = await settled(now.bulkAction?.id ?? 0n);
    assert.equal(nowDone.state, BulkActionState.SUCCEEDED, nowDone.lastError);
    assert.deepEqual([nowDone.doneCount, nowDone.skippedCount], [1n, 1n]);
    const freeMedia = await mediaOf(free);
    assert.ok(freeMedia.deleteTime && Number(freeMedia.deleteTime.seconds) * 1000 <= Date.now() + 1000, "due now");
    const requested = (await h.t.admin.listMediaEvents({ mediaId: free })).events.at(-1);
    assert.equal(requested?.type, MediaEventType.DELETE_REQUESTED);
    assert.equal(requested?.bulkActionId, now.bulkAction?.id);
    const heldMedia = await mediaOf(held);
    assert.equal((await h.t.admin.listMediaEvents({ mediaId: held })).events.at(-1)?.type, MediaEventType.HELD);
    assert.ok(heldMedia.holdReason === "keep");

    const [failed, pending] = (await putAll("bulk/retry/", ["failed.jpg", "pending.jpg"])) as [bigint, bigint];
    await h.t.sql.query(
      "UPDATE media SET state = 'FAILED', delete_time = NULL, delete_attempts = 3, last_error = 'IO: broken' WHERE id = $1",
      [String(failed)],
    );
    const retry = await h.t.admin.runBulkAction({
      filter: { ...noFilter, keyPrefix: "bulk/retry/" },
      action: BulkActionType.RETRY,
      reason: "store fixed",
    });
    const retried = await settled(retry.bulkAction?.id ?? 0n);
    assert.deepEqual([retried.doneCount, retried.skippedCount], [1n, 1n]);
    const after = await mediaOf(failed);
    assert.equal(after.state, MediaState.ORPHANED);
    assert.equal(after.deleteAttempts, 0);
    const event = (await h.t.admin.listMediaEvents({ mediaId: failed })).events.at(-1);
    assert.equal(event?.type, MediaEventType.RETRY_REQUESTED);
    assert.equal(event?.fromState, MediaState.FAILED);
    assert.equal(event?.toState, MediaState.ORPHANED);
    assert.equal((await mediaOf(pending)).state, MediaState.PENDING);
  });
});
