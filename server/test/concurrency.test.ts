import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { MediaState } from "@media/proto/media/v1/media_pb";
import { forEachLimited } from "../src/storage/object-store.ts";
import { startTestService, type TestService } from "../testing/support.ts";

let t: TestService;
before(async () => {
  t = await startTestService();
});
after(() => t.stop());

async function referenceRows(mediaId: bigint): Promise<string[]> {
  const result = await t.sql.query("SELECT owner FROM media_references WHERE media_id = $1 ORDER BY owner", [
    mediaId.toString(),
  ]);
  return result.rows.map((r) => r.owner as string);
}

test("200 concurrent links and unlinks on one media end with the exact reference count and state", async () => {
  const { media } = await t.media.createMedia({ store: "default", key: "hot/one.jpg" });
  const id = media!.id;
  const oldOwners = Array.from({ length: 100 }, (_, i) => `old/${i}`);
  const newOwners = Array.from({ length: 100 }, (_, i) => `new/${i}`);
  await Promise.all(oldOwners.map((owner) => t.media.linkMedia({ mediaId: id, owner })));

  // 100 links of new owners race 100 unlinks of old ones, interleaved.
  const calls = oldOwners.flatMap((old, i) => [
    t.media.unlinkMedia({ mediaId: id, owner: old }),
    t.media.linkMedia({ mediaId: id, owner: newOwners[i]! }),
  ]);
  const results = await Promise.all(calls);
  assert.ok(
    results.every((r) => r.changed),
    "every call changed exactly one reference",
  );

  const mid = (await t.media.getMedia({ id })).media!;
  assert.equal(mid.referenceCount, 100n);
  assert.equal(mid.state, MediaState.LINKED);
  assert.deepEqual(await referenceRows(id), [...newOwners].sort());

  // Now every remaining owner unlinks twice at once: exactly one of each pair changes anything.
  const unlinks = await Promise.all(
    newOwners.flatMap((owner) => [1, 2].map(() => t.media.unlinkMedia({ mediaId: id, owner }))),
  );
  assert.equal(unlinks.filter((r) => r.changed).length, 100);
  const end = (await t.media.getMedia({ id })).media!;
  assert.equal(end.referenceCount, 0n);
  assert.equal(end.state, MediaState.ORPHANED);
  assert.deepEqual(await referenceRows(id), []);

  const orphanings = await t.sql.query(
    "SELECT count(*)::int AS n FROM media_events WHERE media_id = $1 AND to_state = 'ORPHANED'",
    [id.toString()],
  );
  assert.equal(orphanings.rows[0].n, 1, "the media was orphaned exactly once");
  const eventCount = await t.sql.query("SELECT count(*)::int AS n FROM media_events WHERE media_id = $1", [
    id.toString(),
  ]);
  assert.equal(eventCount.rows[0].n, 1 + 100 + 200 + 100, "one event per change, none for no-ops");
});

/** Runs fn over items with at most `width` calls in flight. */
test("UnlinkOwner over 1,000 media, racing another owner's UnlinkOwner on the same rows", async () => {
  const ids: bigint[] = [];
  await forEachLimited(
    Array.from({ length: 1000 }, (_, i) => i),
    32,
    async (i) => {
      const { media } = await t.media.createMedia({ store: "default", key: `bulk/${i}.jpg` });
      ids.push(media!.id);
      await t.media.linkMedia({ mediaId: media!.id, owner: "post/1" });
      if (i % 2 === 0) await t.media.linkMedia({ mediaId: media!.id, owner: "post/2" });
    },
  );
  ids.sort((a, b) => (a < b ? -1 : 1));

  const [first, second] = await Promise.all([
    t.media.unlinkOwner({ owner: "post/1" }),
    t.media.unlinkOwner({ owner: "post/2" }),
  ]);
  assert.deepEqual(first.unlinkedMediaIds, ids);
  assert.equal(second.unlinkedMediaIds.length, 500);
  // Whichever ran second orphaned the shared media; together they orphaned all 1,000 exactly once.
  const orphaned = [...first.orphanedMediaIds, ...second.orphanedMediaIds].sort((a, b) => (a < b ? -1 : 1));
  assert.deepEqual(orphaned, ids);

  const states = await t.sql.query(
    "SELECT state, count(*)::int AS n, sum(reference_count)::int AS refs FROM media WHERE key LIKE 'bulk/%' GROUP BY state",
  );
  assert.deepEqual(states.rows, [{ state: "ORPHANED", n: 1000, refs: 0 }]);
  const refs = await t.sql.query("SELECT count(*)::int AS n FROM media_references WHERE owner IN ('post/1', 'post/2')");
  assert.equal(refs.rows[0].n, 0);
});
