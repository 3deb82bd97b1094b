import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type pg from "pg";
import type { MediaRow } from "../../src/db/schema.ts";
import { createMediaRepository, type MediaRepository } from "../../src/media/media-repository.ts";
import { createMigratedDatabase, type MigratedDatabase } from "../../testing/support.ts";
import { eventsOf, forceState, MICROS, mediaRow, referenceCount, register, sqlError } from "./fixtures.ts";

// The PL/pgSQL functions behind LinkMedia and UnlinkMedia (media_link,
// media_unlink, in the initial migration) and the constraints and triggers the
// schema guards the lifecycle with, called directly on a migrated database.

let database: MigratedDatabase;
let pool: pg.Pool;
let repo: MediaRepository;
let keySeq = 0;
const newMedia = () => register(repo, `refs/${++keySeq}.jpg`);

before(async () => {
  database = await createMigratedDatabase(8);
  pool = database.handle.pool;
  repo = createMediaRepository(database.handle);
});
after(() => database.close());

type FunctionResult = { outcome: string; changed: boolean; m: MediaRow | null };

async function call(text: string, values: unknown[]): Promise<FunctionResult> {
  const { rows } = await pool.query(text, values);
  assert.equal(rows.length, 1, "a reference function answers exactly one row");
  const { outcome, changed, ...m } = rows[0];
  return { outcome, changed, m: m.id === null ? null : (m as MediaRow) };
}

const link = (id: string, owner: string, actor = "svc") =>
  call("SELECT r.outcome, r.changed, (r.m).* FROM media_link($1::bigint, $2, $3) r", [id, owner, actor]);

const unlink = (id: string, owner: string, graceSeconds = 3600, reason = "unlinked", actor = "svc") =>
  call("SELECT r.outcome, r.changed, (r.m).* FROM media_unlink($1::bigint, $2, $3, $4, $5) r", [
    id,
    owner,
    actor,
    graceSeconds,
    reason,
  ]);

describe("media_link", () => {
  test("links a PENDING media, and linking the same pair again changes nothing and writes no event", async () => {
    const media = await newMedia();
    assert.ok(media.delete_time, "a PENDING media is scheduled");

    const first = await link(media.id, "blog/posts/1#cover");
    assert.equal(first.outcome, "ok");
    assert.equal(first.changed, true);
    assert.equal(first.m?.state, "LINKED");
    assert.equal(first.m?.reference_count, 1);
    assert.equal(first.m?.delete_time, null, "a linked media has no deletion scheduled");
    assert.equal(first.m?.orphan_time, null);

    const again = await link(media.id, "blog/posts/1#cover");
    assert.equal(again.outcome, "ok");
    assert.equal(again.changed, false);
    assert.equal(again.m?.reference_count, 1);
    assert.equal(await referenceCount(pool, media.id), 1);

    const events = await eventsOf(pool, media.id);
    assert.deepEqual(
      events.map((e) => [e.type, e.from_state, e.to_state, e.owner, e.actor]),
      [
        ["CREATED", null, "PENDING", null, "test"],
        ["LINKED", "PENDING", "LINKED", "blog/posts/1#cover", "svc"],
      ],
    );
  });

  test("re-linking an ORPHANED media cancels its deletion", async () => {
    const media = await newMedia();
    await link(media.id, "a");
    const orphaned = await unlink(media.id, "a");
    assert.equal(orphaned.m?.state, "ORPHANED");
    assert.ok(orphaned.m?.delete_time);

    const relinked = await link(media.id, "b");
    assert.equal(relinked.changed, true);
    assert.equal(relinked.m?.state, "LINKED");
    assert.equal(relinked.m?.orphan_time, null);
    assert.equal(relinked.m?.delete_time, null);
    const last = (await eventsOf(pool, media.id)).at(-1);
    assert.deepEqual([last?.type, last?.from_state, last?.to_state], ["LINKED", "ORPHANED", "LINKED"]);
  });

  for (const state of ["DELETING", "FAILED"] as const) {
    test(`refuses a ${state} media with outcome 'deleting', adding no reference and no event`, async () => {
      const media = await newMedia();
      await forceState(pool, media.id, state);
      const before = await mediaRow(pool, media.id);
      const eventsBefore = (await eventsOf(pool, media.id)).length;

      const result = await link(media.id, "late/owner");
      assert.equal(result.outcome, "deleting");
      assert.equal(result.changed, false);
      assert.equal(result.m?.state, state);
      assert.equal(await referenceCount(pool, media.id), 0);
      assert.deepEqual(await mediaRow(pool, media.id), before, "the row is left as it was");
      assert.equal((await eventsOf(pool, media.id)).length, eventsBefore);
    });
  }

  test("answers 'not_found' for an unknown id, and so does media_unlink", async () => {
    const linked = await link("999999999", "x");
    assert.deepEqual(linked, { outcome: "not_found", changed: false, m: null });
    const unlinked = await unlink("999999999", "x");
    assert.deepEqual(unlinked, { outcome: "not_found", changed: false, m: null });
    const { rows } = await pool.query("SELECT count(*)::int AS n FROM media_events WHERE media_id = 999999999");
    assert.equal(rows[0].n, 0);
  });
});

