// `npm run repair:stats`: recounts the media per state from the rows and sets
// the constant-time totals GetStats and the lifecycle gauges read
// (server/src/media/state-totals.ts), printing any drift it corrected. Writers
// wait during the count (seconds at 10,000,000 rows). Same database settings as
// the service: DATABASE_URL, or the embedded PostgreSQL under DATA_DIR.
import { connectDatabase, migrateToLatest } from "@media/server/db";
import { createLogger } from "@media/server/logger";
import { repairStateTotals } from "@media/server/media";
import { loadConfigOrExit } from "@media/server/process";
import { say } from "./seed-demo/common.ts";
import { openDatabase } from "./seed-demo/database.ts";

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const log = createLogger(config.logLevel === "debug" ? "debug" : "warn");
  const opened = await openDatabase(config, log);
  const handle = connectDatabase({ url: opened.location.url, poolSize: 1 });
  try {
    await migrateToLatest(handle.db);
    say("recounting media per state (writers wait meanwhile)...");
    const started = performance.now();
    const drift = await repairStateTotals(handle.pool);
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    if (drift.length === 0) {
      say(`done in ${seconds} s: the totals were right`);
      return;
    }
    for (const d of drift) {
      say(
        `  ${d.state.padEnd(9)} was off by ${d.driftFiles} files and ${d.driftBytes} bytes; now ${d.countedFiles} files, ${d.countedBytes} bytes`,
      );
    }
    say(`done in ${seconds} s: ${drift.length} state(s) corrected`);
  } finally {
    await handle.close();
    await opened.location.stop();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`repair:stats failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
