import assert from "node:assert/strict";
import { after, before, beforeEach, describe, test } from "node:test";
import { setTimeout } from "node:timers/promises";
import type pg from "pg";
import type { MediaRow } from "../../src/db/schema.ts";
import {
  type ClaimCursor,
  claimDueBatch,
  claimMedia,
  reclaimExpiredClaim,
  releaseBatch,
  renewLease,
} from "../../src/deletion/claims.ts";
import { BATCH_JOB_ATTEMPTS, TASKS } from "../../src/deletion/jobs.ts";
import { createMediaRepository, type MediaRepository } from "../../src/media/media-repository.ts";
import { createMigratedDatabase, type MigratedDatabase } from "../../testing/support.ts";
import { eventsOf, forceState, MICROS, mediaRow, register } from "./fixtures.ts";

// The deletion sweep's claim of due rows, the claim of given media
// (claimMedia, the same statement), and the claim's lease: taken back once
// expired, renewed, handed back. Delete times and leases are back-dated in
// SQL rather than waited for.
//
// graphile-worker installs its schema when a worker starts, and no worker runs
// here: graphile_worker.add_job is stood in for by a function of the same
// signature that records each job (the worker's tests run the real one).

let database: MigratedDatabase;
let pool: pg.Pool;
let repo: MediaRepository;
let keySeq = 0;

before(async () => {
  database = await createMigratedDatabase();
  pool = database.handle.pool;
  repo = createMediaRepository(database.handle);
  await pool.query(`
    CREATE SCHEMA graphile_worker;
    CREATE TABLE graphile_worker.recorded_jobs (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      task_identifier text NOT NULL, payload json, max_attempts integer, job_key text
    );
    CREATE FUNCTION graphile_worker.add_job(identifier text, payload json DEFAULT NULL, queue_name text DEFAULT NULL,
        run_at timestamptz DEFAULT NULL, max_attempts integer DEFAULT NULL, job_key text DEFAULT NULL,
        priority integer DEFAULT NULL, flags text[] DEFAULT NULL, job_key_mode text DEFAULT 'replace')
      RETURNS graphile_worker.recorded_jobs LANGUAGE sql AS $$
        INSERT INTO graphile_worker.recorded_jobs (task_identifier, payload, max_attempts, job_key)
        VALUES (identifier, payload, max_attempts, job_key) RETURNING *
      $$;`);
});
after(() => database.close());

// Every test starts with nothing due: what an earlier test left due is pushed far out.
beforeEach(async () => {
  await pool.query(
    "UPDATE media SET delete_time = '2100-01-01Z' WHERE state IN ('PENDING', 'ORPHANED') AND delete_time <= now()",
  );
});

type Kind = "pending" | "orphaned" | "linked" | "deleting" | "failed";

async function mediaIn(kind: Kind, dueSecondsAgo?: number): Promise<MediaRow> {
  const media = await register(repo, `claims/${++keySeq}.jpg`);
  if (kind === "linked" || kind === "orphaned") await repo.link(media.id, "post/1", "svc");
  if (kind === "orphaned") await repo.unlink(media.id, "post/1", "svc", 3600);
  if (dueSecondsAgo !== undefined) await backdate(media.id, dueSecondsAgo);
  if (kind === "deleting") await forceState(pool, media.id, "DELETING");
  if (kind === "failed") await forceState(pool, media.id, "FAILED");
  return mediaRow(pool, media.id);
}

async function backdate(id: string, secondsAgo: number) {
  await pool.query("UPDATE media SET delete_time = now() - make_interval(secs => $2) WHERE id = $1", [id, secondsAgo]);
}

async function jobsFor(token: string) {
  const { rows } = await pool.query(
    "SELECT task_identifier, max_attempts FROM graphile_worker.recorded_jobs WHERE payload->>'token' = $1",
    [token],
  );
  return rows;
}

async function claimOf(token: string) {
  const { rows } = await pool.query(
    `SELECT media_ids, ${MICROS("lease_expire_time")} AS expires, ${MICROS("create_time")} AS created
     FROM deletion_claims WHERE token = $1`,
    [token],
  );
  return rows[0] as { media_ids: string[]; expires: string; created: string } | undefined;
}