describe("media_unlink", () => {
  test("removing a reference that is not there changes nothing and writes no event", async () => {
    const media = await newMedia();
    await link(media.id, "a");
    const result = await unlink(media.id, "b");
    assert.equal(result.outcome, "ok");
    assert.equal(result.changed, false);
    assert.equal(result.m?.state, "LINKED");
    assert.equal(result.m?.reference_count, 1);
    assert.equal((await eventsOf(pool, media.id)).length, 2, "CREATED and LINKED only");
  });

  test("a reference that is not the last keeps the media LINKED; the last orphans it with delete_time = now() + grace", async () => {
    const media = await newMedia();
    await link(media.id, "a");
    await link(media.id, "b");

    const one = await unlink(media.id, "a", 3600, "post deleted");
    assert.equal(one.changed, true);
    assert.equal(one.m?.state, "LINKED");
    assert.equal(one.m?.reference_count, 1);
    assert.equal(one.m?.delete_time, null);

    // In one transaction, so now() is the function's now().
    const client = await pool.connect();
    try {
      await client.query("BEGIN");
      const now = (await client.query(`SELECT ${MICROS("now()")} AS now`)).rows[0].now as string;
      const { rows } = await client.query(
        `SELECT (r.m).state, (r.m).reference_count, ${MICROS("(r.m).orphan_time")} AS orphan,
                ${MICROS("(r.m).delete_time")} AS due
         FROM media_unlink($1::bigint, 'b', 'svc', 3600.25, 'post deleted') r`,
        [media.id],
      );
      await client.query("COMMIT");
      assert.equal(rows[0].state, "ORPHANED");
      assert.equal(rows[0].reference_count, 0);
      assert.equal(rows[0].orphan, now, "orphan_time is the transaction's now()");
      assert.equal(BigInt(rows[0].due) - BigInt(now), 3_600_250_000n, "delete_time is now() + the grace, to the µs");
    } finally {
      client.release();
    }

    const events = (await eventsOf(pool, media.id)).slice(-2);
    assert.deepEqual(
      events.map((e) => [e.type, e.from_state, e.to_state, e.owner, e.reason]),
      [
        ["UNLINKED", "LINKED", "LINKED", "a", "post deleted"],
        ["UNLINKED", "LINKED", "ORPHANED", "b", "post deleted; last reference removed"],
      ],
    );
  });
});

describe("reference counting", () => {
  test("after any sequence of links and unlinks, reference_count is the number of reference rows and LINKED iff > 0", async () => {
    const media = await newMedia();
    const owners = ["o1", "o2", "o3", "o4"];
    const held = new Set<string>();
    let changes = 0;
    // A fixed pseudo-random walk, repeats and misses included.
    let seed = 7;
    for (let step = 0; step < 60; step++) {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      const owner = owners[seed % owners.length] as string;
      const linking = (seed >> 8) % 2 === 0;
      const result = linking ? await link(media.id, owner) : await unlink(media.id, owner);
      const expectChange = linking ? !held.has(owner) : held.has(owner);
      if (linking) held.add(owner);
      else held.delete(owner);
      assert.equal(result.changed, expectChange, `step ${step}: ${linking ? "link" : "unlink"} ${owner}`);
      if (expectChange) changes++;

      const row = await mediaRow(pool, media.id);
      assert.equal(row.reference_count, held.size, `step ${step}: reference_count`);
      assert.equal(await referenceCount(pool, media.id), held.size, `step ${step}: reference rows`);
      assert.equal(row.state === "LINKED", held.size > 0, `step ${step}: state ${row.state}`);
    }
    const events = await eventsOf(pool, media.id);
    assert.equal(events.length, 1 + changes, "one event per change, and none for a repeat");
  });

  test("concurrent links and unlinks on one media serialise: the count matches the rows", async () => {
    const media = await newMedia();
    const owners = Array.from({ length: 24 }, (_, i) => `concurrent/${i}`);
    const linked = await Promise.all(owners.map((owner) => link(media.id, owner)));
    assert.ok(linked.every((r) => r.changed));
    assert.equal((await mediaRow(pool, media.id)).reference_count, 24);

    // Every owner unlinked twice at once: exactly one of each pair changes anything.
    const unlinked = await Promise.all(owners.flatMap((owner) => [unlink(media.id, owner), unlink(media.id, owner)]));
    assert.equal(unlinked.filter((r) => r.changed).length, 24);
    const row = await mediaRow(pool, media.id);
    assert.equal(row.reference_count, 0);
    assert.equal(row.state, "ORPHANED");
    assert.equal(await referenceCount(pool, media.id), 0);
    const orphaning = (await eventsOf(pool, media.id)).filter((e) => e.to_state === "ORPHANED");
    assert.equal(orphaning.length, 1, "exactly one unlink was the last");
  });
});

