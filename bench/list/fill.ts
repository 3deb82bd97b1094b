// The list bench's data: fills a fresh database with realistic media and
// references, in chunks of a million rows, then VACUUM ANALYZE.
// Row g gets id g (ids, like create_time, ascend), and every choice is a
// hash of g, so the fill is deterministic and chunks are independent.
//   store: default 80%, photos 15%, archive 5%
//   key:   users/<g mod 100000>/<g>.jpg, so "users/4242/" matches ROWS/100000
//          rows and "users/4242" eleven times as many
//   state: PENDING 7%, all among the newest 10% of rows (a registration expires
//          within a day unless linked; due from 1 hour ago to 24 hours ahead);
//          of the rest LINKED 87% (one reference; 1% of them two), ORPHANED 13%
//          (delete_time from 1 day overdue to 7 days ahead, 1% of them held),
//          FAILED 0.03%, DELETING 0.01% (claimed batches); overall LINKED 81%,
//          ORPHANED 12%, PENDING 7%
//   labels: {"team":"blog"} 20%, {"team":"shop"} 8%, {"team":"shop","env":"staging"} 1.9%,
//          {"team":"blog","campaign":"spring"} 0.09%, {"campaign":"x42"} 0.01%, the rest {}
//   owners: blog/posts/<g/3>#cover (3 media each), 1% of linked media
//          shop/catalog#gallery instead, and the second reference pages/<g mod 1000>#body
import { repairStateTotals } from "@media/server/media";
import type pg from "pg";
import { fmt, log } from "../shared.ts";

const FILL_MEDIA = `
  WITH src AS (
    SELECT g,
           (hashint8extended(g, 1) & 2147483647) % 10000 AS s,
           (hashint8extended(g, 2) & 2147483647) % 10000 AS l,
           (hashint8extended(g, 3) & 2147483647) % 100 AS t,
           ((hashint8extended(g, 4) & 2147483647) % 11520)::int AS m,
           (hashint8extended(g, 7) & 2147483647) % 100 AS p,
           now() - make_interval(secs => ($3::bigint - g) * 6.0) AS created
    FROM generate_series($1::bigint, $2::bigint) g
  ), kinds AS (
    SELECT *,
           CASE WHEN g > $3::bigint * 9 / 10 AND p < 70 THEN 'PENDING'
                WHEN s < 8600 THEN 'LINKED'
                WHEN s < 9890 THEN 'ORPHANED'
                WHEN s < 9893 THEN 'FAILED'
                WHEN s < 9894 THEN 'DELETING'
                ELSE 'LINKED2' END AS kind
    FROM src
  ), shaped AS (
    SELECT *,
           (CASE kind WHEN 'LINKED2' THEN 'LINKED' ELSE kind END)::media_state AS state,
           CASE kind WHEN 'ORPHANED' THEN now() + make_interval(mins => m - 1440)
                     WHEN 'PENDING' THEN now() + make_interval(mins => m % 1500 - 60)
                     WHEN 'DELETING' THEN now() - make_interval(mins => m % 600) END AS due
    FROM kinds
  )
  INSERT INTO media (id, store, key, content_type, size_bytes, labels, state, reference_count, create_time,
                     update_time, orphan_time, delete_time, hold_reason, claim_token, claim_time, delete_attempts,
                     last_error)
  OVERRIDING SYSTEM VALUE
  SELECT g,
         CASE WHEN t < 80 THEN 'default' WHEN t < 95 THEN 'photos' ELSE 'archive' END,
         'users/' || (g % 100000) || '/' || g || '.jpg',
         'image/jpeg',
         1000 + (hashint8extended(g, 5) & 2147483647) % 5000000,
         (CASE WHEN l < 2000 THEN '{"team":"blog"}'
               WHEN l < 2800 THEN '{"team":"shop"}'
               WHEN l < 2990 THEN '{"team":"shop","env":"staging"}'
               WHEN l = 2990 THEN '{"campaign":"x42"}'
               WHEN l < 3000 THEN '{"team":"blog","campaign":"spring"}'
               ELSE '{}' END)::jsonb,
         state,
         CASE kind WHEN 'LINKED' THEN 1 WHEN 'LINKED2' THEN 2 ELSE 0 END,
         created,
         CASE WHEN state = 'LINKED' THEN created ELSE least(now(), greatest(created, due - interval '7 days')) END,
         CASE WHEN state = 'ORPHANED' THEN due - interval '7 days'
              WHEN state IN ('FAILED', 'DELETING') THEN now() - make_interval(mins => m) END,
         CASE WHEN state IN ('ORPHANED', 'PENDING', 'DELETING') THEN due END,
         CASE WHEN kind = 'ORPHANED' AND s < 8613 THEN 'legal hold #' || (g % 7) END,
         CASE WHEN state = 'DELETING' THEN md5('batch' || (g / 1000000))::uuid END,
         CASE WHEN state = 'DELETING' THEN now() - interval '2 minutes' END,
         CASE WHEN state = 'FAILED' THEN 5 WHEN state = 'ORPHANED' AND m % 50 = 0 THEN 1 ELSE 0 END,
         CASE WHEN state = 'FAILED' THEN 'AccessDenied: not allowed to delete users/' || (g % 100000) || '/' || g || '.jpg'
              WHEN state = 'ORPHANED' AND m % 50 = 0 THEN 'SlowDown: please reduce your request rate' END
  FROM shaped`;

