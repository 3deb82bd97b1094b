import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import type { ListMediaRequestSchema } from "@media/proto/media/v1/admin_service_pb";
import { MediaState } from "@media/proto/media/v1/media_pb";
import { expectCode, startTestService, type TestService } from "../testing/support.ts";

// The dashboard's read views: the media list's filters, orders and keyset
// pages, references, 7-day totals and the deletion history.

let t: TestService;
const ids: bigint[] = [];

before(async () => {
  t = await startTestService({ GRACE_PERIOD: "3d", PENDING_TTL: "24h" });
  // 30 media: every third labelled team=blog, every fifth linked, the rest pending.
  for (let i = 0; i < 30; i++) {
    const labels: Record<string, string> = i % 3 === 0 ? { team: "blog", kind: "photo" } : { team: "shop" };
    const { media } = await t.media.createMedia({ store: "default", key: `views/${i}.png`, sizeBytes: 100n, labels });
    assert.ok(media);
    ids.push(media.id);
    if (i % 5 === 0) await t.media.linkMedia({ mediaId: media.id, owner: `post/${i}` });
  }
  // Spread the delete times so that delete_time order differs from id order.
  await t.sql.query(
    "UPDATE media SET delete_time = now() + make_interval(hours => ((id * 7) % 30)::int) WHERE state = 'PENDING'",
  );
});
after(() => t.stop());

/** Every page of a listing, following next_page_token. */
async function listAll(request: MessageInitShape<typeof ListMediaRequestSchema>, pageSize = 4) {
  const all: bigint[] = [];
  let pageToken = "";
  for (let pages = 0; pages < 100; pages++) {
    const page = await t.admin.listMedia({ ...request, pageSize, pageToken });
    all.push(...page.media.map((m) => m.id));
    if (page.nextPageToken === "") return all;
    pageToken = page.nextPageToken;
  }
  throw new Error("too many pages");
}

