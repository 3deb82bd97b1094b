// `npm run seed:demo [-- --reset]`: fills the one-command service with demo
// data so a newcomer sees a living dashboard. Real PNG, JSON and text files in
// the disk store "default"; about 200 media in every state, created through the
// repository functions the API uses (so their events are real); two deletions
// that really fail; and a week of demo deletion history for the overview chart.
// Everything it writes lives under the key prefix demo/, and --reset removes
// exactly that before seeding again. The parts are in scripts/seed-demo/: the
// catalogue (catalogue.ts and what it gathers), the back-dated times
// (timeline.ts), seeding one media (seeding.ts), the demo history (history.ts),
// the previous demo data (existing.ts) and the database (database.ts).
import path from "node:path";
import type { Config } from "@media/server/config";
import { connectDatabase, MEDIA_STATES, type MediaStateName, migrateToLatest } from "@media/server/db";
import { createLogger } from "@media/server/logger";
import { createAdminActions, createMediaRepository, getStats } from "@media/server/media";
import { loadConfigOrExit } from "@media/server/process";
import { type ObjectStore, openStores } from "@media/server/storage";
import { buildCatalogue } from "./seed-demo/catalogue.ts";
import { PREFIX, STORE, say } from "./seed-demo/common.ts";
import { openDatabase } from "./seed-demo/database.ts";
import { demoMedia, removeDemo, seededAt } from "./seed-demo/existing.ts";
import { addDemoHistory } from "./seed-demo/history.ts";
import { createRandom } from "./seed-demo/random.ts";
import { type SeedContext, seedOne } from "./seed-demo/seeding.ts";
import { timeline } from "./seed-demo/timeline.ts";

const USAGE = "usage: npm run seed:demo [-- --reset]";

function parseArgs(): { reset: boolean } {
  const args = process.argv.slice(2);
  if (args.includes("--help") || args.includes("-h")) {
    say(`${USAGE}\n  --reset  remove the previous demo data (key prefix ${PREFIX}) and seed again`);
    process.exit(0);
  }
  const unknown = args.filter((a) => a !== "--reset");
  if (unknown.length > 0) {
    process.stderr.write(`unknown argument ${unknown[0]}\n${USAGE}\n`);
    process.exit(2);
  }
  return { reset: args.includes("--reset") };
}

/** The disk store's folder, or exit: the demo writes real files, which an S3 store would need credentials for. */
function diskRoot(config: Config): string {
  const store = config.stores.get(STORE);
  if (store?.kind === "disk") return store.root;
  process.stderr.write(
    `seed:demo writes its files into the disk store "${STORE}", but ${
      store === undefined ? `STORES has no store named "${STORE}"` : `STORES makes "${STORE}" an S3 store`
    }. Run it without STORES (the default disk store under DATA_DIR) or with STORES=${STORE}=file:PATH.\n`,
  );
  process.exit(1);
}

/** Demo media per state, in the lifecycle's order, with how many of each are held. */
async function demoTally(ctx: SeedContext): Promise<{ state: MediaStateName; n: number; held: number }[]> {
  const rows = await demoMedia(ctx.handle);
  return MEDIA_STATES.map((state) => {
    const of = rows.filter((r) => r.state === state);
    return { state, n: of.length, held: of.filter((r) => r.hold_reason !== null).length };
  }).filter((r) => r.n > 0);
}

async function printSummary(ctx: SeedContext, startedHere: boolean): Promise<void> {
  const rows = await demoTally(ctx);
  const stats = await getStats(ctx.handle.pool);
  say("\ndemo media by state:");
  for (const r of rows) {
    say(`  ${r.state.padEnd(9)} ${String(r.n).padStart(4)}${r.held > 0 ? `  (${r.held} held)` : ""}`);
  }
  say(
    `due for deletion (all media): ${stats.dueNext24h.count} within 24 h, ${stats.dueNext7d.count} within 7 days (overdue included)`,
  );
  const url = `http://localhost:${ctx.config.httpPort === 0 ? 8080 : ctx.config.httpPort}`;
  say(
    "\nWith a worker running (npm start), the overdue orphans go at its next sweep, the stalled DELETING avatar\n" +
      "after CLAIM_TIMEOUT; the FAILED media wait for Retry in the dashboard (which fails again, for real).",
  );
  say(startedHere ? `\nopen ${url} (npm start)` : `\nopen ${url} (the running service shows it now)`);
}

async function main(): Promise<void> {
  const started = performance.now();
  const { reset } = parseArgs();
  const config = loadConfigOrExit();
  const root = diskRoot(config);
  // Quiet unless asked: this script prints its own progress lines.
  const log = createLogger(config.logLevel === "debug" ? "debug" : "warn");
  const opened = await openDatabase(config, log);
  const handle = connectDatabase({ url: opened.location.url, poolSize: 4 });
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= handle
      .close()
      .catch(() => {})
      .then(() => opened.location.stop());
    return closing;
  };
  // Stop the embedded PostgreSQL we started, even on Ctrl-C.
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      say(`\n${signal}: stopping (the seed is incomplete; run again with --reset)`);
      void close().finally(() => process.exit(130));
    });
  }
  try {
    const applied = await migrateToLatest(handle.db);
    if (applied.length > 0) say(`database schema: applied ${applied.join(", ")}`);
    const ctx: SeedContext = {
      config,
      handle,
      media: createMediaRepository(handle),
      admin: createAdminActions(handle.pool),
      root,
      store: openStores(config.stores).get(STORE) as ObjectStore,
    };
    const existing = (await demoMedia(handle)).map((m) => m.id);
    let since: Date | undefined;
    if (existing.length > 0) {
      if (!reset) {
        say(`demo data is already there (${existing.length} media under ${PREFIX}); nothing changed.`);
        say("run `npm run seed:demo -- --reset` to remove it and seed again.");
        return;
      }
      since = await seededAt(handle, existing);
      say(`--reset: removed ${await removeDemo(ctx)} demo media, their references and files (their events stay)`);
    }
    await seed(ctx, since);
    await printSummary(ctx, opened.startedHere);
    say(`done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  } finally {
    await close();
  }
}

async function seed(ctx: SeedContext, since: Date | undefined): Promise<void> {
  const now = Date.now();
  const random = createRandom(7);
  const planned = buildCatalogue(ctx.config, now).map((item) => ({
    item,
    times: timeline(item, random, now, ctx.config),
  }));
  // Oldest first: the media list orders "newest first" by id, so ids must follow create_time.
  planned.sort((a, b) => a.times.create.getTime() - b.times.create.getTime());
  say(`seeding ${planned.length} media into ${path.join(ctx.root, PREFIX)}`);
  let bytes = 0;
  for (const [i, { item, times }] of planned.entries()) {
    bytes += await seedOne(ctx, item, times);
    if ((i + 1) % 50 === 0 || i + 1 === planned.length) say(`  ${i + 1}/${planned.length} media`);
  }
  say(`  ${(bytes / 1024).toFixed(0)} KiB registered; two deletions failed for real, as intended`);
  const hours = await addDemoHistory(ctx.handle, since);
  say(
    hours === 0
      ? "deletion history: the previous seed's demo history still covers the past week"
      : `deletion history: demo counts added for the ${hours} past hours (on top of any real counts)`,
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`seed:demo failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
