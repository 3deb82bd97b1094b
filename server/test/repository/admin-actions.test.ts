import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type pg from "pg";
import type { MediaRow } from "../../src/db/schema.ts";
import { type ActionOutcome, type AdminActions, createAdminActions } from "../../src/media/admin-actions.ts";
import { createMediaRepository, type MediaRepository } from "../../src/media/media-repository.ts";
import { createMigratedDatabase, type MigratedDatabase } from "../../testing/support.ts";
import { eventsOf, forceState, MICROS, mediaRow, register } from "./fixtures.ts";

// The admin actions on one media (hold, release, delete now, retry): what
// each changes, what each refuses, and the one event each writes.

let database: MigratedDatabase;
let pool: pg.Pool;
let repo: MediaRepository;
let actions: AdminActions;
let keySeq = 0;

before(async () => {
  database = await createMigratedDatabase();
  pool = database.handle.pool;
  repo = createMediaRepository(database.handle);
  actions = createAdminActions(pool);
});
after(() => database.close());

type Kind = "pending" | "linked" | "orphaned" | "deleting" | "failed";

/** A media in the given state, reached the way the service reaches it. */
async function mediaIn(kind: Kind): Promise<MediaRow> {
  const media = await register(repo, `admin/${++keySeq}.jpg`);
  if (kind === "linked" || kind === "orphaned") await repo.link(media.id, "post/1", "svc");
  if (kind === "orphaned") await repo.unlink(media.id, "post/1", "svc", 3600);
  if (kind === "deleting") await forceState(pool, media.id, "DELETING");
  if (kind === "failed") await forceState(pool, media.id, "FAILED", "EACCES: permission denied");
  return mediaRow(pool, media.id);
}

function ok(outcome: ActionOutcome): MediaRow {
  assert.equal(outcome.kind, "ok", outcome.kind === "refused" ? outcome.why : outcome.kind);
  assert.ok(outcome.kind === "ok");
  return outcome.media;
}

/** Asserts a refusal that changed neither the row nor the timeline; returns why. */
async function refused(call: Promise<ActionOutcome>, before: MediaRow): Promise<string> {
  const eventsBefore = (await eventsOf(pool, before.id)).length;
  const outcome = await call;
  assert.equal(outcome.kind, "refused");
  assert.ok(outcome.kind === "refused");
  assert.deepEqual(outcome.media, before);
  assert.deepEqual(await mediaRow(pool, before.id), before, "a refused action changes nothing");
  assert.equal((await eventsOf(pool, before.id)).length, eventsBefore, "and writes no event");
  return outcome.why;
}

async function lastEvent(id: string) {
  const e = (await eventsOf(pool, id)).at(-1);
  assert.ok(e);
  return { type: e.type, from: e.from_state, to: e.to_state, actor: e.actor, reason: e.reason };
}

describe("hold", () => {
  for (const kind of ["pending", "linked", "orphaned", "failed"] as const) {
    test(`holds a ${kind} media, keeping its state, with a HELD event`, async () => {
      const media = await mediaIn(kind);
      const held = ok(await actions.hold(media.id, "legal case 12", "admin-a"));
      assert.equal(held.hold_reason, "legal case 12");
      assert.equal(held.state, media.state);
      assert.equal(held.delete_time?.getTime(), media.delete_time?.getTime(), "the schedule is kept");
      assert.deepEqual(await lastEvent(media.id), {
        type: "HELD",
        from: media.state,
        to: media.state,
        actor: "admin-a",
        reason: "legal case 12",
      });
    });
  }

  test("refuses a DELETING media: a worker is deleting it", async () => {
    const media = await mediaIn("deleting");
    const why = await refused(actions.hold(media.id, "too late", "admin-a"), media);
    assert.equal(why, "media is DELETING: a worker is deleting it");
  });

  test("answers not_found for an unknown id, as every action does", async () => {
    assert.deepEqual(await actions.hold("987654321", "x", "admin-a"), { kind: "not_found" });
    assert.deepEqual(await actions.release("987654321", "admin-a"), { kind: "not_found" });
    assert.deepEqual(await actions.deleteNow("987654321", "admin-a"), { kind: "not_found" });
    assert.deepEqual(await actions.retry("987654321", "admin-a"), { kind: "not_found" });
    const { rows } = await pool.query("SELECT count(*)::int AS n FROM media_events WHERE media_id = 987654321");
    assert.equal(rows[0].n, 0);
  });
});

