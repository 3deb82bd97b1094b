import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type pg from "pg";
import {
  createMediaRepository,
  type MediaRepository,
  type NewMediaInput,
  UNLINK_OWNER_PER_CALL,
} from "../../src/media/media-repository.ts";
import { createMigratedDatabase, type MigratedDatabase } from "../../testing/support.ts";
import {
  eventsOf,
  forceState,
  MICROS,
  mediaInput,
  mediaRow,
  PENDING_TTL_SECONDS,
  referenceCount,
  register,
  sqlError,
} from "./fixtures.ts";

// createMediaRepository over a migrated database: register, find by ids,
// link and unlink as outcomes, and unlinking an owner.

let database: MigratedDatabase;
let pool: pg.Pool;
let repo: MediaRepository;
let keySeq = 0;
const newKey = () => `repo/${++keySeq}.jpg`;

before(async () => {
  database = await createMigratedDatabase();
  pool = database.handle.pool;
  repo = createMediaRepository(database.handle);
});
after(() => database.close());

describe("create", () => {
  test("registers a PENDING media due after the pending TTL, with a CREATED event", async () => {
    const key = newKey();
    const outcome = await repo.create(
      mediaInput(key, { contentType: "image/png", sizeBytes: 1234n, labels: { team: "blog", kind: "photo" } }),
      "svc-a",
      PENDING_TTL_SECONDS,
    );
    assert.equal(outcome.kind, "created");
    const media = outcome.media;
    assert.equal(media.store, "default");
    assert.equal(media.key, key);
    assert.equal(media.state, "PENDING");
    assert.equal(media.size_bytes, "1234");
    assert.deepEqual(media.labels, { team: "blog", kind: "photo" });
    assert.equal(media.reference_count, 0);
    const { rows } = await pool.query(
      `SELECT ${MICROS("delete_time")} AS due, ${MICROS("create_time")} AS created FROM media WHERE id = $1`,
      [media.id],
    );
    assert.equal(BigInt(rows[0].due) - BigInt(rows[0].created), BigInt(PENDING_TTL_SECONDS) * 1_000_000n);
    assert.deepEqual(
      (await eventsOf(pool, media.id)).map((e) => [e.type, e.from_state, e.to_state, e.actor, e.reason]),
      [["CREATED", null, "PENDING", "svc-a", "registered"]],
    );
  });

  test("an identical registration answers 'exists' with the same row and writes nothing", async () => {
    const key = newKey();
    const first = await register(repo, key, { labels: { a: "1", b: "2" } });
    // The same labels in another order are the same labels.
    const again = await repo.create(mediaInput(key, { labels: { b: "2", a: "1" } }), "svc-b", 60);
    assert.equal(again.kind, "exists");
    assert.deepEqual(again.media, first);
    assert.equal((await eventsOf(pool, first.id)).length, 1);
    const { rows } = await pool.query("SELECT count(*)::int AS n FROM media WHERE key = $1", [key]);
    assert.equal(rows[0].n, 1);
  });

  test("the same key in another store is another media", async () => {
    const key = newKey();
    const a = await register(repo, key);
    const b = await register(repo, key, { store: "archive" });
    assert.notEqual(a.id, b.id);
  });

  test("different metadata for an existing key answers 'conflict' naming the first field that differs", async () => {
    const key = newKey();
    const original = await register(repo, key, { contentType: "image/jpeg", sizeBytes: 10n, labels: { a: "1" } });
    const cases: [Partial<NewMediaInput>, string][] = [
      [{ contentType: "image/png", labels: { a: "1" } }, "content_type"],
      [{ sizeBytes: 11n, labels: { a: "1" } }, "size_bytes"],
      [{ labels: { a: "2" } }, "labels"],
      [{ labels: { a: "1", b: "2" } }, "labels"],
      [{ labels: {} }, "labels"],
      [{ contentType: "image/png", sizeBytes: 11n, labels: {} }, "content_type"],
    ];
    for (const [extra, field] of cases) {
      const outcome = await repo.create(mediaInput(key, extra), "svc", 60);
      assert.equal(
        outcome.kind,
        "conflict",
        JSON.stringify(extra, (_, v) => (typeof v === "bigint" ? `${v}` : v)),
      );
      assert.ok(outcome.kind === "conflict");
      assert.equal(outcome.field, field);
      assert.equal(outcome.media.id, original.id);
    }
    assert.deepEqual(await mediaRow(pool, original.id), original, "a conflict changes nothing");
  });

  test("sizes are compared exactly, up to the 1 PiB bound the database enforces", async () => {
    const key = newKey();
    const max = 2n ** 50n;
    await register(repo, key, { sizeBytes: max });
    assert.equal((await repo.create(mediaInput(key, { sizeBytes: max }), "svc", 60)).kind, "exists");
    const off = await repo.create(mediaInput(key, { sizeBytes: max - 1n }), "svc", 60);
    assert.ok(off.kind === "conflict" && off.field === "size_bytes");
    await sqlError(
      repo.create(mediaInput(newKey(), { sizeBytes: max + 1n }), "svc", 60),
      "23514",
      "media_size_bytes_max",
    );
  });

  for (const state of ["DELETING", "FAILED"] as const) {
    test(`registering a key whose media is ${state} answers 'deleting'`, async () => {
      const key = newKey();
      const media = await register(repo, key);
      await forceState(pool, media.id, state);
      const outcome = await repo.create(mediaInput(key), "svc", 60);
      assert.equal(outcome.kind, "deleting");
      assert.equal(outcome.media.id, media.id);
      assert.equal(outcome.media.state, state);
    });
  }

  test("registering the key of an ORPHANED media again answers 'exists' and leaves it ORPHANED", async () => {
    const key = newKey();
    const media = await register(repo, key);
    await repo.link(media.id, "o", "svc");
    await repo.unlink(media.id, "o", "svc", 60);
    const outcome = await repo.create(mediaInput(key), "svc", PENDING_TTL_SECONDS);
    assert.equal(outcome.kind, "exists");
    assert.equal(outcome.media.state, "ORPHANED");
  });
});