describe("ListMedia", () => {
  test("pages through every media newest first, and oldest first, without gaps or repeats", async () => {
    const newest = await listAll({});
    assert.deepEqual(newest, [...ids].reverse());
    const oldest = await listAll({ orderBy: "create_time" });
    assert.deepEqual(oldest, ids);
  });

  test("orders by delete time, soonest first, media without one last, across pages", async () => {
    const { rows } = await t.sql.query<{ id: string }>(
      "SELECT id FROM media ORDER BY coalesce(delete_time, 'infinity'), id",
    );
    const expected = rows.map((r) => BigInt(r.id));
    assert.deepEqual(await listAll({ orderBy: "delete_time" }, 3), expected);
    const page = await t.admin.listMedia({ orderBy: "delete_time", pageSize: 30 });
    const times = page.media.map((m) => (m.deleteTime ? timestampDate(m.deleteTime).getTime() : Infinity));
    assert.deepEqual(
      times,
      [...times].sort((a, b) => a - b),
    );
    assert.equal(page.media.at(-1)?.state, MediaState.LINKED);
  });

  test("filters by labels (every pair must match), combined with state and order", async () => {
    const blog = await listAll({ labels: { team: "blog" } });
    assert.deepEqual(blog, ids.filter((_, i) => i % 3 === 0).reverse());
    assert.deepEqual(await listAll({ labels: { team: "blog", kind: "photo" } }), blog);
    assert.deepEqual(await listAll({ labels: { team: "blog", kind: "video" } }), []);
    const linkedBlog = await listAll({ labels: { team: "blog" }, state: MediaState.LINKED, orderBy: "delete_time" });
    assert.deepEqual(
      linkedBlog,
      ids.filter((_, i) => i % 15 === 0),
    );
  });

  test("filters by state alone, newest or oldest first, across pages", async () => {
    const pending = ids.filter((_, i) => i % 5 !== 0);
    assert.deepEqual(await listAll({ state: MediaState.PENDING }, 3), [...pending].reverse());
    assert.deepEqual(await listAll({ state: MediaState.PENDING, orderBy: "create_time" }, 3), pending);
    assert.deepEqual(await listAll({ state: MediaState.FAILED }), []);
  });

  test("filters by owner and key prefix", async () => {
    assert.deepEqual(await listAll({ owner: "post/10" }), [ids[10]]);
    assert.deepEqual(await listAll({ owner: "post/10", state: MediaState.LINKED, orderBy: "delete_time" }), [ids[10]]);
    assert.deepEqual(
      await listAll({ owner: "post/10", state: MediaState.ORPHANED }),
      [],
      "only LINKED media have owners",
    );
    const pendingShop = ids.filter((_, i) => i % 5 !== 0 && i % 3 !== 0);
    assert.deepEqual(
      await listAll({ state: MediaState.PENDING, labels: { team: "shop" }, orderBy: "create_time" }, 4),
      pendingShop,
    );
    assert.deepEqual(await listAll({ keyPrefix: "views/2", orderBy: "create_time" }), [ids[2], ...ids.slice(20, 30)]);
  });

  test("refuses an unknown order, too many labels, and a token from another order", async () => {
    await expectCode(t.admin.listMedia({ orderBy: "size" }), Code.InvalidArgument, "order_by");
    const labels = Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`k${i}`, "v"]));
    await expectCode(t.admin.listMedia({ labels }), Code.InvalidArgument, "labels");
    const { nextPageToken } = await t.admin.listMedia({ pageSize: 2 });
    await expectCode(
      t.admin.listMedia({ pageSize: 2, pageToken: nextPageToken, orderBy: "delete_time" }),
      Code.InvalidArgument,
      "page_token",
    );
    await expectCode(t.admin.listMedia({ pageToken: "bm90IGEgdG9rZW4" }), Code.InvalidArgument, "page_token");
    const oldest = await t.admin.listMedia({ pageSize: 2, orderBy: "create_time" });
    await expectCode(t.admin.listMedia({ pageToken: oldest.nextPageToken }), Code.InvalidArgument, "page_token");
    // Tampered values that still look like numbers never reach SQL as something it cannot cast.
    const forged = (parts: string[]) => Buffer.from(`md:${JSON.stringify(parts)}`).toString("base64url");
    for (const parts of [
      ["99999999999999999999", "1"],
      ["1", "2024-02-30"],
      ["1", "99999999999999999"],
    ]) {
      await expectCode(
        t.admin.listMedia({ orderBy: "delete_time", pageToken: forged(parts) }),
        Code.InvalidArgument,
        "page_token",
      );
    }
  });

  test("the database refuses a LINKED or FAILED media with a delete time, which the deletion-time order relies on", async () => {
    const linked = ids[0]?.toString();
    await assert.rejects(
      t.sql.query("UPDATE media SET delete_time = now() WHERE id = $1", [linked]),
      /media_unscheduled_states/,
    );
  });

  test("accepts order_by in any case and spacing", async () => {
    const page = await t.admin.listMedia({ orderBy: "  CREATE_TIME   Desc ", pageSize: 1 });
    assert.equal(page.media[0]?.id, ids.at(-1));
  });

  test("pages through delete_time order the same way whatever the session's time zone and date style", async () => {
    const { rows } = await t.sql.query<{ id: string }>(
      "SELECT id FROM media ORDER BY coalesce(delete_time, 'infinity'), id",
    );
    const database = new URL(t.databaseUrl).pathname.slice(1);
    await t.sql.query(`ALTER DATABASE ${database} SET timezone = 'Asia/Kolkata'`);
    await t.sql.query(`ALTER DATABASE ${database} SET datestyle = 'SQL, DMY'`);
    try {
      const other = await startTestService({}, t.databaseUrl);
      try {
        const all: bigint[] = [];
        let pageToken = "";
        do {
          const page = await other.admin.listMedia({ orderBy: "delete_time", pageSize: 7, pageToken });
          all.push(...page.media.map((m) => m.id));
          pageToken = page.nextPageToken;
        } while (pageToken !== "");
        assert.deepEqual(
          all,
          rows.map((r) => BigInt(r.id)),
        );
        const { hours } = await other.admin.getDeletionHistory({ hours: 2 });
        for (const hour of hours) assert.equal(timestampDate(hour.startTime!).getUTCMinutes(), 0, "UTC hours");
      } finally {
        await other.stop();
      }
    } finally {
      await t.sql.query(`ALTER DATABASE ${database} RESET timezone`);
      await t.sql.query(`ALTER DATABASE ${database} RESET datestyle`);
    }
  });
});

