import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type Timestamp, timestampDate } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { MediaEventType } from "@media/proto/media/v1/admin_service_pb";
import { MediaState } from "@media/proto/media/v1/media_pb";
import { expectCode, startTestService, type TestService } from "../testing/support.ts";

let t: TestService;
let keySeq = 0;
const newKey = () => `lifecycle/${++keySeq}.jpg`;

before(async () => {
  t = await startTestService({ GRACE_PERIOD: "1h", PENDING_TTL: "24h" });
});
after(() => t.stop());

async function create(key = newKey(), extra: Record<string, unknown> = {}) {
  const res = await t.media.createMedia({ store: "default", key, contentType: "image/jpeg", sizeBytes: 10n, ...extra });
  assert.ok(res.media);
  return res;
}

const seconds = (a: Timestamp | undefined) => {
  assert.ok(a, "timestamp should be set");
  return timestampDate(a).getTime() / 1000;
};

async function events(mediaId: bigint) {
  return (await t.admin.listMediaEvents({ mediaId })).events;
}

/** Marks a media as claimed by a worker, exactly as the deletion sweep's claim does in the database. */
async function claim(id: bigint, state: "DELETING" | "FAILED" = "DELETING") {
  // A FAILED media has no delete time (media_unscheduled_states), as the worker leaves it.
  await t.sql.query(
    `UPDATE media SET state = $2::media_state, claim_token = gen_random_uuid(), claim_time = now(),
       delete_time = CASE WHEN $2::media_state = 'FAILED' THEN NULL ELSE delete_time END WHERE id = $1`,
    [id.toString(), state],
  );
}

describe("CreateMedia", () => {
  test("registers a PENDING media that expires after the pending TTL, with a CREATED event", async () => {
    const { media, created } = await create(newKey(), { labels: { kind: "avatar" } });
    assert.equal(created, true);
    assert.ok(media);
    assert.equal(media.state, MediaState.PENDING);
    assert.equal(media.referenceCount, 0n);
    assert.deepEqual(media.labels, { kind: "avatar" });
    assert.equal(seconds(media.deleteTime) - seconds(media.createTime), 24 * 3600);
    const timeline = await events(media.id);
    assert.deepEqual(
      timeline.map((e) => [e.type, e.toState, e.actor]),
      [[MediaEventType.CREATED, MediaState.PENDING, "test-admin"]],
    );
  });

  test("is idempotent on (store, key): the same request returns the same media and writes nothing", async () => {
    const key = newKey();
    const first = await create(key, { labels: { a: "1" } });
    const again = await create(key, { labels: { a: "1" } });
    assert.equal(again.created, false);
    assert.equal(again.media?.id, first.media?.id);
    assert.equal((await events(first.media!.id)).length, 1);
  });

  test("conflicting metadata for an existing key fails with ALREADY_EXISTS naming the field", async () => {
    const key = newKey();
    await create(key, { labels: { a: "1" } });
    await expectCode(create(key, { sizeBytes: 11n, labels: { a: "1" } }), Code.AlreadyExists, "size_bytes");
    await expectCode(create(key, { contentType: "image/png", labels: { a: "1" } }), Code.AlreadyExists, "content_type");
    await expectCode(create(key, { labels: { a: "2" } }), Code.AlreadyExists, "labels");
  });

  test("re-registering a key whose media is being deleted fails with FAILED_PRECONDITION", async () => {
    const key = newKey();
    const { media } = await create(key);
    await claim(media!.id);
    await expectCode(create(key), Code.FailedPrecondition, "being deleted");
  });
});

