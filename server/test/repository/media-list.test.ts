import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Kysely } from "kysely";
import type pg from "pg";
import { decodePageToken, pageOf } from "../../src/api/page-token.ts";
import type { Database, MediaStateName } from "../../src/db/schema.ts";
import {
  cursorFromToken,
  type ListedMedia,
  listMedia,
  MEDIA_ORDERS,
  MEDIA_PAGE_TOKENS,
  type MediaFilter,
  type MediaOrder,
} from "../../src/media/media-list.ts";
import { createMediaRepository, type MediaRepository } from "../../src/media/media-repository.ts";
import { createMigratedDatabase, type MigratedDatabase } from "../../testing/support.ts";
import { forceState, MICROS, register } from "./fixtures.ts";

// listMedia, paged exactly as ListMedia pages it (limit + 1 rows, pageOf, the
// page token's kind and patterns, cursorFromToken), through every order and
// filter, against an expectation computed here from the whole table.

let database: MigratedDatabase;
let db: Kysely<Database>;
let pool: pg.Pool;
let repo: MediaRepository;

/** Every row as the expectation needs it; rank: position in (delete_time NULLS LAST, id). */
interface Expected {
  readonly id: string;
  readonly state: MediaStateName;
  readonly store: string;
  readonly key: string;
  readonly labels: Record<string, string>;
  readonly owners: string[];
  readonly deleteKey: string;
  readonly rank: number;
}
let table: Expected[] = [];

// Keys whose prefixes differ only where a LIKE wildcard would match anything.
const KEY_FAMILIES = ["photos/", "lit/50%off/", "lit/50xoff/", "lit/a_b/", "lit/axb/", "lit/back\\x/", "lit/backx/"];
const SCHEDULED_BASE = "2031-01-01T00:00:00Z";

before(async () => {
  database = await createMigratedDatabase();
  db = database.handle.db;
  pool = database.handle.pool;
  repo = createMediaRepository(database.handle);

  for (let i = 0; i < 42; i++) {
    const labels: Record<string, string> =
      i % 3 === 0 ? { team: "blog", kind: "photo" } : i % 3 === 1 ? { team: "shop" } : {};
    const media = await register(repo, `${KEY_FAMILIES[i % KEY_FAMILIES.length]}${i}.png`, {
      store: i % 4 === 3 ? "archive" : "default",
      labels,
    });
    switch (i % 8) {
      case 1:
        await repo.link(media.id, "post/a", "test");
        break;
      case 2:
        await repo.link(media.id, "post/a", "test");
        await repo.unlink(media.id, "post/a", "test", 3600);
        break;
      case 3:
        await forceState(pool, media.id, "DELETING");
        break;
      case 4:
        await forceState(pool, media.id, "FAILED");
        break;
      case 5:
        await pool.query("UPDATE media SET hold_reason = 'legal' WHERE id = $1", [media.id]);
        break;
      case 6:
        await repo.link(media.id, "post/b", "test");
        if (i % 3 === 0) await repo.link(media.id, "post/a", "test");
        break;
      default:
        break;
    }
  }
  // Spread the scheduled rows over a few instants a microsecond apart (so
  // milliseconds cannot tell them apart) and a few a millisecond apart, with
  // ties on each, in an order unlike id order.
  await pool.query(
    `UPDATE media SET delete_time = $1::timestamptz + ((id * 7) % 5) * interval '1 microsecond'
       + ((id * 3) % 4) * interval '1 millisecond'
     WHERE delete_time IS NOT NULL`,
    [SCHEDULED_BASE],
  );

  const { rows } = await pool.query(
    `SELECT m.id, m.state, m.store, m.key, m.labels,
       CASE WHEN m.delete_time IS NULL THEN 'infinity' ELSE ${MICROS("m.delete_time")} END AS delete_key,
       row_number() OVER (ORDER BY m.delete_time ASC NULLS LAST, m.id)::int AS rank,
       coalesce((SELECT array_agg(r.owner ORDER BY r.owner) FROM media_references r WHERE r.media_id = m.id), '{}') AS owners
     FROM media m ORDER BY m.id`,
  );
  table = rows.map((r) => ({
    id: r.id,
    state: r.state,
    store: r.store,
    key: r.key,
    labels: r.labels,
    owners: r.owners,
    deleteKey: r.delete_key,
    rank: r.rank,
  }));
});
after(() => database.close());

function matches(row: Expected, filter: MediaFilter): boolean {
  return (
    (filter.state === undefined || row.state === filter.state) &&
    (filter.store === undefined || row.store === filter.store) &&
    (filter.owner === undefined || row.owners.includes(filter.owner)) &&
    (filter.keyPrefix === undefined || row.key.startsWith(filter.keyPrefix)) &&
    Object.entries(filter.labels ?? {}).every(([k, v]) => row.labels[k] === v)
  );
}

function expected(filter: MediaFilter, order: MediaOrder): string[] {
  const rows = table.filter((row) => matches(row, filter));
  const byId = (a: Expected, b: Expected) => (BigInt(a.id) < BigInt(b.id) ? -1 : 1);
  switch (order) {
    case "create_time desc":
      return rows.sort((a, b) => byId(b, a)).map((r) => r.id);
    case "create_time":
      return rows.sort(byId).map((r) => r.id);
    case "delete_time":
      return rows.sort((a, b) => a.rank - b.rank).map((r) => r.id);
    case "purge_time":
      // Tombstones only, and this table has none (trash.test.ts lists them).
      return [];
  }
}

