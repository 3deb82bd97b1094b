import { type Kysely, sql } from "kysely";

// Frozen once released. The deletion engine's state: one control row, and an
// index that finds claims whose worker went away.

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE deletion_control (
      singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
      paused boolean NOT NULL DEFAULT false,
      pause_reason text NOT NULL DEFAULT '',
      -- Set by a sweep that found more due files than the blast-radius limit.
      guard_tripped_time timestamptz,
      guard_due_count bigint,
      -- After an admin confirms, sweeps may delete up to this many due files at once.
      guard_allowance bigint NOT NULL DEFAULT 0,
      update_time timestamptz NOT NULL DEFAULT now()
    );
    INSERT INTO deletion_control DEFAULT VALUES;

    -- Claimed rows only: finds a batch by its token, and (few claims are in
    -- flight at once) the claims that timed out.
    CREATE INDEX media_claim_idx ON media (claim_token) WHERE state = 'DELETING';
  `.execute(db);
}
