// `npm run bench core`: the service-core benchmarks. Starts an embedded PostgreSQL
// (or uses BENCH_DATABASE_URL), seeds it, runs the real service as a child
// process, drives it from a separate load process, and prints a Markdown table
// of the numbers measured in this one run. Options (env):
//   BENCH_ROWS (1000000)  BENCH_SECONDS (10)  BENCH_CONCURRENCY (64)  BENCH_SERVER_NODE_ARGS
// The last scenario calls the same SQL functions as Link and Unlink directly,
// one per transaction, at the same concurrency: the service's ratio to it is
// what group commit is for.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { connectDatabase } from "@media/server/db";
import { startupLineWatcher } from "@media/server/testing";
import { BENCH_AUTH_ENV, benchDatabase, log, root } from "./shared.ts";

const ROWS = Number(process.env.BENCH_ROWS ?? 1_000_000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 64);
const GRPC_PORT = 50551;

function startServer(databaseUrl: string): Promise<ChildProcess> {
  // BENCH_SERVER_NODE_ARGS="--cpu-prof" profiles the server while it is measured.
  const nodeArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? "").split(" ").filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, "server/src/main.ts"], {
    cwd: root,
    env: {
      ...process.env,
      ...BENCH_AUTH_ENV,
      DATABASE_URL: databaseUrl,
      GRPC_PORT: String(GRPC_PORT),
      HTTP_PORT: "0",
      LOG_LEVEL: "warn",
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const watch = startupLineWatcher();
  return new Promise((resolve, reject) => {
    child.stdout?.on("data", (chunk: Buffer) => {
      if (watch(chunk.toString()) !== undefined) resolve(child);
    });
    child.on("exit", (code) => reject(new Error(`server exited with ${code} before it was up`)));
  });
}

interface LoadResult {
  scenario: string;
  calls: number;
  errors: number;
  firstError: string;
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
}

function runLoad(scenario: string, databaseUrl: string): Promise<LoadResult> {
  const child = spawn(
    process.execPath,
    ["bench/load.ts", String(GRPC_PORT), scenario, String(CONCURRENCY), String(SECONDS), String(ROWS)],
    {
      cwd: root,
      stdio: ["ignore", "pipe", "inherit"],
      env: { ...process.env, BENCH_DIRECT_DATABASE_URL: databaseUrl },
    },
  );
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  return new Promise((resolve, reject) =>
    child.on("exit", (code) =>
      code === 0 ? resolve(JSON.parse(output)) : reject(new Error(`load ${scenario} failed`)),
    ),
  );
}

async function seed(url: string): Promise<void> {
  const handle = connectDatabase({ url, poolSize: 1 });
  const client = handle.pool;
  try {
    const existing = await client.query("SELECT count(*)::int AS n FROM media");
    if (existing.rows[0].n >= ROWS) return;
    const started = performance.now();
    for (let from = existing.rows[0].n + 1; from <= ROWS; from += 100_000) {
      const to = Math.min(ROWS, from + 99_999);
      await client.query(
        `INSERT INTO media (store, key, content_type, size_bytes, state, delete_time)
         SELECT 'default', 'bench/' || g || '.jpg', 'image/jpeg', 1000 + g % 5000, 'PENDING', now() + interval '1 day'
         FROM generate_series($1::int, $2::int) g`,
        [from, to],
      );
      log(`  seeded ${to.toLocaleString("en")} / ${ROWS.toLocaleString("en")} media`);
    }
    await client.query("VACUUM ANALYZE media");
    log(`  seeding took ${((performance.now() - started) / 1000).toFixed(1)} s`);
  } finally {
    await handle.close();
  }
}

const db = await benchDatabase("bench");
let server: ChildProcess | undefined;
try {
  log(`media lifecycle bench: ${ROWS.toLocaleString("en")} rows, ${CONCURRENCY} concurrent, ${SECONDS} s per scenario`);
  log("starting the service (applies migrations)...");
  server = await startServer(db.url);
  log("seeding...");
  await seed(db.url);

  const results: LoadResult[] = [];
  for (const scenario of ["health", "get", "linkUnlink", "directLinkUnlink"]) {
    log(`running ${scenario} for ${SECONDS} s...`);
    const result = await runLoad(scenario, db.url);
    if (result.errors > 0) log(`  ${result.errors} errors, first: ${result.firstError}`);
    results.push(result);
  }
  const [ceiling, get, linkUnlink, directLinkUnlink] = results as [LoadResult, LoadResult, LoadResult, LoadResult];
  const row = (name: string, r: LoadResult) =>
    `| ${name} | ${Math.round(r.reqPerSec).toLocaleString("en")} | ${r.p50Ms.toFixed(2)} | ${r.p99Ms.toFixed(2)} | ${r.errors} |`;
  const table = [
    "| scenario (gRPC over HTTP/2, 64 in flight) | req/s | p50 ms | p99 ms | errors |",
    "|---|---:|---:|---:|---:|",
    row("no-database ceiling (grpc.health.v1 Check)", ceiling),
    row(`GetMedia, random ids over ${ROWS.toLocaleString("en")} rows`, get),
    row("LinkMedia + UnlinkMedia through the service (each durable)", linkUnlink),
    row("media_link + media_unlink called directly, one per transaction", directLinkUnlink),
    "",
    `GetMedia / ceiling = ${((get.reqPerSec / ceiling.reqPerSec) * 100).toFixed(0)}% (bar: >= 50%)`,
    `Link+Unlink through the service / called directly = ${(linkUnlink.reqPerSec / directLinkUnlink.reqPerSec).toFixed(2)}x (bar: >= 1.0x)`,
  ].join("\n");
  log(`\n${table}\n`);
  await mkdir(path.join(root, "bench/results"), { recursive: true });
  await writeFile(
    path.join(root, "bench/results/core.json"),
    JSON.stringify({ ROWS, CONCURRENCY, SECONDS, results }, null, 2),
  );
} finally {
  server?.kill("SIGTERM");
  await new Promise((r) => setTimeout(r, 500));
  await db.stop();
}