describe("findByIds", () => {
  test("returns the rows that exist, once each, and nothing for missing ids", async () => {
    const a = await register(repo, newKey());
    const b = await register(repo, newKey());
    const found = await repo.findByIds([b.id, "987654321", a.id, a.id]);
    assert.deepEqual(found.map((r) => r.id).sort(), [a.id, b.id].sort());
    assert.deepEqual(
      found.find((r) => r.id === a.id),
      await mediaRow(pool, a.id),
    );
    assert.deepEqual(await repo.findByIds([]), []);
    assert.deepEqual(await repo.findByIds(["987654321"]), []);
  });
});

describe("link and unlink", () => {
  test("map the functions' outcomes", async () => {
    const media = await register(repo, newKey());
    const linked = await repo.link(media.id, "o", "svc");
    assert.ok(linked.kind === "ok");
    assert.equal(linked.changed, true);
    assert.equal(linked.media.state, "LINKED");
    assert.equal(linked.media.id, media.id);
    const again = await repo.link(media.id, "o", "svc");
    assert.ok(again.kind === "ok" && again.changed === false);

    const unlinked = await repo.unlink(media.id, "o", "svc", 90);
    assert.ok(unlinked.kind === "ok" && unlinked.changed);
    assert.equal(unlinked.media.state, "ORPHANED");
    assert.equal((unlinked.media.delete_time?.getTime() ?? 0) - (unlinked.media.orphan_time?.getTime() ?? 0), 90_000);
    assert.equal((await eventsOf(pool, media.id)).at(-1)?.reason, "unlinked; last reference removed");

    assert.deepEqual(await repo.link("987654321", "o", "svc"), { kind: "not_found" });
    assert.deepEqual(await repo.unlink("987654321", "o", "svc", 90), { kind: "not_found" });

    await forceState(pool, media.id, "DELETING");
    const refused = await repo.link(media.id, "o", "svc");
    assert.equal(refused.kind, "deleting");
    assert.ok(refused.kind === "deleting" && refused.media.state === "DELETING");
  });
});