describe("claimDueBatch", () => {
  test("claims only the due, unheld PENDING and ORPHANED media, with events, a lease and one job", async () => {
    const pendingDue = await mediaIn("pending", 3600);
    const orphanedDue = await mediaIn("orphaned", 60);
    const untouched = [
      await mediaIn("pending"), // due tomorrow
      await mediaIn("orphaned"), // due in an hour
      await mediaIn("linked"),
      await mediaIn("deleting", 60),
      await mediaIn("failed"),
    ];
    const held = await mediaIn("pending", 3600);
    await pool.query("UPDATE media SET hold_reason = 'legal' WHERE id = $1", [held.id]);
    untouched.push(await mediaRow(pool, held.id));

    const result = await claimDueBatch(pool, 100, 600);
    assert.equal(result.claimed, 2);

    const claimed = [await mediaRow(pool, pendingDue.id), await mediaRow(pool, orphanedDue.id)];
    const token = claimed[0]?.claim_token;
    assert.ok(token);
    for (const row of claimed) {
      assert.equal(row.state, "DELETING");
      assert.equal(row.claim_token, token, "one token for the batch");
      assert.ok(row.claim_time);
    }
    for (const [before, from] of [
      [pendingDue, "PENDING"],
      [orphanedDue, "ORPHANED"],
    ] as const) {
      const last = (await eventsOf(pool, before.id)).at(-1);
      assert.deepEqual(
        [last?.type, last?.from_state, last?.to_state, last?.actor, last?.reason],
        ["CLAIMED", from, "DELETING", "worker", "due for deletion"],
      );
    }
    for (const before of untouched) assert.deepEqual(await mediaRow(pool, before.id), before, `media ${before.id}`);

    const claim = await claimOf(token);
    assert.ok(claim, "the claim has its lease row");
    assert.deepEqual([...claim.media_ids].sort(), [pendingDue.id, orphanedDue.id].sort());
    assert.equal(BigInt(claim.expires) - BigInt(claim.created), 600_000_000n, "a lease of leaseSeconds");
    assert.deepEqual(await jobsFor(token), [{ task_identifier: TASKS.deleteBatch, max_attempts: BATCH_JOB_ATTEMPTS }]);

    const again = await claimDueBatch(pool, 100, 600);
    assert.deepEqual(again, { claimed: 0, cursor: undefined }, "nothing left due");
    const { rows } = await pool.query("SELECT count(*)::int AS n FROM deletion_claims");
    assert.equal(rows[0].n, 1, "an empty claim leaves no lease row");
  });

  test("a media linked before the claim is not claimed, and its orphaning starts a fresh grace period", async () => {
    const media = await mediaIn("pending", 3600);
    await repo.link(media.id, "post/9", "svc");
    assert.equal((await claimDueBatch(pool, 100, 600)).claimed, 0);
    await repo.unlink(media.id, "post/9", "svc", 3600);
    assert.equal((await claimDueBatch(pool, 100, 600)).claimed, 0, "orphaned an instant ago, due in an hour");
    await backdate(media.id, 1);
    assert.equal((await claimDueBatch(pool, 100, 600)).claimed, 1);
    assert.equal((await mediaRow(pool, media.id)).state, "DELETING");
  });

  test("a held media is claimed only once released", async () => {
    const media = await mediaIn("orphaned", 60);
    await pool.query("UPDATE media SET hold_reason = 'check' WHERE id = $1", [media.id]);
    assert.equal((await claimDueBatch(pool, 100, 600)).claimed, 0);
    await pool.query("UPDATE media SET hold_reason = NULL WHERE id = $1", [media.id]);
    assert.equal((await claimDueBatch(pool, 100, 600)).claimed, 1);
  });

  test("re-checks the reference rows: a due row with a reference the counter missed is not claimed", async () => {
    const media = await mediaIn("pending", 60);
    // The counter says 0 and the state PENDING, but a reference row exists.
    await pool.query("INSERT INTO media_references (media_id, owner) VALUES ($1, 'stray')", [media.id]);
    const result = await claimDueBatch(pool, 100, 600);
    assert.equal(result.claimed, 0);
    assert.equal((await mediaRow(pool, media.id)).state, "PENDING");
    assert.equal(result.cursor?.id, media.id, "the scan moves on past it");
    await pool.query("DELETE FROM media_references WHERE media_id = $1", [media.id]);
  });

  test("skips a row another transaction has locked (a Link in progress) without waiting, and claims it later", async () => {
    const locked = await mediaIn("orphaned", 60);
    const free = await mediaIn("orphaned", 60);
    const client = await pool.connect();
    try {
      await client.query("BEGIN");
      await client.query("SELECT 1 FROM media WHERE id = $1 FOR NO KEY UPDATE", [locked.id]);
      // Were the claim to wait for the lock, it would wait forever: give up on it after 5 s.
      const gaveUp = new AbortController();
      const result = await Promise.race([
        claimDueBatch(pool, 100, 600),
        setTimeout(5000, "waited", { signal: gaveUp.signal }),
      ]);
      gaveUp.abort();
      assert.notEqual(result, "waited", "the claim waited for the locked row");
      assert.ok(typeof result === "object");
      assert.equal(result.claimed, 1);
      assert.equal((await mediaRow(pool, free.id)).state, "DELETING");
      assert.equal((await mediaRow(pool, locked.id)).state, "ORPHANED");
      await client.query("COMMIT");
    } finally {
      client.release();
    }
    assert.equal((await claimDueBatch(pool, 100, 600)).claimed, 1);
    assert.equal((await mediaRow(pool, locked.id)).state, "DELETING");
  });

  test("claims in (delete_time, id) order in batches, continuing after the cursor, ties and microseconds included", async () => {
    const rows = [];
    for (let i = 0; i < 7; i++) rows.push(await mediaIn("pending"));
    // Three instants a microsecond apart, in the past, two or three rows on each, unlike id order.
    const offsets = [2, 0, 1, 0, 2, 1, 0];
    for (const [i, row] of rows.entries()) {
      await pool.query(
        "UPDATE media SET delete_time = '2020-01-01T00:00:00Z'::timestamptz + $2 * interval '1 microsecond' WHERE id = $1",
        [row.id, offsets[i]],
      );
    }
    const expected = rows
      .map((row, i) => ({ id: row.id, offset: offsets[i] as number }))
      .sort((a, b) => a.offset - b.offset || Number(a.id) - Number(b.id))
      .map((r) => r.id);

    const ids = rows.map((r) => r.id);
    const deleting = async () => {
      const { rows: found } = await pool.query<{ id: string }>(
        "SELECT id FROM media WHERE id = ANY($1::bigint[]) AND state = 'DELETING'",
        [ids],
      );
      return new Set(found.map((r) => r.id));
    };
    const batches: string[][] = [];
    let cursor: ClaimCursor | undefined;
    for (let i = 0; i < 10; i++) {
      const before = await deleting();
      const result = await claimDueBatch(pool, 3, 600, cursor);
      if (result.claimed === 0) {
        assert.equal(result.cursor, undefined, "nothing is due after the cursor");
        break;
      }
      const now = await deleting();
      const batch = expected.filter((id) => now.has(id) && !before.has(id));
      assert.equal(batch.length, result.claimed);
      assert.equal(result.cursor?.id, batch.at(-1), "the cursor is the batch's last row in due order");
      batches.push(batch);
      cursor = result.cursor;
    }
    assert.deepEqual(
      batches.map((b) => b.length),
      [3, 3, 1],
    );
    assert.deepEqual(batches.flat(), expected, "each batch is the next ones in due order");
    assert.equal(cursor?.id, expected.at(-1), "the cursor is the last row claimed");
  });
});

