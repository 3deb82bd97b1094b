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
// media) never fails or holds up its neighbours. A group is set-wise
// statements (migration 0016), and it must answer and write exactly what its
// calls would, run one by one.

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
    // The other media's links went in groups of their own: a group holds one call per media, so the
    // repeated media never made a group fail into its call-by-call retry.
    const used = await linkTransactions(others);
    assert.ok(used <= 10, `20 links of other media took ${used} transactions`);
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

  test("a group answers and writes exactly what its calls would, run one by one", async () => {
    // Twin media (a for the group, b for the calls alone) in every state, with 0-2 references; one
    // transaction runs both, so now() and every time it sets are the same on each side.
    const states = ["PENDING", "ORPHANED", "LINKED1", "LINKED2", "DELETING", "FAILED", "TRASHED"] as const;
    const owners = ["o/1", "o/2", "o/3"];
    let seed = 7;
    const next = () => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    const client = await t.sql.connect();
    try {
      for (let round = 0; round < 6; round++) {
        const twins = states.flatMap((state) => [0, 1, 2].map((copy) => ({ state, copy })));
        const { rows: created } = await client.query<{ a: string; b: string }>(
          `WITH spec AS (
             SELECT s.n, s.state FROM unnest($1::text[]) WITH ORDINALITY AS s (state, n)
           ), made AS (
             INSERT INTO media (store, key, size_bytes, state, reference_count, delete_time, orphan_time, trash_time, purge_time)
             SELECT 'default', format('twin/%s/%s/%s', $2::int, spec.n, side), spec.n * 10,
               CASE WHEN spec.state LIKE 'LINKED%' THEN 'LINKED' ELSE spec.state END::media_state,
               CASE spec.state WHEN 'LINKED1' THEN 1 WHEN 'LINKED2' THEN 2 ELSE 0 END,
               CASE WHEN spec.state IN ('PENDING', 'ORPHANED', 'DELETING') THEN now() + interval '1 hour' END,
               CASE WHEN spec.state = 'ORPHANED' THEN now() - interval '1 minute' END,
               CASE WHEN spec.state = 'TRASHED' THEN now() END,
               CASE WHEN spec.state = 'TRASHED' THEN now() + interval '7 days' END
             FROM spec CROSS JOIN (VALUES ('a'), ('b')) AS sides (side)
             RETURNING id, key
           )
           SELECT a.id AS a, b.id AS b FROM made a JOIN made b ON b.key = left(a.key, -1) || 'b'
           WHERE a.key LIKE '%/a' ORDER BY a.id`,
          [twins.map((w) => w.state), round],
        );
        const pairs = created.map((c, i) => ({ ...c, ...(twins[i] as (typeof twins)[number]) }));
        for (const p of pairs) {
          const refs =
            p.state === "LINKED1" ? owners.slice(p.copy, p.copy + 1) : p.state === "LINKED2" ? owners.slice(0, 2) : [];
          for (const owner of refs) {
            await client.query("INSERT INTO media_references (media_id, owner) VALUES ($1, $3), ($2, $3)", [
              p.a,
              p.b,
              owner,
            ]);
          }
        }
        // A call or more per media (a third get a second, some a third: the group takes them in rounds),
        // each with a random operation, owner, actor and grace, in a random order; and two missing media.
        const call = (a: string, b: string) => ({
          op: next() < 0.5 ? "link" : "unlink",
          a,
          b,
          owner: owners[Math.floor(next() * owners.length)] as string,
          actor: `differ/${Math.floor(next() * 3)}`,
          grace: [60, 3600, 86_400][Math.floor(next() * 3)] as number,
        });
        const calls = pairs.flatMap((p) => {
          const repeats = next() < 0.33 ? (next() < 0.3 ? 3 : 2) : 1;
          return Array.from({ length: repeats }, () => call(p.a, p.b));
        });
        for (const missing of [1, 2]) {
          calls.push(call(`${9e15 + round * 10 + missing}`, `${8e15 + round * 10 + missing}`));
        }
        calls.sort(() => next() - 0.5);
        const asJson = `r.outcome, r.changed, to_jsonb(r.m) - 'id' - 'key' AS m`;
        // What the state totals' triggers appended, summed per state and per window slot, since a mark.
        const deltasMark = async () =>
          (
            await client.query<{ s: string; w: string }>(
              "SELECT (SELECT coalesce(max(id), 0) FROM media_state_deltas)::text AS s, (SELECT coalesce(max(id), 0) FROM media_window_deltas)::text AS w",
            )
          ).rows[0] as { s: string; w: string };
        const deltasBetween = async (from: { s: string; w: string }, to: { s: string; w: string }) => {
          const [states, windows] = [
            await client.query(
              `SELECT state, sum(files)::text AS files, sum(bytes)::text AS bytes FROM media_state_deltas
               WHERE id > $1 AND id <= $2 GROUP BY state HAVING sum(files) <> 0 OR sum(bytes) <> 0 ORDER BY state`,
              [from.s, to.s],
            ),
            await client.query(
              `SELECT kind, slot, sum(files)::text AS files, sum(bytes)::text AS bytes FROM media_window_deltas
               WHERE id > $1 AND id <= $2 GROUP BY kind, slot HAVING sum(files) <> 0 OR sum(bytes) <> 0 ORDER BY kind, slot`,
              [from.w, to.w],
            ),
          ];
          return { states: states.rows, windows: windows.rows };
        };
        await client.query("BEGIN");
        const beforeGroup = await deltasMark();
        const { rows: grouped } = await client.query<{ outcome: string; changed: boolean; m: unknown }>(
          `SELECT ${asJson} FROM media_reference_group($1::text[], $2::bigint[], $3::text[], $4::text[], $5::float8[], '1s') r ORDER BY r.ord`,
          [
            calls.map((c) => c.op),
            calls.map((c) => c.a),
            calls.map((c) => c.owner),
            calls.map((c) => c.actor),
            calls.map((c) => c.grace),
          ],
        );
        const afterGroup = await deltasMark();
        const alone = [];
        for (const c of calls) {
          const { rows } = await client.query(
            c.op === "link"
              ? `SELECT ${asJson} FROM media_link($1::bigint, $2, $3) r`
              : `SELECT ${asJson} FROM media_unlink($1::bigint, $2, $3, $4, 'unlinked') r`,
            c.op === "link" ? [c.b, c.owner, c.actor] : [c.b, c.owner, c.actor, c.grace],
          );
          alone.push(rows[0]);
        }
        const afterAlone = await deltasMark();
        const twinOf = `(SELECT p.n FROM unnest($1::bigint[], $2::bigint[]) WITH ORDINALITY AS p (a, b, n) WHERE x.media_id IN (p.a, p.b))`;
        const sides = (side: "a" | "b") => [pairs.map((p) => p[side]), pairs.map((p) => p[side])];
        const written = async (side: "a" | "b") => {
          const [refs, events] = await Promise.all([
            client.query(
              `SELECT ${twinOf} AS n, x.owner FROM media_references x WHERE x.media_id = ANY ($1::bigint[]) ORDER BY 1, 2`,
              sides(side),
            ),
            client.query(
              `SELECT ${twinOf} AS n, x.type, x.from_state, x.to_state, x.owner, x.actor, x.reason, x.store, x.create_time
               FROM media_events x WHERE x.media_id = ANY ($1::bigint[]) AND x.xact = pg_current_xact_id() ORDER BY 1, x.id`,
              sides(side),
            ),
          ]);
          return { references: refs.rows, events: events.rows };
        };
        const [groupWrote, aloneWrote] = [await written("a"), await written("b")];
        const [groupCounted, aloneCounted] = [
          await deltasBetween(beforeGroup, afterGroup),
          await deltasBetween(afterGroup, afterAlone),
        ];
        await client.query("COMMIT");
        assert.deepEqual(grouped, alone, `round ${round}: answers`);
        assert.deepEqual(groupWrote, aloneWrote, `round ${round}: references and events`);
        assert.deepEqual(groupCounted, aloneCounted, `round ${round}: the state totals' deltas`);
        assert.ok(groupCounted.states.length > 0, "the group changed some states");
        assert.ok(grouped.some((r) => r.changed) && grouped.some((r) => !r.changed), "a varied group");
      }
    } finally {
      await client.query("ROLLBACK").catch(() => {});
      client.release();
    }
  });
});
