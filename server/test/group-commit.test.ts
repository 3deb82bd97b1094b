import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Code, createClient } from "@connectrpc/connect";
import { MediaEventType } from "@media/proto/media/v1/admin_service_pb";
import { MediaState } from "@media/proto/media/v1/media_pb";
import { MediaService } from "@media/proto/media/v1/media_service_pb";
import { expectCode, grpcTransport, startTestService, type TestService } from "../testing/support.ts";

// Group commit (server/src/media/group-commit.ts): concurrent LinkMedia and
// UnlinkMedia calls share one transaction, yet each gets its own outcome, calls
// on one media keep their arrival order, and one bad call (or one blocked
// media) never fails or holds up its neighbours.

let t: TestService;
let grpcMedia: ReturnType<typeof createClient<typeof MediaService>>;
let keySeq = 0;

before(async () => {
  t = await startTestService({ GRACE_PERIOD: "1h", PENDING_TTL: "24h" });
  grpcMedia = createClient(MediaService, grpcTransport(t.service.grpcPort));
});
after(() => t.stop());

async function createMany(n: number): Promise<bigint[]> {
  const ids: bigint[] = [];
  for (let i = 0; i < n; i++) {
    const { media } = await t.media.createMedia({ store: "default", key: `group/${++keySeq}.jpg`, sizeBytes: 1n });
    assert.ok(media);
    ids.push(media.id);
  }
  return ids;
}

/** Distinct transactions that wrote these media's LINKED events (each row's xmin is its writer). */
async function linkTransactions(ids: readonly bigint[]): Promise<number> {
  const { rows } = await t.sql.query<{ n: number }>(
    `SELECT count(DISTINCT xmin::text)::int AS n FROM media_events
     WHERE media_id = ANY($1::bigint[]) AND type = 'LINKED'`,
    [ids.map(String)],
  );
  return rows[0]?.n ?? 0;
}