const AS_WORKER = { actor: "worker", reason: "due for deletion" };

describe("claimMedia", () => {
  const byId = (ids: string[]) => [...ids].sort((a, b) => Number(BigInt(a) - BigInt(b)));

  test("claims the given PENDING and ORPHANED media though not yet due, with events naming who asked, a lease and no job", async () => {
    const pending = await mediaIn("pending"); // due tomorrow
    const orphaned = await mediaIn("orphaned"); // due in an hour
    const bystander = await mediaIn("orphaned", 60); // due, but not asked for

    const result = await claimMedia(pool, [orphaned.id, pending.id, orphaned.id], 600, {
      actor: "seed-demo",
      reason: "demo data removed",
    });
    assert.deepEqual(result.claimed, byId([pending.id, orphaned.id]), "each once, ascending");
    for (const [before, from] of [
      [pending, "PENDING"],
      [orphaned, "ORPHANED"],
    ] as const) {
      const row = await mediaRow(pool, before.id);
      assert.equal(row.state, "DELETING");
      assert.equal(row.claim_token, result.token);
      assert.ok(row.claim_time);
      assert.equal(row.delete_time?.getTime(), before.delete_time?.getTime(), "the delete time is kept");
      const last = (await eventsOf(pool, before.id)).at(-1);
      assert.deepEqual(
        [last?.type, last?.from_state, last?.to_state, last?.actor, last?.reason],
        ["CLAIMED", from, "DELETING", "seed-demo", "demo data removed"],
      );
    }
    assert.deepEqual(await mediaRow(pool, bystander.id), bystander, "only the given media are claimed");
    const claim = await claimOf(result.token);
    assert.ok(claim, "the claim has its lease row");
    assert.deepEqual(byId(claim.media_ids), result.claimed);
    assert.equal(BigInt(claim.expires) - BigInt(claim.created), 600_000_000n, "a lease of leaseSeconds");
    assert.deepEqual(await jobsFor(result.token), [], "no job: the media were not due");

    const again = await claimMedia(pool, [pending.id, orphaned.id], 600, AS_WORKER);
    assert.deepEqual(again.claimed, [], "claimed media are DELETING, not claimable again");
    assert.equal(await claimOf(again.token), undefined, "an empty claim leaves no lease row");
  });

  test("skips held, linked, DELETING and FAILED media, one with a reference the counter missed, and unknown ids", async () => {
    const claimable = await mediaIn("orphaned");
    const held = await mediaIn("pending", 60);
    await pool.query("UPDATE media SET hold_reason = 'legal' WHERE id = $1", [held.id]);
    const stray = await mediaIn("pending");
    await pool.query("INSERT INTO media_references (media_id, owner) VALUES ($1, 'stray')", [stray.id]);
    const skipped = [
      await mediaRow(pool, held.id),
      await mediaIn("linked"),
      await mediaIn("deleting", 60),
      await mediaIn("failed"),
      await mediaRow(pool, stray.id),
    ];
    const missing = (BigInt(claimable.id) + 1_000_000n).toString();
    const ids = [...skipped.map((m) => m.id), missing];

    const nothing = await claimMedia(pool, ids, 600, AS_WORKER);
    assert.deepEqual(nothing.claimed, []);
    assert.equal(await claimOf(nothing.token), undefined, "no lease row");

    const result = await claimMedia(pool, [...ids, claimable.id], 600, AS_WORKER);
    assert.deepEqual(result.claimed, [claimable.id]);
    assert.equal((await mediaRow(pool, claimable.id)).state, "DELETING");
    for (const before of skipped) assert.deepEqual(await mediaRow(pool, before.id), before, `media ${before.id}`);
    await pool.query("DELETE FROM media_references WHERE media_id = $1", [stray.id]);
  });

  test("skips a row another transaction has locked, without waiting", async () => {
    const locked = await mediaIn("orphaned");
    const free = await mediaIn("orphaned");
    const client = await pool.connect();
    try {
      await client.query("BEGIN");
      await client.query("SELECT 1 FROM media WHERE id = $1 FOR NO KEY UPDATE", [locked.id]);
      const gaveUp = new AbortController();
      const result = await Promise.race([
        claimMedia(pool, [locked.id, free.id], 600, AS_WORKER),
        setTimeout(5000, "waited", { signal: gaveUp.signal }),
      ]);
      gaveUp.abort();
      assert.notEqual(result, "waited", "the claim waited for the locked row");
      assert.ok(typeof result === "object");
      assert.deepEqual(result.claimed, [free.id]);
      assert.equal((await mediaRow(pool, locked.id)).state, "ORPHANED");
      await client.query("COMMIT");
    } finally {
      client.release();
    }
  });

  test("a negative lease is expired at once: a sweep takes the claim back", async () => {
    const media = await mediaIn("orphaned");
    const { token, claimed } = await claimMedia(pool, [media.id], -1, AS_WORKER);
    assert.deepEqual(claimed, [media.id]);
    assert.deepEqual(await reclaimExpiredClaim(pool, 600), { found: true, media: 1 });
    const row = await mediaRow(pool, media.id);
    assert.equal(row.state, "DELETING");
    assert.ok(row.claim_token && row.claim_token !== token);
    assert.equal((await jobsFor(row.claim_token)).length, 1, "the reclaim enqueues the job");
  });

  test("runs on a database with no graphile_worker schema", async () => {
    const bare = await createMigratedDatabase(2);
    try {
      const bareRepo = createMediaRepository(bare.handle);
      const { rows } = await bare.handle.pool.query(
        "SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = 'graphile_worker'",
      );
      assert.equal(rows[0].n, 0, "no job queue schema in this database");
      const a = await register(bareRepo, "bare/a.jpg");
      const b = await register(bareRepo, "bare/b.jpg");

      const result = await claimMedia(bare.handle.pool, [b.id, a.id], 600, AS_WORKER);
      assert.deepEqual(result.claimed, byId([a.id, b.id]));
      assert.equal((await mediaRow(bare.handle.pool, a.id)).state, "DELETING");
      const lease = await bare.handle.pool.query("SELECT media_ids FROM deletion_claims WHERE token = $1", [
        result.token,
      ]);
      assert.deepEqual(byId(lease.rows[0]?.media_ids ?? []), result.claimed);
    } finally {
      await bare.close();
    }
  });
});

