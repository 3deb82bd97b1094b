// Which database the seed fills: DATABASE_URL, the embedded PostgreSQL of a
// running service, or that one started here for this command alone (the seed,
// repair:stats).
import type { Config } from "@media/server/config";
import { connectDatabase } from "@media/server/db";
import type { Logger } from "@media/server/logger";
import { type DatabaseLocation, resolveDatabase } from "@media/server/process";
import { say } from "./common.ts";

export interface OpenedDatabase {
  readonly location: DatabaseLocation;
  /** True when this script started the embedded PostgreSQL (so no service is running). */
  readonly startedHere: boolean;
}

/** Whether a server answers at url. A refused connection means none runs; any other error is real. */
async function answers(url: string): Promise<boolean> {
  const probe = connectDatabase({ url, poolSize: 1 });
  try {
    await probe.pool.query("SELECT 1");
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ECONNREFUSED") return false;
    throw error;
  } finally {
    await probe.close();
  }
}

/** DATABASE_URL; else the embedded PostgreSQL of a running `npm start`; else start that one here. */
export async function openDatabase(config: Config, log: Logger): Promise<OpenedDatabase> {
  if (config.databaseUrl !== undefined) {
    say("database: DATABASE_URL");
    return { location: await resolveDatabase(config, log), startedHere: false };
  }
  const attached = await resolveDatabase(config, log, true).catch(() => undefined);
  if (attached !== undefined && (await answers(attached.url))) {
    // Its port comes from the running server's postmaster.pid, not from EMBEDDED_POSTGRES_PORT.
    say(`database: the embedded PostgreSQL of the running service (port ${new URL(attached.url).port})`);
    return { location: attached, startedHere: false };
  }
  say(`database: no service runs on ${config.dataDir}; starting its embedded PostgreSQL for this command`);
  return { location: await resolveDatabase(config, log), startedHere: true };
}
