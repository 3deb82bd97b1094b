import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Code } from "@connectrpc/connect";
import { MediaEventType } from "@media/proto/media/v1/admin_service_pb";
import { MediaState } from "@media/proto/media/v1/media_pb";
import { expectCode, startTestService, type TestService } from "../testing/support.ts";

// Keeping references true from the caller's side: CreateMedia with an owner
// (registered and linked in one transaction, never PENDING) and
// ReplaceOwnerMedia (an owner's complete set, diffed by the service).

let t: TestService;
let keySeq = 0;

before(async () => {
  t = await startTestService({ GRACE_PERIOD: "1h", PENDING_TTL: "24h" });
});
after(() => t.stop());

async function create(owner?: string): Promise<bigint> {
  const { media } = await t.media.createMedia({
    store: "default",
    key: `owners/${++keySeq}.jpg`,
    sizeBytes: 1n,
    ...(owner === undefined ? {} : { owner }),
  });
  assert.ok(media);
  return media.id;
}

/** The owner's references, ascending. */
async function referencesOf(owner: string): Promise<bigint[]> {
  const { rows } = await t.sql.query<{ id: string }>(
    "SELECT media_id::text AS id FROM media_references WHERE owner = $1 ORDER BY media_id",
    [owner],
  );
  return rows.map((r) => BigInt(r.id));
}

/** Every media whose reference_count disagrees with its reference rows (none, ever). */
async function miscounted(): Promise<number> {
  const { rows } = await t.sql.query(
    `SELECT count(*)::int AS n FROM media m
     WHERE m.reference_count <> (SELECT count(*) FROM media_references r WHERE r.media_id = m.id)`,
  );
  return rows[0].n;
}

describe("CreateMedia with an owner", () => {
  test("registers and links in one transaction: LINKED at once, CREATED then LINKED", async () => {
    const { media, created } = await t.media.createMedia({
      store: "default",
      key: "owners/with-owner.jpg",
      sizeBytes: 5n,
      owner: "post/1#cover",
    });
    assert.equal(created, true);
    assert.equal(media?.state, MediaState.LINKED);
    assert.equal(media?.referenceCount, 1n);
    assert.equal(media?.deleteTime, undefined);
    const { events } = await t.admin.listMediaEvents({ mediaId: media?.id ?? 0n });
    assert.deepEqual(
      events.map((e) => [e.type, e.owner]),
      [
        [MediaEventType.CREATED, ""],
        [MediaEventType.LINKED, "post/1#cover"],
      ],
    );
  });

  test("a repeat links the existing media (idempotent per pair); another owner adds a reference", async () => {
    const request = { store: "default", key: "owners/repeat.jpg", sizeBytes: 5n, owner: "post/2" };
    const first = await t.media.createMedia(request);
    const again = await t.media.createMedia(request);
    assert.equal(again.created, false);
    assert.equal(again.media?.id, first.media?.id);
    assert.equal(again.media?.referenceCount, 1n);
    const other = await t.media.createMedia({ ...request, owner: "post/3" });
    assert.equal(other.media?.referenceCount, 2n);
    // Registered without an owner first, then again with one: linked.
    const plain = { store: "default", key: "owners/later.jpg", sizeBytes: 5n };
    assert.equal((await t.media.createMedia(plain)).media?.state, MediaState.PENDING);
    assert.equal((await t.media.createMedia({ ...plain, owner: "post/4" })).media?.state, MediaState.LINKED);
  });

  test("a conflicting registration links nothing; a bad owner is INVALID_ARGUMENT", async () => {
    const request = { store: "default", key: "owners/conflict.jpg", sizeBytes: 5n };
    await t.media.createMedia(request);
    await expectCode(t.media.createMedia({ ...request, sizeBytes: 6n, owner: "post/5" }), Code.AlreadyExists);
    assert.deepEqual(await referencesOf("post/5"), []);
    await expectCode(
      t.media.createMedia({ ...request, key: "owners/bad.jpg", owner: "x".repeat(513) }),
      Code.InvalidArgument,
    );
    const { rows } = await t.sql.query("SELECT count(*)::int AS n FROM media WHERE key = 'owners/bad.jpg'");
    assert.equal(rows[0].n, 0, "nothing was registered");
  });
});