describe("the schema's own guards", () => {
  test("media_linked_iff_referenced refuses a direct UPDATE that breaks it", async () => {
    const pending = await newMedia();
    await sqlError(
      pool.query("UPDATE media SET state = 'LINKED', delete_time = NULL WHERE id = $1", [pending.id]),
      "23514",
      "media_linked_iff_referenced",
    );
    await sqlError(
      pool.query("UPDATE media SET reference_count = 1 WHERE id = $1", [pending.id]),
      "23514",
      "media_linked_iff_referenced",
    );
    const linked = await newMedia();
    await link(linked.id, "a");
    await sqlError(
      pool.query("UPDATE media SET reference_count = 0 WHERE id = $1", [linked.id]),
      "23514",
      "media_linked_iff_referenced",
    );
    await sqlError(
      pool.query("UPDATE media SET state = 'ORPHANED' WHERE id = $1", [linked.id]),
      "23514",
      "media_linked_iff_referenced",
    );
  });

  test("media_unscheduled_states refuses a delete time on a LINKED or FAILED media", async () => {
    const linked = await newMedia();
    await link(linked.id, "a");
    await sqlError(
      pool.query("UPDATE media SET delete_time = now() WHERE id = $1", [linked.id]),
      "23514",
      "media_unscheduled_states",
    );
    const pending = await newMedia();
    await sqlError(
      pool.query("UPDATE media SET state = 'FAILED' WHERE id = $1", [pending.id]),
      "23514",
      "media_unscheduled_states",
    );
  });

  test("media_events is append-only: UPDATE and DELETE are refused by its trigger", async () => {
    const media = await newMedia();
    const error = await sqlError(
      pool.query("UPDATE media_events SET reason = 'rewritten' WHERE media_id = $1", [media.id]),
      "P0001",
    );
    assert.match(error.message, /append-only/);
    await sqlError(pool.query("DELETE FROM media_events WHERE media_id = $1", [media.id]), "P0001");
    const events = await eventsOf(pool, media.id);
    assert.deepEqual(
      events.map((e) => [e.type, e.reason]),
      [["CREATED", "registered"]],
    );
  });

  test("media_events refuses TRUNCATE too (migration 0006)", async () => {
    const media = await newMedia();
    const client = await pool.connect();
    try {
      await client.query("BEGIN");
      // Inside a transaction that is always rolled back: if TRUNCATE goes through, nothing is lost.
      await sqlError(client.query("TRUNCATE media_events"), "P0001");
    } finally {
      await client.query("ROLLBACK");
      client.release();
    }
    assert.equal((await eventsOf(pool, media.id)).length, 1);
  });

  test("a referenced media row cannot be deleted (ON DELETE RESTRICT); an unreferenced one can, and its events stay", async () => {
    const media = await newMedia();
    await link(media.id, "a");
    await sqlError(
      pool.query("DELETE FROM media WHERE id = $1", [media.id]),
      "23001",
      "media_references_media_id_fkey",
    );
    assert.equal((await mediaRow(pool, media.id)).state, "LINKED");

    await unlink(media.id, "a");
    const { rowCount } = await pool.query("DELETE FROM media WHERE id = $1", [media.id]);
    assert.equal(rowCount, 1);
    assert.deepEqual(
      (await eventsOf(pool, media.id)).map((e) => e.type),
      ["CREATED", "LINKED", "UNLINKED"],
      "the timeline outlives its media row",
    );
  });
});