const FILL_REFERENCES = `
  INSERT INTO media_references (media_id, owner, create_time)
  SELECT id,
         CASE WHEN r = 2 THEN 'pages/' || (id % 1000) || '#body'
              WHEN (hashint8extended(id, 6) & 2147483647) % 100 = 0 THEN 'shop/catalog#gallery'
              ELSE 'blog/posts/' || (id / 3) || '#cover' END,
         create_time
  FROM media CROSS JOIN LATERAL generate_series(1, reference_count) r
  WHERE id BETWEEN $1::bigint AND $2::bigint AND state = 'LINKED'`;

export async function fill(sql: pg.Pool, rows: number): Promise<number> {
  const started = performance.now();
  const chunk = 1_000_000;
  const client = await sql.connect();
  try {
    // The rows are consistent by construction; the per-row foreign-key checks of
    // the references (which would also lock, and so dirty, every media row) are skipped.
    await client.query("SET session_replication_role = replica");
    for (let from = 1; from <= rows; from += chunk) {
      const to = Math.min(rows, from + chunk - 1);
      const chunkStarted = performance.now();
      await client.query("BEGIN");
      await client.query(FILL_MEDIA, [from, to, rows]);
      const refs = await client.query(FILL_REFERENCES, [from, to]);
      await client.query("COMMIT");
      log(
        `  media ${fmt(to)} / ${fmt(rows)} (+${fmt(refs.rowCount ?? 0)} references) ` +
          `in ${((performance.now() - chunkStarted) / 1000).toFixed(1)} s, ` +
          `${((performance.now() - started) / 1000).toFixed(0)} s so far`,
      );
    }
    await client.query("RESET session_replication_role");
    // The fill ran without triggers, so the per-state totals never saw these rows: recount them once.
    await repairStateTotals(sql);
    await client.query(`SELECT setval(pg_get_serial_sequence('media', 'id'), $1)`, [rows]);
  } finally {
    client.release();
  }
  const vacuumStarted = performance.now();
  await sql.query("VACUUM ANALYZE media");
  await sql.query("VACUUM ANALYZE media_references");
  log(`  VACUUM ANALYZE in ${((performance.now() - vacuumStarted) / 1000).toFixed(0)} s`);
  const seconds = (performance.now() - started) / 1000;
  const counts = await sql.query<{ state: string; n: string }>(
    "SELECT state::text, count(*) AS n FROM media GROUP BY state ORDER BY state",
  );
  const refs = await sql.query<{ n: string }>("SELECT count(*) AS n FROM media_references");
  const sizes = await sql.query<{ media: string; refs: string }>(
    `SELECT pg_size_pretty(pg_total_relation_size('media')) AS media,
            pg_size_pretty(pg_total_relation_size('media_references')) AS refs`,
  );
  log(
    `  filled ${fmt(rows)} media and ${fmt(Number(refs.rows[0]?.n))} references in ${seconds.toFixed(0)} s ` +
      `(${counts.rows.map((r) => `${r.state} ${fmt(Number(r.n))}`).join(", ")}; ` +
      `media ${sizes.rows[0]?.media} with indexes, references ${sizes.rows[0]?.refs})`,
  );
  return seconds;
}
