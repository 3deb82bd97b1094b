import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import path from "node:path";
import { after, before, test } from "node:test";
import { stateFromProto } from "../src/media/mapping.ts";
import { startTestService, TEST_TOKENS_ENV, type TestService } from "../testing/support.ts";

// GetStats and the lifecycle gauges read per-state totals kept by the
// statements that change media (migration 0013_state_totals), never a count
// over the table. After a randomized workload (API calls at once, so group
// commit mixes them, and multi-row SQL statements like the deletion engine's)
// they must equal a full count, and so must the due and purge windows;
// npm run repair:stats corrects any drift.

let t: TestService;

before(async () => {
  t = await startTestService({ GRACE_PERIOD: "1h", PENDING_TTL: "24h" });
});
after(() => t.stop());

/** A small deterministic generator, so a failure can be replayed. */
function random(seed: number): () => number {
  let x = seed;
  return () => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x / 2147483648;
  };
}

/** Files and bytes per state, counted from the rows. */
async function counted(): Promise<Map<string, { files: string; bytes: string }>> {
  const { rows } = await t.sql.query<{ state: string; files: string; bytes: string }>(
    `SELECT s.state::text, count(m.id)::text AS files, coalesce(sum(m.size_bytes), 0)::text AS bytes
     FROM unnest(enum_range(NULL::media_state)) AS s(state) LEFT JOIN media m ON m.state = s.state GROUP BY s.state`,
  );
  return new Map(rows.map((r) => [r.state, { files: r.files, bytes: r.bytes }]));
}

/** What GetStats answers per state. */
async function reported(): Promise<Map<string, { files: string; bytes: string }>> {
  const stats = await t.admin.getStats({});
  return new Map(
    stats.states.map((s) => [
      stateFromProto(s.state) ?? "?",
      { files: s.count.toString(), bytes: s.sizeBytes.toString() },
    ]),
  );
}

/** The due and purge windows, counted from the rows by the rules of server/src/deletion/due.ts. */
async function countedWindows(): Promise<Record<string, string>> {
  const scheduled = "state IN ('PENDING', 'ORPHANED') AND hold_reason IS NULL AND claim_token IS NULL";
  const trashed = "purge_time IS NOT NULL AND hold_reason IS NULL AND claim_token IS NULL";
  const { rows } = await t.sql.query<Record<string, string>>(
    `SELECT
       count(*) FILTER (WHERE ${scheduled} AND delete_time <= now() + interval '24 hours')::text AS "dueNext24hCount",
       coalesce(sum(size_bytes) FILTER (WHERE ${scheduled} AND delete_time <= now() + interval '24 hours'), 0)::text
         AS "dueNext24hSizeBytes",
       count(*) FILTER (WHERE ${scheduled} AND delete_time <= now() + interval '7 days')::text AS "dueNext7dCount",
       count(*) FILTER (WHERE ${trashed} AND purge_time <= now() + interval '24 hours')::text AS "purgeNext24hCount",
       coalesce(sum(size_bytes) FILTER (WHERE ${trashed} AND purge_time <= now() + interval '24 hours'), 0)::text
         AS "purgeNext24hSizeBytes"
     FROM media`,
  );
  return rows[0] ?? {};
}

/** The same windows as GetStats answers them. */
async function reportedWindows(): Promise<Record<string, string>> {
  const s = await t.admin.getStats({});
  return {
    dueNext24hCount: s.dueNext24hCount.toString(),
    dueNext24hSizeBytes: s.dueNext24hSizeBytes.toString(),
    dueNext7dCount: s.dueNext7dCount.toString(),
    purgeNext24hCount: s.purgeNext24hCount.toString(),
    purgeNext24hSizeBytes: s.purgeNext24hSizeBytes.toString(),
  };
}