describe("LinkMedia and UnlinkMedia", () => {
  test("walk PENDING -> LINKED -> ORPHANED -> LINKED with exact counts, times and events", async () => {
    const { media } = await create();
    const id = media!.id;

    const linked = await t.media.linkMedia({ mediaId: id, owner: "blog/posts/1#cover" });
    assert.equal(linked.changed, true);
    assert.equal(linked.media?.state, MediaState.LINKED);
    assert.equal(linked.media?.referenceCount, 1n);
    assert.equal(linked.media?.deleteTime, undefined, "a linked media has no scheduled deletion");

    const repeat = await t.media.linkMedia({ mediaId: id, owner: "blog/posts/1#cover" });
    assert.equal(repeat.changed, false, "linking the same pair again changes nothing");
    assert.equal(repeat.media?.referenceCount, 1n);

    const second = await t.media.linkMedia({ mediaId: id, owner: "blog/posts/2#cover" });
    assert.equal(second.media?.referenceCount, 2n);

    const one = await t.media.unlinkMedia({ mediaId: id, owner: "blog/posts/1#cover" });
    assert.equal(one.changed, true);
    assert.equal(one.media?.state, MediaState.LINKED);
    assert.equal(one.media?.referenceCount, 1n);

    const noop = await t.media.unlinkMedia({ mediaId: id, owner: "blog/posts/1#cover" });
    assert.equal(noop.changed, false, "unlinking a missing pair changes nothing");
    assert.equal(noop.media?.referenceCount, 1n);

    const orphaned = await t.media.unlinkMedia({ mediaId: id, owner: "blog/posts/2#cover" });
    assert.equal(orphaned.media?.state, MediaState.ORPHANED);
    assert.equal(orphaned.media?.referenceCount, 0n);
    assert.equal(seconds(orphaned.media?.deleteTime) - seconds(orphaned.media?.orphanTime), 3600);

    const relinked = await t.media.linkMedia({ mediaId: id, owner: "blog/posts/3#cover" });
    assert.equal(relinked.media?.state, MediaState.LINKED, "relinking an orphan cancels its deletion");
    assert.equal(relinked.media?.orphanTime, undefined);
    assert.equal(relinked.media?.deleteTime, undefined);

    const got = await t.media.getMedia({ id });
    assert.deepEqual(got.media, relinked.media);

    assert.deepEqual(
      (await events(id)).map((e) => [e.type, e.fromState, e.toState, e.owner]),
      [
        [MediaEventType.CREATED, MediaState.UNSPECIFIED, MediaState.PENDING, ""],
        [MediaEventType.LINKED, MediaState.PENDING, MediaState.LINKED, "blog/posts/1#cover"],
        [MediaEventType.LINKED, MediaState.LINKED, MediaState.LINKED, "blog/posts/2#cover"],
        [MediaEventType.UNLINKED, MediaState.LINKED, MediaState.LINKED, "blog/posts/1#cover"],
        [MediaEventType.UNLINKED, MediaState.LINKED, MediaState.ORPHANED, "blog/posts/2#cover"],
        [MediaEventType.LINKED, MediaState.ORPHANED, MediaState.LINKED, "blog/posts/3#cover"],
      ],
    );
  });

  test("unknown ids fail with NOT_FOUND", async () => {
    await expectCode(t.media.getMedia({ id: 987654321n }), Code.NotFound, "987654321");
    await expectCode(t.media.linkMedia({ mediaId: 987654321n, owner: "x" }), Code.NotFound);
    await expectCode(t.media.unlinkMedia({ mediaId: 987654321n, owner: "x" }), Code.NotFound);
    await expectCode(t.admin.listMediaEvents({ mediaId: 0n }), Code.InvalidArgument, "media_id");
  });

  test("Link on a media being deleted or FAILED fails with FAILED_PRECONDITION and adds no reference", async () => {
    for (const state of ["DELETING", "FAILED"] as const) {
      const { media } = await create();
      await claim(media!.id, state);
      await expectCode(t.media.linkMedia({ mediaId: media!.id, owner: "late/owner" }), Code.FailedPrecondition);
      const refs = await t.sql.query("SELECT count(*)::int AS n FROM media_references WHERE media_id = $1", [
        media!.id.toString(),
      ]);
      assert.equal(refs.rows[0].n, 0);
    }
  });
});

describe("BatchGetMedia", () => {
  test("returns found media in request order, once each, and lists missing ids", async () => {
    const a = (await create()).media!;
    const b = (await create()).media!;
    const res = await t.media.batchGetMedia({ ids: [b.id, 999999n, a.id, b.id] });
    assert.deepEqual(
      res.media.map((m) => m.id),
      [b.id, a.id],
    );
    assert.deepEqual(res.missingIds, [999999n]);
  });
});