describe("group commit", () => {
  test("concurrent links commit together: every call answered and durable, far fewer transactions than calls", async () => {
    const ids = await createMany(200);
    const answers = await Promise.all(ids.map((id, i) => grpcMedia.linkMedia({ mediaId: id, owner: `posts/${i}` })));
    const used = await linkTransactions(ids);
    for (const [i, answer] of answers.entries()) {
      assert.equal(answer.changed, true);
      assert.equal(answer.media?.state, MediaState.LINKED);
      assert.equal(answer.media?.id, ids[i]);
    }
    const { rows } = await t.sql.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM media_references WHERE media_id = ANY($1::bigint[])",
      [ids.map(String)],
    );
    assert.equal(rows[0]?.n, 200);
    assert.ok(used < 100, `200 links took ${used} transactions`);
  });

  test("calls on one media keep their arrival order within and across groups", async () => {
    const [id] = await createMany(1);
    const others = await createMany(20);
    const calls: Promise<unknown>[] = [];
    // Sent in one turn: link, unlink, link, unlink, link of the same pair, among links of other media.
    for (let round = 0; round < 5; round++) {
      const request = { mediaId: id as bigint, owner: "ordered/1" };
      calls.push(round % 2 === 0 ? grpcMedia.linkMedia(request) : grpcMedia.unlinkMedia(request));
      for (const other of others.slice(round * 4, round * 4 + 4)) {
        calls.push(grpcMedia.linkMedia({ mediaId: other, owner: `ordered/other/${other}` }));
      }
    }
    await Promise.all(calls);
    const { events } = await t.admin.listMediaEvents({ mediaId: id as bigint });
    assert.deepEqual(
      events.filter((e) => e.owner === "ordered/1").map((e) => e.type),
      [
        MediaEventType.LINKED,
        MediaEventType.UNLINKED,
        MediaEventType.LINKED,
        MediaEventType.UNLINKED,
        MediaEventType.LINKED,
      ],
    );
    const { media } = await t.media.getMedia({ id: id as bigint });
    assert.equal(media?.state, MediaState.LINKED);
  });

  test("a call the database refuses fails alone: its group is retried call by call", async () => {
    const ids = await createMany(30);
    // Fault injected in the database: any reference for this owner raises.
    await t.sql.query(`CREATE FUNCTION poison_reference() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.owner = 'poison/1' THEN RAISE EXCEPTION 'poisoned'; END IF; RETURN NEW; END $$`);
    await t.sql.query(
      "CREATE TRIGGER poison_reference BEFORE INSERT ON media_references FOR EACH ROW EXECUTE FUNCTION poison_reference()",
    );
    try {
      const results = await Promise.allSettled(
        ids.map((id, i) => grpcMedia.linkMedia({ mediaId: id, owner: i === 7 ? "poison/1" : `fine/${i}` })),
      );
      for (const [i, result] of results.entries()) {
        if (i === 7) {
          assert.equal(result.status, "rejected");
          await expectCode(Promise.reject((result as PromiseRejectedResult).reason), Code.Internal);
        } else {
          assert.equal(result.status, "fulfilled", `call ${i}: ${String((result as PromiseRejectedResult).reason)}`);
        }
      }
      const { rows } = await t.sql.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM media_references WHERE media_id = ANY($1::bigint[])",
        [ids.map(String)],
      );
      assert.equal(rows[0]?.n, 29);
    } finally {
      await t.sql.query("DROP TRIGGER poison_reference ON media_references; DROP FUNCTION poison_reference()");
    }
  });

  test("a media locked by another transaction holds up only its own calls; they end at their deadline", async () => {
    const [locked, ...free] = await createMany(11);
    const locker = await t.sql.connect();
    try {
      await locker.query("BEGIN");
      await locker.query("SELECT 1 FROM media WHERE id = $1 FOR UPDATE", [String(locked)]);
      const blocked = grpcMedia.linkMedia({ mediaId: locked as bigint, owner: "waits/1" }, { timeoutMs: 1500 });
      const neighbours = free.map((id, i) => grpcMedia.linkMedia({ mediaId: id, owner: `free/${i}` }));
      // The neighbours are answered while the lock is still held.
      for (const answer of await Promise.all(neighbours)) assert.equal(answer.changed, true);
      await expectCode(blocked, Code.DeadlineExceeded);
    } finally {
      await locker.query("ROLLBACK");
      locker.release();
    }
    // Nothing was left behind for the blocked call: the media takes a link again at once.
    const again = await grpcMedia.linkMedia({ mediaId: locked as bigint, owner: "waits/2" }, { timeoutMs: 5000 });
    assert.equal(again.media?.state, MediaState.LINKED);
  });

  test("each call gets its own outcome inside a group: a trashed media refuses, its neighbours link", async () => {
    const [trashed, ...fine] = await createMany(10);
    await t.sql.query(
      "UPDATE media SET state = 'TRASHED', trash_time = now(), purge_time = now() + interval '7 days' WHERE id = $1",
      [String(trashed)],
    );
    const results = await Promise.allSettled([
      grpcMedia.linkMedia({ mediaId: trashed as bigint, owner: "outcome/t" }),
      ...fine.map((id, i) => grpcMedia.linkMedia({ mediaId: id, owner: `outcome/${i}` })),
      grpcMedia.unlinkMedia({ mediaId: fine[0] as bigint, owner: "outcome/never-linked" }),
    ]);
    assert.equal(results[0]?.status, "rejected");
    await expectCode(Promise.reject((results[0] as PromiseRejectedResult).reason), Code.FailedPrecondition);
    for (const result of results.slice(1, -1)) assert.equal(result.status, "fulfilled");
    const last = results.at(-1);
    assert.equal(last?.status, "fulfilled");
    assert.equal((last as PromiseFulfilledResult<{ changed: boolean }>).value.changed, false);
  });
});
