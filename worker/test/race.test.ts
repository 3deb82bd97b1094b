import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { MediaState } from "@media/proto/media/v1/media_pb";
import { claimDueBatch } from "@media/server/deletion";
import { expectCode, killAllProcesses, killProcess } from "@media/server/testing";
import { type DeletionHarness, startDeletionHarness, waitFor } from "../testing/harness.ts";
import { spawnWorker, type WorkerProcess } from "../testing/worker-process.ts";

// Link against deletion. Deterministic: the test holds the row lock itself and
// shows both orders. Randomized: clients link and unlink at random while two
// worker processes sweep with zero grace.

let h: DeletionHarness;
before(async () => {
  // The first deterministic test leaves a hand-made claim with no job and an expired lease; the workers reclaim it.
  h = await startDeletionHarness({
    GRACE_PERIOD: "0s",
    PENDING_TTL: "0s",
    BLAST_RADIUS_LIMIT: "1000000",
    CLAIM_TIMEOUT: "2s",
    STORAGE_TIMEOUT: "500ms",
  });
  await h.worker?.stop();
  h.worker = undefined;
});
after(async () => {
  await killAllProcesses();
  await h.stop();
});

/** Whether the promise has settled, as of now. */
function settled(p: Promise<unknown>): () => boolean {
  let done = false;
  p.then(
    () => {
      done = true;
    },
    () => {
      done = true;
    },
  );
  return () => done;
}

/** Waits until a Link's statement is in the database, waiting there for a row lock. */
const linkWaitsOnLock = () =>
  waitFor(async () => {
    const { rows } = await h.t.sql.query(
      `SELECT count(*)::int AS n FROM pg_stat_activity
       WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%media_link(%'`,
    );
    return rows[0].n > 0;
  }, "the Link to wait on the row lock");

describe("deterministic", () => {
  test("a claim that commits first makes a waiting Link fail with FAILED_PRECONDITION", async () => {
    const id = await h.put("default", "race/claim-first.jpg");
    const claim = await h.t.sql.connect();
    try {
      await claim.query("BEGIN");
      // What the sweep's claim does: lock the due row and mark it DELETING.
      await claim.query("SELECT id FROM media WHERE id = $1 FOR UPDATE", [id.toString()]);
      await claim.query(
        `WITH claimed AS (
           UPDATE media SET state = 'DELETING', claim_token = gen_random_uuid(), claim_time = now() WHERE id = $1
           RETURNING id, claim_token
         )
         INSERT INTO deletion_claims (token, lease_expire_time, media_ids) SELECT claim_token, now(), ARRAY[id] FROM claimed`,
        [id.toString()],
      );
      const link = h.t.media.linkMedia({ mediaId: id, owner: "post/late" });
      const linkSettled = settled(link);
      await linkWaitsOnLock();
      assert.equal(linkSettled(), false, "Link waits for the claim's transaction");
      await claim.query("COMMIT");
      await expectCode(link, Code.FailedPrecondition, "being deleted");
    } finally {
      claim.release();
    }
    const refs = await h.t.sql.query("SELECT count(*)::int AS n FROM media_references WHERE media_id = $1", [
      id.toString(),
    ]);
    assert.equal(refs.rows[0].n, 0, "no reference was added to the claimed media");
  });

  test("a Link in progress is skipped by the claim and then survives the sweep", async () => {
    const id = await h.put("default", "race/link-first.jpg"); // PENDING with PENDING_TTL=0: due at once
    const holder = await h.t.sql.connect();
    try {
      await holder.query("BEGIN");
      await holder.query("SELECT id FROM media WHERE id = $1 FOR UPDATE", [id.toString()]);
      const link = h.t.media.linkMedia({ mediaId: id, owner: "post/early" });
      const linkSettled = settled(link);
      await linkWaitsOnLock();
      assert.equal(linkSettled(), false, "Link waits for the row's lock");
      // The real claim skips the locked row instead of waiting or claiming it.
      const claimedWhileLocked = (await claimDueBatch(h.t.sql, 1000, 2)).claimed;
      const mine = await h.t.sql.query("SELECT state FROM media WHERE id = $1", [id.toString()]);
      assert.equal(
        mine.rows[0].state,
        "PENDING",
        `the locked row was not claimed (claimed ${claimedWhileLocked} others)`,
      );
      await holder.query("COMMIT");
      assert.equal((await link).media?.state, MediaState.LINKED);
    } finally {
      holder.release();
    }
    assert.equal((await claimDueBatch(h.t.sql, 1000, 2)).claimed, 0, "a linked media is never due");
    assert.equal(await h.exists("default", "race/link-first.jpg"), true);
  });
});