describe("ReplaceOwnerMedia", () => {
  test("links what is missing, unlinks the rest, answers the diff; a repeat changes nothing", async () => {
    const owner = "gallery/1";
    const [a, b, c] = [await create(owner), await create(owner), await create()];
    const shared = await create(owner);
    await t.media.linkMedia({ mediaId: shared, owner: "gallery/2" });
    const answer = await t.media.replaceOwnerMedia({ owner, mediaIds: [c as bigint, b as bigint, c as bigint] });
    assert.deepEqual(answer.linkedMediaIds, [c]);
    assert.deepEqual(
      answer.unlinkedMediaIds,
      [a, shared].sort((x, y) => (x < y ? -1 : 1)),
    );
    assert.deepEqual(answer.orphanedMediaIds, [a], "the shared media keeps its other owner");
    assert.deepEqual(
      await referencesOf(owner),
      [b, c].sort((x, y) => (x < y ? -1 : 1)),
    );
    assert.equal((await t.media.getMedia({ id: a as bigint })).media?.state, MediaState.ORPHANED);
    assert.equal((await t.media.getMedia({ id: shared })).media?.state, MediaState.LINKED);

    const repeat = await t.media.replaceOwnerMedia({ owner, mediaIds: [b as bigint, c as bigint] });
    assert.deepEqual([repeat.linkedMediaIds, repeat.unlinkedMediaIds, repeat.orphanedMediaIds], [[], [], []]);
    const empty = await t.media.replaceOwnerMedia({ owner, mediaIds: [] });
    assert.equal(empty.unlinkedMediaIds.length, 2);
    assert.deepEqual(await referencesOf(owner), []);
    assert.equal(await miscounted(), 0);
  });

  test("a media that cannot be linked rolls the whole call back, naming it", async () => {
    const owner = "gallery/atomic";
    const kept = await create(owner);
    const fresh = await create();
    await expectCode(t.media.replaceOwnerMedia({ owner, mediaIds: [fresh, 999_999_999n] }), Code.NotFound);
    const trashed = await create();
    await t.sql.query(
      `UPDATE media SET state = 'TRASHED', delete_time = NULL, trash_time = now(), purge_time = now() + interval '7 days'
       WHERE id = $1`,
      [String(trashed)],
    );
    const refused = await t.media.replaceOwnerMedia({ owner, mediaIds: [fresh, trashed] }).catch((e: unknown) => e);
    assert.match(String(refused), /TRASHED/);
    assert.deepEqual(await referencesOf(owner), [kept], "nothing changed");
    assert.equal((await t.media.getMedia({ id: fresh })).media?.state, MediaState.PENDING);
  });

  test("concurrent replaces of one owner take turns: the owner ends with exactly one of the sets", async () => {
    const owner = "gallery/race";
    const pool = await Promise.all(Array.from({ length: 12 }, () => create()));
    const sets = Array.from({ length: 10 }, (_, i) => pool.filter((_, j) => (i + j) % 3 !== 0));
    await Promise.all(sets.map((mediaIds) => t.media.replaceOwnerMedia({ owner, mediaIds })));
    const final = (await referencesOf(owner)).map(String).join(",");
    const candidates = sets.map((set) =>
      [...set]
        .sort((x, y) => (x < y ? -1 : 1))
        .map(String)
        .join(","),
    );
    assert.ok(candidates.includes(final), `the owner's references ${final} are one of the requested sets`);
    assert.equal(await miscounted(), 0);
  });

  test("refuses more than 1,000 ids and an empty owner", async () => {
    const many = Array.from({ length: 1001 }, (_, i) => BigInt(i + 1));
    await expectCode(t.media.replaceOwnerMedia({ owner: "gallery/big", mediaIds: many }), Code.InvalidArgument);
    await expectCode(t.media.replaceOwnerMedia({ owner: "", mediaIds: [] }), Code.InvalidArgument);
  });
});