const NOTHING = { unlinkedMediaIds: [], orphanedMediaIds: [], unlinkedCount: 0, orphanedCount: 0, remainingCount: 0 };

describe("unlinkOwner", () => {
  test("drops every reference of the owner, reports which media it unlinked and which it orphaned, and is idempotent", async () => {
    const only = [await register(repo, newKey()), await register(repo, newKey())];
    const shared = await register(repo, newKey());
    const other = await register(repo, newKey());
    for (const m of [...only, shared]) await repo.link(m.id, "post/7", "svc");
    await repo.link(shared.id, "post/8", "svc");
    await repo.link(other.id, "post/8", "svc");

    const result = await repo.unlinkOwner("post/7", "svc", 3600);
    const byNumber = (a: string, b: string) => Number(a) - Number(b);
    assert.deepEqual(result.unlinkedMediaIds, [...only, shared].map((m) => m.id).sort(byNumber));
    assert.deepEqual(result.orphanedMediaIds, only.map((m) => m.id).sort(byNumber));

    for (const m of only) {
      const row = await mediaRow(pool, m.id);
      assert.equal(row.state, "ORPHANED");
      assert.equal((row.delete_time?.getTime() ?? 0) - (row.orphan_time?.getTime() ?? 0), 3_600_000);
      const last = (await eventsOf(pool, m.id)).at(-1);
      assert.deepEqual(
        [last?.type, last?.owner, last?.reason],
        ["UNLINKED", "post/7", "owner unlinked; last reference removed"],
      );
    }
    const sharedRow = await mediaRow(pool, shared.id);
    assert.equal(sharedRow.state, "LINKED");
    assert.equal(sharedRow.reference_count, 1);
    assert.equal(await referenceCount(pool, other.id), 1, "another owner's references are untouched");

    const eventCount = async () =>
      (await pool.query("SELECT count(*)::int AS n FROM media_events")).rows[0].n as number;
    const before = await eventCount();
    assert.deepEqual(await repo.unlinkOwner("post/7", "svc", 3600), NOTHING);
    assert.equal(await eventCount(), before, "a repeat writes nothing");
  });

  test("an owner that holds nothing unlinks nothing", async () => {
    assert.deepEqual(await repo.unlinkOwner("nobody", "svc", 3600), NOTHING);
  });

  test("a large owner is unlinked in bounded transactions and calls: counts, 1,000-id samples, what remains", async () => {
    // 10,500 references, set up in SQL: more than one call's 10,000.
    await pool.query(
      `WITH m AS (
         INSERT INTO media (store, key, state, reference_count, delete_time)
         SELECT 'default', 'big-owner/' || g, 'LINKED', 1, NULL FROM generate_series(1, 10500) g RETURNING id
       ) INSERT INTO media_references (media_id, owner) SELECT id, 'album/big' FROM m`,
    );
    const first = await repo.unlinkOwner("album/big", "svc", 3600);
    assert.deepEqual(
      [first.unlinkedCount, first.orphanedCount, first.remainingCount],
      [UNLINK_OWNER_PER_CALL, UNLINK_OWNER_PER_CALL, 500],
    );
    assert.equal(first.unlinkedMediaIds.length, 1000);
    assert.equal(first.orphanedMediaIds.length, 1000);
    const second = await repo.unlinkOwner("album/big", "svc", 3600);
    assert.deepEqual([second.unlinkedCount, second.remainingCount], [500, 0]);
    const { rows } = await pool.query(
      `SELECT count(*) FILTER (WHERE state = 'ORPHANED')::int AS orphaned, count(*)::int AS all
       FROM media WHERE key LIKE 'big-owner/%'`,
    );
    assert.deepEqual(rows[0], { orphaned: 10500, all: 10500 });
  });
});
