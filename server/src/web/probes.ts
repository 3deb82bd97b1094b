import type { Kysely } from "kysely";
import { sql } from "kysely";
import { pendingMigrations } from "../db/migrate.ts";
import type { Database } from "../db/schema.ts";
import { withDeadline } from "../deadline.ts";

// /readyz: whether this process should get traffic. /healthz (alive) needs no check.

export interface Readiness {
  readonly ready: boolean;
  readonly checks: Readonly<Record<string, string>>;
}

/** How long the database gets to answer before the probe calls it unreachable. */
const PROBE_TIMEOUT_MS = 1000;

/** How long one database check answers every probe: probes need no token, so they must stay cheap. */
const REUSE_MS = 1000;

/**
 * Ready when serving (not shutting down), the database answers, and every
 * migration this code knows is applied. Concurrent probes share one check.
 */
export function createReadinessCheck(db: Kysely<Database>, serving: () => boolean): () => Promise<Readiness> {
  let last: { at: number; check: Promise<Readiness> } | undefined;
  const checkDatabase = async (): Promise<Readiness> => {
    try {
      const pending = await withDeadline(
        sql`SELECT 1`.execute(db).then(() => pendingMigrations(db)),
        PROBE_TIMEOUT_MS,
        "readiness check",
      );
      const migrations = pending.length === 0 ? "current" : `pending: ${pending.join(", ")}`;
      return { ready: pending.length === 0, checks: { serving: "yes", database: "reachable", migrations } };
    } catch {
      // The probe answers without a token, so it names no host or error detail.
      return { ready: false, checks: { serving: "yes", database: "unreachable" } };
    }
  };
  return async () => {
    if (!serving()) return { ready: false, checks: { serving: "shutting down" } };
    const now = performance.now();
    if (last === undefined || now - last.at >= REUSE_MS) last = { at: now, check: checkDatabase() };
    return last.check;
  };
}