test("randomized: clients link and unlink while two worker processes sweep with zero grace", async (t) => {
  // Jobs queued by the deterministic claims above are handled by these workers too.
  const env = { DATABASE_URL: h.t.databaseUrl, ...h.env, WORKER_CONCURRENCY: "2" };
  const workers: WorkerProcess[] = [await spawnWorker(env), await spawnWorker(env)];
  try {
    await storm(t);
  } finally {
    for (const w of workers) await killProcess(w, "SIGTERM");
  }
});

async function storm(t: { diagnostic(message: string): void }): Promise<void> {
  const MEDIA = 60;
  const OWNERS = ["a", "b", "c"];
  const ids: bigint[] = [];
  for (let i = 0; i < MEDIA; i++) {
    const id = await h.put("default", `race/random/${i}.jpg`);
    await h.t.media.linkMedia({ mediaId: id, owner: "a" });
    ids.push(id);
  }
  // What the clients believe: the owners each media has, after acknowledged calls.
  const believed = new Map(ids.map((id) => [id, new Set(["a"])]));
  const gone = new Set<bigint>();
  let links = 0;
  let unlinks = 0;
  let refused = 0;

  const stopAt = Date.now() + 6000;
  const sweeper = (async () => {
    while (Date.now() < stopAt) {
      await h.t.admin.runSweep({});
      // Stays: the storm's pace (a sweep every 150 ms while it lasts), not a wait for anything.
      await new Promise((r) => setTimeout(r, 150));
    }
  })();
  const clients = Array.from({ length: 12 }, async (_, c) => {
    // Each client owns a slice of the media, so its beliefs about them are exact.
    const mine = ids.filter((_, i) => i % 12 === c);
    while (Date.now() < stopAt) {
      const id = mine[Math.floor(Math.random() * mine.length)]!;
      if (gone.has(id)) continue;
      const owner = OWNERS[Math.floor(Math.random() * OWNERS.length)]!;
      const owners = believed.get(id)!;
      try {
        if (Math.random() < 0.5) {
          await h.t.media.linkMedia({ mediaId: id, owner });
          owners.add(owner);
          links++;
        } else {
          await h.t.media.unlinkMedia({ mediaId: id, owner });
          owners.delete(owner);
          unlinks++;
        }
      } catch (error) {
        const code = ConnectError.from(error).code;
        assert.ok(code === Code.FailedPrecondition || code === Code.NotFound, `unexpected ${code}`);
        assert.equal(owners.size, 0, "only a media its clients believe unreferenced can be claimed or gone");
        gone.add(id);
        refused++;
      }
    }
  });
  await Promise.all([sweeper, ...clients]);

  // Let in-flight batches finish, then check. A claim left DELETING with no job behind it (its
  // job gave up) is reclaimed by a sweep once its lease runs out: one is queued whenever the
  // queue has emptied with such rows left.
  await waitFor(
    async () => {
      const { rows } = await h.t.sql.query(
        "SELECT count(*)::int AS n FROM graphile_worker.jobs WHERE attempts < max_attempts",
      );
      const deleting = await h.t.sql.query("SELECT count(*)::int AS n FROM media WHERE state = 'DELETING'");
      if (rows[0].n === 0 && deleting.rows[0].n === 0) return true;
      if (rows[0].n === 0) await h.t.admin.runSweep({});
      return false;
    },
    "the workers to settle",
    30_000,
  );

  let survivors = 0;
  for (const [i, id] of ids.entries()) {
    const owners = believed.get(id)!;
    const row = await h.t.sql.query("SELECT state, reference_count FROM media WHERE id = $1", [id.toString()]);
    const file = await h.exists("default", `race/random/${i}.jpg`);
    if (owners.size > 0) {
      assert.equal(row.rows[0]?.state, "LINKED", `media ${id} is referenced by ${[...owners]}`);
      assert.equal(row.rows[0]?.reference_count, owners.size);
      assert.equal(file, true, `media ${id} is referenced and must keep its file`);
      survivors++;
    } else if (row.rows.length === 0) {
      assert.equal(file, false, `media ${id}'s row is gone, so its file must be too`);
    } else {
      assert.equal(file, true, `media ${id} still has its row, so it must still have its file`);
    }
  }
  const stuck = await h.t.sql.query("SELECT count(*)::int AS n FROM media WHERE state = 'DELETING'");
  assert.equal(stuck.rows[0].n, 0, "nothing is stuck in DELETING");
  const deleted = await h.t.sql.query(
    "SELECT count(DISTINCT media_id)::int AS n FROM media_events WHERE type = 'DELETED'",
  );
  assert.ok(deleted.rows[0].n > 0, "the sweeps deleted something, so the race was real");
  const summary = `links ${links}, unlinks ${unlinks}, refused ${refused}, deleted ${deleted.rows[0].n}, survivors ${survivors}`;
  t.diagnostic(summary);
  assert.ok(links > 50 && unlinks > 50 && survivors > 0, summary);
}