describe("ListMediaReferences", () => {
  test("lists a media's owners by name, one page at a time", async () => {
    const id = ids[1] as bigint;
    for (const owner of ["c/3", "a/1", "b/2"]) await t.media.linkMedia({ mediaId: id, owner });
    const first = await t.admin.listMediaReferences({ mediaId: id, pageSize: 2 });
    assert.deepEqual(
      first.references.map((r) => r.owner),
      ["a/1", "b/2"],
    );
    assert.ok(first.references[0]?.createTime);
    const second = await t.admin.listMediaReferences({ mediaId: id, pageSize: 2, pageToken: first.nextPageToken });
    assert.deepEqual(
      second.references.map((r) => r.owner),
      ["c/3"],
    );
    assert.equal(second.nextPageToken, "");
    await expectCode(t.admin.listMediaReferences({ mediaId: 0n }), Code.InvalidArgument, "media_id");
    await expectCode(t.admin.listMediaReferences({ mediaId: 987654n }), Code.NotFound);
    assert.deepEqual((await t.admin.listMediaReferences({ mediaId: ids[3] as bigint })).references, []);
  });
});

describe("GetStats", () => {
  test("counts what is due within 24 hours and within 7 days", async () => {
    await t.sql.query("UPDATE media SET delete_time = now() + interval '2 days' WHERE id = $1", [ids[2]?.toString()]);
    const { rows } = await t.sql.query(
      `SELECT count(*) FILTER (WHERE delete_time <= now() + interval '24 hours')::int AS day,
              count(*) FILTER (WHERE delete_time <= now() + interval '7 days')::int AS week
       FROM media WHERE state IN ('PENDING', 'ORPHANED') AND hold_reason IS NULL`,
    );
    const stats = await t.admin.getStats({});
    assert.equal(stats.dueNext24hCount, BigInt(rows[0].day));
    assert.equal(stats.dueNext7dCount, BigInt(rows[0].week));
    assert.ok(stats.dueNext7dCount > stats.dueNext24hCount);
    assert.equal(stats.dueNext7dSizeBytes, stats.dueNext7dCount * 100n);
  });
});

describe("GetDeletionHistory", () => {
  test("answers every hour of the window, oldest first, with what the workers recorded", async () => {
    await t.sql.query(
      `INSERT INTO deletion_hourly (hour, deleted_count, deleted_bytes, failed_count)
       VALUES (date_trunc('hour', now()) - interval '2 hours', 5, 500, 1)`,
    );
    const { hours } = await t.admin.getDeletionHistory({ hours: 4 });
    assert.equal(hours.length, 4);
    const starts = hours.map((h) => timestampDate(h.startTime!).getTime());
    assert.deepEqual(
      starts.slice(1).map((s, i) => s - (starts[i] as number)),
      [3_600_000, 3_600_000, 3_600_000],
    );
    assert.ok(Date.now() - (starts[3] as number) < 3_600_000, "the last entry is the current hour");
    assert.deepEqual(
      hours.map((h) => [h.deletedCount, h.deletedSizeBytes, h.failedCount]),
      [
        [0n, 0n, 0n],
        [5n, 500n, 1n],
        [0n, 0n, 0n],
        [0n, 0n, 0n],
      ],
    );
    assert.equal((await t.admin.getDeletionHistory({})).hours.length, 168);
    await expectCode(t.admin.getDeletionHistory({ hours: 721 }), Code.InvalidArgument, "hours");
  });
});