describe("UnlinkOwner", () => {
  test("drops every reference of the owner and reports which media were orphaned", async () => {
    const shared = (await create()).media!;
    const solo1 = (await create()).media!;
    const solo2 = (await create()).media!;
    for (const m of [shared, solo1, solo2]) await t.media.linkMedia({ mediaId: m.id, owner: "album/7" });
    await t.media.linkMedia({ mediaId: shared.id, owner: "album/8" });

    const res = await t.media.unlinkOwner({ owner: "album/7" });
    assert.deepEqual(res.unlinkedMediaIds, [shared.id, solo1.id, solo2.id]);
    assert.deepEqual(res.orphanedMediaIds, [solo1.id, solo2.id]);
    assert.equal((await t.media.getMedia({ id: shared.id })).media?.state, MediaState.LINKED);
    assert.equal((await t.media.getMedia({ id: solo1.id })).media?.state, MediaState.ORPHANED);

    const again = await t.media.unlinkOwner({ owner: "album/7" });
    assert.deepEqual(again.unlinkedMediaIds, [], "a repeated UnlinkOwner finds nothing to do");
  });
});

describe("AdminService", () => {
  test("ListMedia filters by state, store, owner and key prefix, and pages without gaps or repeats", async () => {
    const prefix = `list-${Date.now()}/`;
    const ids: bigint[] = [];
    for (let i = 0; i < 7; i++) ids.push((await create(`${prefix}${i}.png`)).media!.id);
    await t.media.linkMedia({ mediaId: ids[0]!, owner: "gallery/1" });
    await t.media.linkMedia({ mediaId: ids[3]!, owner: "gallery/1" });

    const seen: bigint[] = [];
    let pageToken = "";
    do {
      const page = await t.admin.listMedia({ keyPrefix: prefix, pageSize: 3, pageToken });
      assert.ok(page.media.length <= 3);
      seen.push(...page.media.map((m) => m.id));
      pageToken = page.nextPageToken;
    } while (pageToken !== "");
    assert.deepEqual(seen, [...ids].reverse(), "newest first, every media exactly once");

    const byOwner = await t.admin.listMedia({ owner: "gallery/1" });
    assert.deepEqual(
      byOwner.media.map((m) => m.id),
      [ids[3], ids[0]],
    );
    const linked = await t.admin.listMedia({ keyPrefix: prefix, state: MediaState.LINKED });
    assert.equal(linked.media.length, 2);
    assert.equal((await t.admin.listMedia({ keyPrefix: prefix, store: "nope" })).media.length, 0);
    assert.equal((await t.admin.listMedia({ keyPrefix: "list-%" })).media.length, 0, "LIKE wildcards match literally");
    await expectCode(t.admin.listMedia({ pageToken: "garbage" }), Code.InvalidArgument, "page_token");
  });

  test("GetStats counts media and bytes per state and what is due within 24 hours", async () => {
    const before = await t.admin.getStats({});
    const pending = (await create(newKey(), { sizeBytes: 100n })).media!;
    const orphan = (await create(newKey(), { sizeBytes: 1000n })).media!;
    await t.media.linkMedia({ mediaId: orphan.id, owner: "o" });
    await t.media.unlinkMedia({ mediaId: orphan.id, owner: "o" });
    const afterStats = await t.admin.getStats({});
    const stateDelta = (state: MediaState) => {
      const b = before.states.find((s) => s.state === state)!;
      const a = afterStats.states.find((s) => s.state === state)!;
      return [a.count - b.count, a.sizeBytes - b.sizeBytes];
    };
    assert.deepEqual(stateDelta(MediaState.PENDING), [1n, 100n]);
    assert.deepEqual(stateDelta(MediaState.ORPHANED), [1n, 1000n]);
    assert.equal(afterStats.states.length, 6, "every state is listed, empty or not");
    // The orphan is due in 1 h (grace); the pending media in exactly 24 h, which counts.
    assert.equal(afterStats.dueNext24hCount - before.dueNext24hCount, 2n);
    assert.equal(afterStats.dueNext24hSizeBytes - before.dueNext24hSizeBytes, 1100n);
    assert.ok(pending.id > 0n);
  });
});
