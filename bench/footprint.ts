// `npm run bench footprint`: what one media costs PostgreSQL, for docs/scaling.md.
// BENCH_MEDIA (100,000) media registered through the repository the API calls,
// each with an owner (CreateMedia with owner: register and link, one
// transaction), then each unlinked (UnlinkMedia), 16 calls in flight. Reports
// the WAL written per call of each kind and, after a VACUUM, the bytes each
// table and its indexes hold per row, so the plan for a billion media starts
// from measured figures.
import { connectDatabase } from "@media/server/db";
import { createMediaRepository } from "@media/server/media";
import { forEachLimited } from "@media/server/storage";
import type pg from "pg";
import { benchDatabase, fmt, log } from "./shared.ts";

const MEDIA = Number(process.env.BENCH_MEDIA ?? 100_000);
const IN_FLIGHT = 16;
const TABLES = ["media", "media_references", "media_events"] as const;

async function walPosition(sql: pg.Pool): Promise<number> {
  const { rows } = await sql.query<{ at: string }>("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::text AS at");
  return Number(rows[0]?.at ?? 0);
}

/** Heap and index bytes per live row of each table (after a VACUUM, so dead rows are not counted). */
async function bytesPerRow(sql: pg.Pool): Promise<string[]> {
  await sql.query(`VACUUM ANALYZE ${TABLES.join(", ")}`);
  const lines: string[] = [];
  for (const table of TABLES) {
    const { rows } = await sql.query<{ n: string; heap: string; indexes: string }>(
      // Summed over the table's partitions (media_events is partitioned by month; a parent holds no rows itself),
      // or the table itself when it has none.
      `SELECT (SELECT count(*) FROM ${table})::text AS n,
         sum(pg_table_size(relid))::text AS heap, sum(pg_indexes_size(relid))::text AS indexes
       FROM (SELECT relid FROM pg_partition_tree($1::regclass) WHERE isleaf
             UNION ALL SELECT $1::regclass WHERE NOT EXISTS (SELECT FROM pg_partition_tree($1::regclass))) leaves`,
      [table],
    );
    const n = Number(rows[0]?.n ?? 0);
    const per = (bytes: string | undefined) => (n === 0 ? "-" : `${fmt(Number(bytes ?? 0) / n)} B`);
    lines.push(`| ${table} | ${fmt(n)} | ${per(rows[0]?.heap)} | ${per(rows[0]?.indexes)} |`);
  }
  return lines;
}

const db = await benchDatabase("footprint");
const handle = connectDatabase({ url: db.url, poolSize: IN_FLIGHT + 2 });
const sql = handle.pool;
try {
  log(`footprint bench: ${fmt(MEDIA)} media created with an owner, then unlinked; ${IN_FLIGHT} calls in flight`);
  const repo = createMediaRepository(handle);
  const ids: string[] = [];
  const numbers = Array.from({ length: MEDIA }, (_, i) => i);
  const measure = async (what: string, work: () => Promise<void>) => {
    const before = await walPosition(sql);
    const started = performance.now();
    await work();
    const seconds = (performance.now() - started) / 1000;
    const wal = (await walPosition(sql)) - before;
    return `| ${what} | ${fmt(MEDIA)} | ${seconds.toFixed(1)} | ${fmt(wal / MEDIA)} B |`;
  };
  const created = await measure("CreateMedia with owner (register + link)", () =>
    forEachLimited(numbers, IN_FLIGHT, async (i) => {
      const outcome = await repo.create(
        {
          store: "default",
          key: `users/${i % 10_000}/${i}-a1b2c3d4.jpg`,
          contentType: "image/jpeg",
          sizeBytes: 250_000n,
          labels: { app: "blog", kind: "cover" },
        },
        "bench",
        86_400,
        `blog/posts/${i}#cover`,
      );
      if (outcome.kind !== "created") throw new Error(`media ${i}: ${outcome.kind}`);
      ids[i] = outcome.media.id;
    }),
  );
  const linkedSizes = await bytesPerRow(sql);
  const unlinked = await measure("UnlinkMedia (the last reference: ORPHANED)", () =>
    forEachLimited(numbers, IN_FLIGHT, async (i) => {
      const outcome = await repo.unlink(ids[i] as string, `blog/posts/${i}#cover`, "bench", 3600);
      if (outcome.kind !== "ok" || !outcome.changed) throw new Error(`media ${i}: ${outcome.kind}`);
    }),
  );
  const orphanedSizes = await bytesPerRow(sql);
  log(
    [
      "",
      "| call | calls | seconds | WAL per call |",
      "|---|---:|---:|---:|",
      created,
      unlinked,
      "",
      "Bytes per row, each media LINKED (one reference, two events):",
      "",
      "| table | rows | heap per row | indexes per row |",
      "|---|---:|---:|---:|",
      ...linkedSizes,
      "",
      "Bytes per row, each media ORPHANED (no reference, three events):",
      "",
      "| table | rows | heap per row | indexes per row |",
      "|---|---:|---:|---:|",
      ...orphanedSizes,
    ].join("\n"),
  );
} finally {
  await handle.close();
  await db.stop();
}
