import { type Kysely, sql } from "kysely";

// Frozen once released. What the workers did and which of them are alive:
// one heartbeat row per worker process (written at start and every few
// seconds; a dead worker's row ages), and the recent sweeps and batches
// (written by the tasks; the sweep deletes rows older than 7 days).

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE worker_heartbeats (
      id uuid PRIMARY KEY,
      host text NOT NULL,
      pid integer NOT NULL,
      version text NOT NULL,
      concurrency integer NOT NULL,
      started_at timestamptz NOT NULL DEFAULT now(),
      last_seen_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX worker_heartbeats_last_seen_idx ON worker_heartbeats (last_seen_at);

    CREATE TABLE deletion_runs (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      kind text NOT NULL CHECK (kind IN ('sweep', 'batch')),
      worker_id uuid NOT NULL,
      job_id text NOT NULL,
      started_at timestamptz NOT NULL,
      finished_at timestamptz NOT NULL DEFAULT now(),
      duration_ms bigint NOT NULL CHECK (duration_ms >= 0),
      files bigint NOT NULL DEFAULT 0,
      bytes numeric NOT NULL DEFAULT 0,
      failures bigint NOT NULL DEFAULT 0,
      reclaimed bigint NOT NULL DEFAULT 0,
      note text NOT NULL DEFAULT '' CHECK (length(note) <= 2000)
    );
    CREATE INDEX deletion_runs_finished_idx ON deletion_runs (finished_at);
  `.execute(db);
}