describe("release", () => {
  test("lifts a hold with an UNHELD event naming what it was", async () => {
    const media = await mediaIn("orphaned");
    ok(await actions.hold(media.id, "investigating", "admin-a"));
    const released = ok(await actions.release(media.id, "admin-b"));
    assert.equal(released.hold_reason, null);
    assert.equal(released.state, "ORPHANED");
    assert.deepEqual(await lastEvent(media.id), {
      type: "UNHELD",
      from: "ORPHANED",
      to: "ORPHANED",
      actor: "admin-b",
      reason: "hold lifted (was: investigating)",
    });
  });

  test("refuses a media that is not held", async () => {
    const media = await mediaIn("pending");
    assert.equal(await refused(actions.release(media.id, "admin-a"), media), "media is not held");
  });
});

describe("deleteNow", () => {
  for (const kind of ["pending", "orphaned"] as const) {
    test(`makes an unheld ${kind} media due now, with a DELETE_REQUESTED event`, async () => {
      const media = await mediaIn(kind);
      assert.ok((media.delete_time?.getTime() ?? 0) > Date.now() + 60_000, "due later, before the action");
      const done = ok(await actions.deleteNow(media.id, "admin-a"));
      assert.equal(done.state, media.state);
      // delete_time = now() of the action's transaction, which update_time is too.
      const { rows } = await pool.query(
        `SELECT ${MICROS("delete_time")} AS due, ${MICROS("update_time")} AS updated FROM media WHERE id = $1`,
        [media.id],
      );
      assert.equal(rows[0].due, rows[0].updated);
      assert.deepEqual(await lastEvent(media.id), {
        type: "DELETE_REQUESTED",
        from: media.state,
        to: media.state,
        actor: "admin-a",
        reason: "delete now requested by an admin",
      });
    });
  }

  for (const kind of ["linked", "deleting", "failed"] as const) {
    test(`refuses a ${kind} media`, async () => {
      const media = await mediaIn(kind);
      const why = await refused(actions.deleteNow(media.id, "admin-a"), media);
      assert.equal(why, `media is ${media.state}: only PENDING or ORPHANED media can be deleted`);
    });
  }

  test("refuses a held media until its hold is released", async () => {
    const media = await mediaIn("pending");
    const held = ok(await actions.hold(media.id, "keep it", "admin-a"));
    const why = await refused(actions.deleteNow(media.id, "admin-a"), held);
    assert.equal(why, "media is held (keep it): release it first");
    ok(await actions.release(media.id, "admin-a"));
    ok(await actions.deleteNow(media.id, "admin-a"));
  });
});

describe("retry", () => {
  test("sends a FAILED media back to ORPHANED, due now, with a fresh retry budget and a RETRY_REQUESTED event", async () => {
    const media = await mediaIn("failed");
    assert.equal(media.delete_attempts, 5);
    assert.ok(media.orphan_time === null, "a media that failed while PENDING was never orphaned");
    const retried = ok(await actions.retry(media.id, "admin-a"));
    assert.equal(retried.state, "ORPHANED");
    assert.equal(retried.delete_attempts, 0);
    assert.equal(retried.reference_count, 0);
    const { rows } = await pool.query(
      `SELECT ${MICROS("delete_time")} AS due, ${MICROS("orphan_time")} AS orphaned, ${MICROS("update_time")} AS updated
       FROM media WHERE id = $1`,
      [media.id],
    );
    assert.equal(rows[0].due, rows[0].updated, "due now");
    assert.equal(rows[0].orphaned, rows[0].updated, "orphaned now, having never been");
    assert.deepEqual(await lastEvent(media.id), {
      type: "RETRY_REQUESTED",
      from: "FAILED",
      to: "ORPHANED",
      actor: "admin-a",
      reason: "retry requested after: EACCES: permission denied",
    });
  });

  test("keeps the orphan time of a media that was orphaned before it failed", async () => {
    const media = await mediaIn("orphaned");
    assert.ok(media.orphan_time);
    await forceState(pool, media.id, "FAILED");
    const retried = ok(await actions.retry(media.id, "admin-a"));
    assert.equal(retried.orphan_time?.getTime(), media.orphan_time.getTime());
  });

  for (const kind of ["pending", "linked", "orphaned", "deleting"] as const) {
    test(`refuses a ${kind} media`, async () => {
      const media = await mediaIn(kind);
      const why = await refused(actions.retry(media.id, "admin-a"), media);
      assert.equal(why, `media is ${media.state}: only FAILED media can be retried`);
    });
  }
});