test("after a randomized workload the totals equal a full count, and repair:stats corrects drift", async () => {
  const next = random(42);
  const ids: bigint[] = [];
  for (let round = 0; round < 12; round++) {
    const calls: Promise<unknown>[] = [];
    for (let i = 0; i < 25; i++) {
      const choice = next();
      const id = ids[Math.floor(next() * ids.length)];
      const owner = `owners/${Math.floor(next() * 4)}`;
      if (choice < 0.35 || id === undefined) {
        calls.push(
          t.media
            .createMedia({
              store: "default",
              key: `totals/${round}/${i}.bin`,
              sizeBytes: BigInt(1 + Math.floor(next() * 10_000)),
              ...(next() < 0.5 ? { owner } : {}),
            })
            .then((r) => ids.push(r.media?.id ?? 0n)),
        );
      } else if (choice < 0.6) {
        calls.push(t.media.linkMedia({ mediaId: id, owner }).catch(() => {}));
      } else if (choice < 0.85) {
        calls.push(t.media.unlinkMedia({ mediaId: id, owner }).catch(() => {}));
      } else if (choice < 0.92) {
        calls.push(t.admin.holdMedia({ mediaId: id, reason: "totals" }).catch(() => {}));
      } else {
        calls.push(t.admin.deleteMediaNow({ mediaId: id }).catch(() => {}));
      }
    }
    await Promise.all(calls);
    // Multi-row statements, as the deletion engine and bulk actions make them.
    if (round % 4 === 1) {
      await t.sql.query(
        `UPDATE media SET state = 'TRASHED', trash_time = now(), purge_time = now() + interval '7 days'
         WHERE state IN ('PENDING', 'ORPHANED') AND id % 3 = 0`,
      );
    }
    if (round % 4 === 2) {
      // Schedules and purges spread over hours, some overdue: the windows count whole hours and a partial one.
      await t.sql.query(
        "UPDATE media SET delete_time = delete_time - (id % 60) * interval '37 minutes' WHERE delete_time IS NOT NULL",
      );
      await t.sql.query(
        "UPDATE media SET delete_time = now() + (id % 9) * interval '1 day' WHERE delete_time IS NOT NULL AND id % 7 = 0",
      );
      await t.sql.query(
        "UPDATE media SET purge_time = now() + (id % 40) * interval '1 hour' WHERE purge_time IS NOT NULL",
      );
    }
    if (round % 4 === 3) {
      await t.sql.query("DELETE FROM media WHERE state = 'TRASHED' AND id % 2 = 0");
      await t.sql.query("UPDATE media SET size_bytes = size_bytes + 7 WHERE state = 'PENDING' AND id % 5 = 0");
    }
  }
  const truth = await counted();
  const windows = await countedWindows();
  assert.ok(Number(windows.dueNext24hCount) > 0 && Number(windows.purgeNext24hCount) > 0, "varied windows");
  assert.ok(windows.dueNext24hCount !== windows.dueNext7dCount, "some due later than a day");
  assert.ok(Number(truth.get("LINKED")?.files) > 0 && Number(truth.get("TRASHED")?.files) > 0, "a varied workload");
  assert.deepEqual(await reported(), truth);
  assert.deepEqual(await reportedWindows(), windows);
  // GetStats folded the deltas: the next read starts from the totals alone, and still agrees.
  const { rows } = await t.sql.query<{ n: number }>("SELECT count(*)::int AS n FROM media_state_deltas");
  assert.equal(rows[0]?.n, 0);
  assert.deepEqual(await reported(), truth);

  // Drift (an operator's manual edit, a bug): repair:stats finds it, says so, and corrects it.
  await t.sql.query("UPDATE media_state_totals SET files = files + 5, bytes = bytes - 100 WHERE state = 'LINKED'");
  assert.notDeepEqual(await reported(), truth);
  const output = await runRepair();
  assert.match(output, /LINKED\s+was off by 5 files and -100 bytes/);
  assert.match(output, /1 state\(s\) corrected/);
  assert.deepEqual(await reported(), truth);
  assert.deepEqual(await reportedWindows(), windows);
  assert.match(await runRepair(), /the totals were right/);
});

function runRepair(): Promise<string> {
  const child = spawn(process.execPath, [path.resolve(import.meta.dirname, "../../scripts/repair-stats.ts")], {
    env: { ...process.env, ...TEST_TOKENS_ENV, DATABASE_URL: t.databaseUrl, LOG_LEVEL: "warn" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  return new Promise((resolve, reject) =>
    child.on("exit", (code) =>
      code === 0 ? resolve(output) : reject(new Error(`repair:stats exited ${code}: ${output}`)),
    ),
  );
}