describe("leases", () => {
  async function claimOne(): Promise<{ id: string; token: string }> {
    const media = await mediaIn("pending", 60);
    assert.equal((await claimDueBatch(pool, 100, 600)).claimed, 1);
    const token = (await mediaRow(pool, media.id)).claim_token;
    assert.ok(token);
    return { id: media.id, token };
  }

  test("an expired lease is taken back under a fresh token with a new lease and job; the old token is dead", async () => {
    const { id, token } = await claimOne();
    assert.deepEqual(await reclaimExpiredClaim(pool, 600), { found: false, media: 0 }, "a live lease is left alone");

    await pool.query("UPDATE deletion_claims SET lease_expire_time = now() - interval '1 second' WHERE token = $1", [
      token,
    ]);
    assert.deepEqual(await reclaimExpiredClaim(pool, 600), { found: true, media: 1 });
    const row = await mediaRow(pool, id);
    assert.equal(row.state, "DELETING", "still DELETING throughout, so Link keeps failing");
    assert.ok(row.claim_token && row.claim_token !== token);
    assert.equal(await claimOf(token), undefined, "the old lease is gone");
    assert.deepEqual((await claimOf(row.claim_token))?.media_ids, [id]);
    assert.equal((await jobsFor(row.claim_token)).length, 1);
    const last = (await eventsOf(pool, id)).at(-1);
    assert.deepEqual(
      [last?.type, last?.from_state, last?.to_state, last?.reason],
      ["CLAIMED", "DELETING", "DELETING", "reclaimed: the previous lease expired"],
    );

    assert.equal(await renewLease(pool, token, 600), false, "the old job cannot renew");
    assert.equal(await renewLease(pool, row.claim_token, 600), true);
  });

  test("a batch handed back returns its media to ORPHANED, unclaimed, with CLAIM_RELEASED events, and ends its lease", async () => {
    const { id, token } = await claimOne();
    assert.equal(await releaseBatch(pool, token, "deletions paused"), 1);
    const row = await mediaRow(pool, id);
    assert.equal(row.state, "ORPHANED");
    assert.equal(row.claim_token, null);
    assert.equal(row.claim_time, null);
    assert.ok(row.orphan_time, "a PENDING media handed back counts as orphaned from then");
    assert.equal(await claimOf(token), undefined);
    const last = (await eventsOf(pool, id)).at(-1);
    assert.deepEqual(
      [last?.type, last?.from_state, last?.to_state, last?.reason],
      ["CLAIM_RELEASED", "DELETING", "ORPHANED", "deletions paused"],
    );
    assert.equal(await releaseBatch(pool, token, "again"), 0, "a second hand-back finds nothing");
  });
});
