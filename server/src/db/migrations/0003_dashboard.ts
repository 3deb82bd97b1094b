import { type Kysely, sql } from "kysely";

// Frozen once released. What the dashboard reads: an hourly tally of the
// workers' deletions, and indexes behind every media-list filter and order.

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    -- One row per hour with any deletion activity, added to by each finished
    -- batch (one upsert per batch, not per file), so the history chart never
    -- scans the event log.
    CREATE TABLE deletion_hourly (
      hour timestamptz PRIMARY KEY,
      deleted_count bigint NOT NULL DEFAULT 0,
      deleted_bytes bigint NOT NULL DEFAULT 0,
      failed_count bigint NOT NULL DEFAULT 0
    );

    -- What the code already does, now stated: a LINKED or FAILED media is not
    -- scheduled for deletion. The media list relies on it (deletion-time order
    -- skips its scheduled part for these states).
    ALTER TABLE media ADD CONSTRAINT media_unscheduled_states
      CHECK (state NOT IN ('LINKED', 'FAILED') OR delete_time IS NULL);

    -- The "deletion time" order of the media list (scheduled media, soonest
    -- first), with and without a state filter.
    CREATE INDEX media_delete_order_idx ON media (delete_time, id);
    CREATE INDEX media_state_delete_order_idx ON media (state, delete_time, id);

    -- Label filters (labels @> '{"k": "v"}'). Partial: media without labels,
    -- the common case, cost this index nothing on each state change.
    CREATE INDEX media_labels_idx ON media USING gin (labels jsonb_path_ops) WHERE labels <> '{}'::jsonb;
  `.execute(db);
}