/** Every page, as ListMedia serves them: limit + 1 rows, a page token from the last row of the page. */
async function pageThrough(filter: MediaFilter, order: MediaOrder, limit: number): Promise<ListedMedia[]> {
  const { kind, patterns, cursorOf } = MEDIA_PAGE_TOKENS[order];
  const all: ListedMedia[] = [];
  let token = "";
  for (let pages = 0; pages < 200; pages++) {
    const parts = decodePageToken("page_token", kind, token, patterns);
    const rows = await listMedia(db, filter, order, parts && cursorFromToken(parts), limit + 1);
    assert.ok(rows.length <= limit + 1, `a page of ${limit} fetched ${rows.length} rows`);
    const { page, nextPageToken } = pageOf(rows, limit, kind, cursorOf);
    all.push(...page);
    if (nextPageToken === "") return all;
    token = nextPageToken;
  }
  assert.fail("too many pages");
}

const FILTERS: Record<string, MediaFilter> = {
  none: {},
  "state PENDING": { state: "PENDING" },
  "state LINKED": { state: "LINKED" },
  "state ORPHANED": { state: "ORPHANED" },
  "state DELETING": { state: "DELETING" },
  "state FAILED": { state: "FAILED" },
  "store archive": { store: "archive" },
  "store default, state PENDING": { store: "default", state: "PENDING" },
  "owner post/a": { owner: "post/a" },
  "owner post/b, state LINKED": { owner: "post/b", state: "LINKED" },
  "owner post/a, state PENDING": { owner: "post/a", state: "PENDING" },
  "key prefix with %": { keyPrefix: "lit/50%" },
  "key prefix with _": { keyPrefix: "lit/a_" },
  "key prefix with \\": { keyPrefix: "lit/back\\" },
  "key prefix lit/": { keyPrefix: "lit/" },
  "labels team=blog": { labels: { team: "blog" } },
  "labels team=blog, kind=photo": { labels: { team: "blog", kind: "photo" } },
  "labels team=shop, state ORPHANED, store default": { labels: { team: "shop" }, state: "ORPHANED", store: "default" },
  "labels team=blog, owner post/a": { labels: { team: "blog" }, owner: "post/a" },
};

describe("the seeded table", () => {
  test("covers what the orders and filters must get right", () => {
    const scheduled = table.filter((r) => r.deleteKey !== "infinity");
    const keys = scheduled.map((r) => r.deleteKey);
    assert.ok(new Set(keys).size < keys.length, "some rows tie on delete_time");
    const millis = new Set(keys.map((k) => k.slice(0, -3)));
    assert.ok(millis.size < new Set(keys).size, "some delete times differ by microseconds only");
    const unscheduled = table.filter((r) => r.deleteKey === "infinity");
    assert.ok(unscheduled.length >= 8, "media without a delete time");
    const firstUnscheduled = BigInt(unscheduled[0]?.id ?? 0);
    assert.ok(
      scheduled.some((r) => BigInt(r.id) > firstUnscheduled),
      "ids of unscheduled media interleave with scheduled ones",
    );
    for (const [name, filter] of Object.entries(FILTERS)) {
      if (name !== "owner post/a, state PENDING") assert.ok(expected(filter, "create_time").length > 0, name);
    }
    assert.notDeepEqual(expected({}, "delete_time"), expected({}, "create_time"));
  });
});

for (const order of MEDIA_ORDERS) {
  describe(`order ${order}`, () => {
    for (const [name, filter] of Object.entries(FILTERS)) {
      test(`filter ${name}: every page size reaches each matching row once, in order`, async () => {
        const want = expected(filter, order);
        for (const limit of [1, 2, 3, 7, 100]) {
          const got = await pageThrough(filter, order, limit);
          assert.deepEqual(
            got.map((r) => r.id),
            want,
            `page size ${limit}`,
          );
        }
      });
    }
  });
}

describe("delete keys", () => {
  test("each listed row carries its exact delete time in microseconds, or infinity", async () => {
    const rows = await listMedia(db, {}, "delete_time", undefined, 1000);
    const byId = new Map(table.map((r) => [r.id, r.deleteKey]));
    assert.equal(rows.length, table.length);
    for (const row of rows) assert.equal(row.delete_key, byId.get(row.id), `media ${row.id}`);
  });

  test("a cursor between two rows a microsecond apart continues with the later one", async () => {
    const scheduled = table.filter((r) => r.deleteKey !== "infinity").sort((a, b) => a.rank - b.rank);
    const pairIndex = scheduled.findIndex(
      (r, i) => i + 1 < scheduled.length && BigInt(scheduled[i + 1]?.deleteKey ?? 0) - BigInt(r.deleteKey) === 1n,
    );
    assert.ok(pairIndex >= 0, "two scheduled rows a microsecond apart");
    const row = scheduled[pairIndex] as Expected;
    const rows = await listMedia(db, {}, "delete_time", { id: row.id, deleteKey: row.deleteKey }, 1);
    assert.equal(rows[0]?.id, scheduled[pairIndex + 1]?.id);
  });
});
