// `npm run bench flood`: valid GetMedia latency while a bounded bad-token flood
// comes from another address, beside the same calls with no flood, on both
// ports, in one run. Runs the real service (default limits, AUTH_FAILURE_LIMIT
// included) as a child process against an embedded PostgreSQL (or
// BENCH_DATABASE_URL); the valid caller and the flood are processes of their
// own (bench/flood-load.ts), on 127.0.0.1 and 127.0.0.2. Options (env):
//   BENCH_SECONDS (10)  BENCH_CONCURRENCY (4, valid calls in flight)
//   BENCH_FLOOD_RATE (3200 calls/s)  BENCH_FLOOD_CALLS (100000)  BENCH_FLOOD_CONCURRENCY (64)
import { type ChildProcess, spawn } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { connectDatabase } from "@media/server/db";
import { startupLineWatcher } from "@media/server/testing";
import { BENCH_AUTH_ENV, benchDatabase, fmt, log, root } from "./shared.ts";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 4);
const FLOOD_RATE = Number(process.env.BENCH_FLOOD_RATE ?? 3200);
const FLOOD_CALLS = Number(process.env.BENCH_FLOOD_CALLS ?? 100_000);
const FLOOD_CONCURRENCY = Number(process.env.BENCH_FLOOD_CONCURRENCY ?? 64);
const ROWS = 10_000;

async function startServer(databaseUrl: string): Promise<{ child: ChildProcess; ports: Record<string, number> }> {
  const child = spawn(process.execPath, ["server/src/main.ts"], {
    cwd: root,
    env: {
      ...process.env,
      ...BENCH_AUTH_ENV,
      DATABASE_URL: databaseUrl,
      GRPC_PORT: "0",
      HTTP_PORT: "0",
      LOG_LEVEL: "warn",
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const watch = startupLineWatcher();
  return new Promise((resolve, reject) => {
    child.stdout?.on("data", (chunk: Buffer) => {
      const { grpc, http } = watch(chunk.toString())?.ports ?? {};
      if (grpc !== undefined && http !== undefined) resolve({ child, ports: { grpc, connect: http } });
    });
    child.on("exit", (code) => reject(new Error(`server exited with ${code} before it was up`)));
  });
}

interface LoadResult {
  calls: number;
  codes: Record<string, number>;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
}

function runLoad(args: (string | number)[]): Promise<LoadResult> {
  const child = spawn(process.execPath, ["bench/flood-load.ts", ...args.map(String)], {
    cwd: root,
    stdio: ["ignore", "pipe", "inherit"],
  });
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  return new Promise((resolve, reject) =>
    child.on("exit", (code) => (code === 0 ? resolve(JSON.parse(output)) : reject(new Error(`load ${args} failed`)))),
  );
}

const db = await benchDatabase("flood");
let server: ChildProcess | undefined;
try {
  log(
    `flood bench: ${SECONDS} s per scenario, ${CONCURRENCY} valid GetMedia in flight; flood of at most ` +
      `${fmt(FLOOD_CALLS)} wrong-token calls at ${fmt(FLOOD_RATE)}/s (${FLOOD_CONCURRENCY} in flight)`,
  );
  const started = await startServer(db.url);
  server = started.child;
  const sql = connectDatabase({ url: db.url, poolSize: 1 });
  await sql.pool.query(
    `INSERT INTO media (store, key, content_type, size_bytes, state, delete_time)
     SELECT 'default', 'bench/' || g || '.jpg', 'image/jpeg', 1000, 'PENDING', now() + interval '1 day'
     FROM generate_series(1, $1::int) g`,
    [ROWS],
  );
  await sql.close();

  const valid = (protocol: string) => [
    protocol,
    started.ports[protocol]!,
    "valid",
    "127.0.0.1",
    CONCURRENCY,
    SECONDS,
    ROWS,
  ];
  const rows: string[] = [];
  const results: Record<string, unknown> = {};
  for (const protocol of ["grpc", "connect"]) {
    log(`${protocol}: valid calls alone...`);
    const alone = await runLoad(valid(protocol));
    log(`${protocol}: valid calls during the flood...`);
    const [during, flood] = await Promise.all([
      runLoad(valid(protocol)),
      runLoad([
        protocol,
        started.ports[protocol]!,
        "wrong",
        "127.0.0.2",
        FLOOD_CONCURRENCY,
        SECONDS,
        ROWS,
        FLOOD_RATE,
        FLOOD_CALLS,
      ]),
    ]);
    results[protocol] = { alone, during, flood };
    const answers = Object.entries(flood.codes)
      .map(([code, n]) => `${code} ${fmt(n)}`)
      .join(", ");
    rows.push(
      `| ${protocol === "grpc" ? "gRPC (grpc-js, HTTP/2)" : "Connect JSON (HTTP/1.1)"} | ${alone.p50Ms.toFixed(2)} / ${alone.p99Ms.toFixed(2)} | ` +
        `${during.p50Ms.toFixed(2)} / ${during.p99Ms.toFixed(2)} | ${fmt(alone.perSecond)} → ${fmt(during.perSecond)} | ` +
        `${fmt(flood.perSecond)} (${answers}) |`,
    );
  }
  const table = [
    "| port | valid GetMedia alone, p50 / p99 ms | during the flood, p50 / p99 ms | valid calls/s | flood calls/s (answers) |",
    "|---|---:|---:|---:|---|",
    ...rows,
  ].join("\n");
  log(`\n${table}\n`);
  await mkdir(path.join(root, "bench/results"), { recursive: true });
  await writeFile(
    path.join(root, "bench/results/flood.json"),
    JSON.stringify({ SECONDS, CONCURRENCY, FLOOD_RATE, FLOOD_CALLS, FLOOD_CONCURRENCY, results }, null, 2),
  );
} finally {
  server?.kill("SIGTERM");
  await new Promise((r) => setTimeout(r, 500));
  await db.stop();
}
