import { type Kysely, sql } from "kysely";

// Frozen once released. Counts and bytes per state without counting rows:
// every statement that inserts, updates or deletes media rows appends what it
// changed per state to media_state_deltas (statement triggers over transition
// tables: one small insert per statement, whatever its row count, and no row
// every writer must lock, so no hot spot); the sweep folds the deltas into
// media_state_totals now and then. The totals are the sum of both tables,
// read in one statement (so one snapshot). The same statements keep, per
// five-minute slot of delete_time, the files and bytes scheduled for deletion
// (the rule of SCHEDULED in server/src/deletion/due.ts) and, per slot of
// purge_time, those in the trash (IN_TRASH): "due within 24 hours" is then the
// whole slots' totals plus one partial slot read from the due index. `npm run repair:stats`
// recounts from the rows if they ever drift.

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE media_state_totals (
      state media_state PRIMARY KEY,
      files bigint NOT NULL,
      bytes numeric NOT NULL
    );
    CREATE TABLE media_state_deltas (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      state media_state NOT NULL,
      files bigint NOT NULL,
      bytes numeric NOT NULL
    );

    -- kind 'due': scheduled for deletion, by the slot of delete_time; 'purge': in the trash, by the
    -- slot of purge_time. slot is whole five minutes since 1970 (whatever the session's time zone).
    CREATE TABLE media_window_totals (
      kind text NOT NULL CHECK (kind IN ('due', 'purge')),
      slot bigint NOT NULL,
      files bigint NOT NULL,
      bytes numeric NOT NULL,
      PRIMARY KEY (kind, slot)
    );
    CREATE TABLE media_window_deltas (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      kind text NOT NULL,
      slot bigint NOT NULL,
      files bigint NOT NULL,
      bytes numeric NOT NULL
    );

    -- The windows a row counts in: scheduled for deletion (SCHEDULED), in the trash (IN_TRASH).
    CREATE FUNCTION media_change_windows(p_state media_state, p_hold text, p_claim uuid,
        p_delete_time timestamptz, p_purge_time timestamptz)
    RETURNS TABLE (kind text, slot bigint) LANGUAGE sql IMMUTABLE AS $f$
      SELECT 'due', floor(extract(epoch FROM p_delete_time) / 300)::bigint
        WHERE p_state IN ('PENDING', 'ORPHANED') AND p_hold IS NULL AND p_claim IS NULL AND p_delete_time IS NOT NULL
      UNION ALL
      SELECT 'purge', floor(extract(epoch FROM p_purge_time) / 300)::bigint
        WHERE p_purge_time IS NOT NULL AND p_hold IS NULL AND p_claim IS NULL
    $f$;

    CREATE FUNCTION media_record_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      -- TG_OP decides which transition tables exist; the empty side reads as no rows.
      IF TG_OP = 'INSERT' THEN
        INSERT INTO media_state_deltas (state, files, bytes)
          SELECT state, count(*), sum(size_bytes) FROM new_rows GROUP BY state;
        INSERT INTO media_window_deltas (kind, slot, files, bytes)
          SELECT w.kind, w.slot, count(*), sum(n.size_bytes)
          FROM new_rows n CROSS JOIN LATERAL media_change_windows(n.state, n.hold_reason, n.claim_token,
            n.delete_time, n.purge_time) w
          GROUP BY w.kind, w.slot;
      ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO media_state_deltas (state, files, bytes)
          SELECT state, -count(*), -sum(size_bytes) FROM old_rows GROUP BY state;
        INSERT INTO media_window_deltas (kind, slot, files, bytes)
          SELECT w.kind, w.slot, -count(*), -sum(o.size_bytes)
          FROM old_rows o CROSS JOIN LATERAL media_change_windows(o.state, o.hold_reason, o.claim_token,
            o.delete_time, o.purge_time) w
          GROUP BY w.kind, w.slot;
      ELSE
        INSERT INTO media_state_deltas (state, files, bytes)
          SELECT state, sum(files), sum(bytes) FROM (
            SELECT state, -1 AS files, -size_bytes AS bytes FROM old_rows
            UNION ALL
            SELECT state, 1, size_bytes FROM new_rows
          ) changed
          GROUP BY state HAVING sum(files) <> 0 OR sum(bytes) <> 0;
        INSERT INTO media_window_deltas (kind, slot, files, bytes)
          SELECT kind, slot, sum(files), sum(bytes) FROM (
            SELECT w.kind, w.slot, -1 AS files, -o.size_bytes AS bytes
            FROM old_rows o CROSS JOIN LATERAL media_change_windows(o.state, o.hold_reason, o.claim_token,
              o.delete_time, o.purge_time) w
            UNION ALL
            SELECT w.kind, w.slot, 1, n.size_bytes
            FROM new_rows n CROSS JOIN LATERAL media_change_windows(n.state, n.hold_reason, n.claim_token,
              n.delete_time, n.purge_time) w
          ) changed
          GROUP BY kind, slot HAVING sum(files) <> 0 OR sum(bytes) <> 0;
      END IF;
      RETURN NULL;
    END $$;
    CREATE TRIGGER media_record_insert AFTER INSERT ON media
      REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION media_record_change();
    CREATE TRIGGER media_record_update AFTER UPDATE ON media
      REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION media_record_change();
    CREATE TRIGGER media_record_delete AFTER DELETE ON media
      REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION media_record_change();

    -- The starting totals, counted while no one writes (the triggers count from here on). Only the
    -- states that have rows: a state first seen later gets its row when the sweep folds its deltas
    -- (and this may run in the transaction that added TRASHED, which must not use it yet).
    LOCK TABLE media IN SHARE MODE;
    INSERT INTO media_state_totals (state, files, bytes)
      SELECT state, count(*), sum(size_bytes) FROM media GROUP BY state;
    INSERT INTO media_window_totals (kind, slot, files, bytes)
      SELECT w.kind, w.slot, count(*), sum(m.size_bytes)
      FROM media m CROSS JOIN LATERAL media_change_windows(m.state, m.hold_reason, m.claim_token,
        m.delete_time, m.purge_time) w
      GROUP BY w.kind, w.slot;
  `.execute(db);
}
