import { type Kysely, sql } from "kysely";
import { type Migration, type MigrationProvider, Migrator } from "kysely/migration";
import { connectDatabase } from "./connect.ts";
import { prepareEventPartitions } from "./event-partitions.ts";
import * as initial from "./migrations/0001_initial.ts";
import * as deletion from "./migrations/0002_deletion.ts";
import * as dashboard from "./migrations/0003_dashboard.ts";
import * as leases from "./migrations/0004_leases.ts";
import * as boundedSizes from "./migrations/0005_bounded_sizes.ts";
import * as eventsNoTruncate from "./migrations/0006_events_no_truncate.ts";
import * as workerRuns from "./migrations/0007_worker_runs.ts";
import * as trash from "./migrations/0008_trash.ts";
import * as eventFeed from "./migrations/0009_event_feed.ts";
import * as reconciliation from "./migrations/0010_reconciliation.ts";
import * as attestation from "./migrations/0011_attestation.ts";
import * as groupCommit from "./migrations/0012_group_commit.ts";
import * as stateTotals from "./migrations/0013_state_totals.ts";
import * as eventsPartitioned from "./migrations/0014_events_partitioned.ts";
import * as dropClaimIndex from "./migrations/0015_drop_claim_index.ts";
import * as setWiseReferenceGroup from "./migrations/0016_set_wise_reference_group.ts";

/** Every migration, in order. Listed statically so bundling and tsx need no directory scan. */
const MIGRATIONS: Readonly<Record<string, Migration>> = {
  "0001_initial": initial,
  "0002_deletion": deletion,
  "0003_dashboard": dashboard,
  "0004_leases": leases,
  "0005_bounded_sizes": boundedSizes,
  "0006_events_no_truncate": eventsNoTruncate,
  "0007_worker_runs": workerRuns,
  "0008_trash": trash,
  "0009_event_feed": eventFeed,
  "0010_reconciliation": reconciliation,
  "0011_attestation": attestation,
  "0012_group_commit": groupCommit,
  "0013_state_totals": stateTotals,
  "0014_events_partitioned": eventsPartitioned,
  "0015_drop_claim_index": dropClaimIndex,
  "0016_set_wise_reference_group": setWiseReferenceGroup,
};

const provider: MigrationProvider = { getMigrations: async () => ({ ...MIGRATIONS }) };

/**
 * Applies pending migrations. Kysely holds an advisory lock meanwhile, so many
 * replicas starting at once apply each migration exactly once.
 */
// biome-ignore lint/suspicious/noExplicitAny: migrations run before any table type applies
export async function migrateToLatest(db: Kysely<any>): Promise<string[]> {
  const migrator = new Migrator({ db, provider });
  const { error, results } = await migrator.migrateToLatest();
  if (error !== undefined) {
    const failed = results?.find((r) => r.status === "Error")?.migrationName ?? "unknown";
    throw new Error(`database migration ${failed} failed: ${error instanceof Error ? error.message : String(error)}`);
  }
  return (results ?? []).filter((r) => r.status === "Success").map((r) => r.migrationName);
}

/**
 * Applies pending migrations over a connection of its own, without the calls'
 * session limits (a migration may run long), and closes it. Every process runs
 * this at start-up; returns the names applied.
 */
export async function migrateDatabase(url: string, connectTimeoutMs: number): Promise<string[]> {
  const schema = connectDatabase({ url, poolSize: 1, connectTimeoutMs });
  try {
    const applied = await migrateToLatest(schema.db);
    // The audit log's partitions for the months ahead, whether or not a worker sweeps.
    await prepareEventPartitions(schema.pool);
    return applied;
  } finally {
    await schema.close();
  }
}

/** Names of migrations this code knows that the database has not applied yet: one small read. */
// biome-ignore lint/suspicious/noExplicitAny: reads only Kysely's own migration table
export async function pendingMigrations(db: Kysely<any>): Promise<string[]> {
  const { rows } = await sql<{ name: string }>`SELECT name FROM kysely_migration`.execute(db);
  const applied = new Set(rows.map((r) => r.name));
  return Object.keys(MIGRATIONS).filter((name) => !applied.has(name));
}
