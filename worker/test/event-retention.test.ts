import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Code } from "@connectrpc/connect";
import { ErrorInfoSchema } from "@media/proto/google/rpc/error_details_pb";
import { MediaEventType } from "@media/proto/media/v1/admin_service_pb";
import { expectCode } from "@media/server/testing";
import { type DeletionHarness, startDeletionHarness, waitFor } from "../testing/harness.ts";

// EVENTS_RETENTION (migration 0014_events_partitioned): the audit log is
// partitioned by month of create_time, and the sweep drops whole partitions
// whose every event is older than the retention; nothing is deleted row by row,
// newer events and the partitions ahead stay, and a media's timeline says where
// its kept events begin.

let h: DeletionHarness;

before(async () => {
  // One second: the first partition (every event written before the migration) ends when the
  // migration ran, so it is past the retention a second later; the month partitions are not.
  h = await startDeletionHarness({ EVENTS_RETENTION: "1s" });
});
after(() => h.stop());

interface Partition {
  name: string;
  ends: Date;
  drop_time: Date | null;
}

async function partitions(): Promise<Partition[]> {
  const { rows } = await h.t.sql.query<Partition>(
    "SELECT name, ends, drop_time FROM media_event_partitions ORDER BY ends",
  );
  return rows;
}

test("the sweep drops the partitions past EVENTS_RETENTION, keeps the rest, and the timeline says so", async () => {
  const id = await h.put("default", "retention/kept.bin");
  const [legacy, ...months] = await partitions();
  assert.equal(legacy?.name, "media_events_legacy");
  assert.ok(months.length >= 3, `partitions ahead: ${months.map((p) => p.name).join(", ")}`);
  // An old event of this media, as if written long ago: it lands in the first partition.
  await h.t.sql.query(
    `INSERT INTO media_events (media_id, type, to_state, actor, reason, create_time)
     VALUES ($1, 'HELD', 'PENDING', 'old-admin', 'an old event', '2020-01-01')`,
    [String(id)],
  );
  const { rows: where } = await h.t.sql.query<{ partition: string }>(
    "SELECT tableoid::regclass::text AS partition FROM media_events WHERE media_id = $1 ORDER BY id",
    [String(id)],
  );
  assert.deepEqual(
    where.map((r) => r.partition),
    [months[0]?.name, "media_events_legacy"],
  );
  const { rows: old } = await h.t.sql.query<{ id: string }>(
    "SELECT id::text FROM media_events WHERE media_id = $1 AND type = 'HELD'",
    [String(id)],
  );
  const oldEventId = BigInt(old[0]?.id ?? 0);
  const before = await h.t.admin.listMediaEvents({ mediaId: id });
  assert.equal(before.events.length, 2);
  assert.equal(before.droppedBeforeTime, undefined);

  await waitFor(
    async () =>
      (await h.t.sql.query("SELECT 1 FROM media_event_partitions WHERE ends < now() - interval '1 second'")).rows
        .length > 0,
    "the first partition to age past the retention",
  );
  await h.sweep();

  const after = await partitions();
  assert.ok(after.find((p) => p.name === "media_events_legacy")?.drop_time, "the first partition was dropped");
  assert.ok(after.filter((p) => p.drop_time === null).length >= 3, "the partitions for now and ahead stay");
  const { rows: tables } = await h.t.sql.query("SELECT 1 FROM pg_class WHERE relname = 'media_events_legacy'");
  assert.equal(tables.length, 0);
  const timeline = await h.t.admin.listMediaEvents({ mediaId: id });
  assert.deepEqual(
    timeline.events.map((e) => e.type),
    [MediaEventType.CREATED],
  );
  assert.ok(timeline.droppedBeforeTime, "the timeline says where its kept events begin");
  assert.equal(timeline.droppedBeforeTime?.seconds, BigInt(Math.floor((legacy?.ends.getTime() ?? 0) / 1000)));
  // A follower whose cursor event was dropped is told so, and how to go on.
  const refused = await expectCode(h.t.media.listEvents({ afterEventId: oldEventId }), Code.FailedPrecondition);
  assert.match(refused.rawMessage, /no longer kept: EVENTS_RETENTION dropped/);
  assert.equal(refused.findDetails(ErrorInfoSchema)[0]?.reason, "EVENTS_DROPPED");
  // The log still takes events and stays append-only.
  await h.t.media.linkMedia({ mediaId: id, owner: "retention/owner" });
  assert.equal((await h.t.admin.listMediaEvents({ mediaId: id })).events.length, 2);
  await assert.rejects(h.t.sql.query("DELETE FROM media_events WHERE media_id = $1", [String(id)]), /append-only/);
  await assert.rejects(h.t.sql.query(`TRUNCATE ${months[0]?.name}`), /append-only/);
});
