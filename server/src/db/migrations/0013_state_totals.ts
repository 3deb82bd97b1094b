import { type Kysely, sql } from "kysely";

// Frozen once released. Counts and bytes per state without counting rows:
// every statement that inserts, updates or deletes media rows appends what it
// changed per state to media_state_deltas (statement triggers over transition
// tables: one small insert per statement, whatever its row count, and no row
// every writer must lock, so no hot spot); the sweep folds the deltas into
// media_state_totals now and then. The totals are the sum of both tables,
// read in one statement (so one snapshot). `npm run repair:stats` recounts
// from the rows if they ever drift.

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

    CREATE FUNCTION media_state_deltas_insert() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO media_state_deltas (state, files, bytes)
        SELECT state, count(*), sum(size_bytes) FROM new_rows GROUP BY state;
      RETURN NULL;
    END $$;
    CREATE FUNCTION media_state_deltas_update() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO media_state_deltas (state, files, bytes)
        SELECT state, sum(files), sum(bytes) FROM (
          SELECT state, -1 AS files, -size_bytes AS bytes FROM old_rows
          UNION ALL
          SELECT state, 1, size_bytes FROM new_rows
        ) changed
        GROUP BY state HAVING sum(files) <> 0 OR sum(bytes) <> 0;
      RETURN NULL;
    END $$;
    CREATE FUNCTION media_state_deltas_delete() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO media_state_deltas (state, files, bytes)
        SELECT state, -count(*), -sum(size_bytes) FROM old_rows GROUP BY state;
      RETURN NULL;
    END $$;
    CREATE TRIGGER media_state_deltas_insert AFTER INSERT ON media
      REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION media_state_deltas_insert();
    CREATE TRIGGER media_state_deltas_update AFTER UPDATE ON media
      REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
      FOR EACH STATEMENT EXECUTE FUNCTION media_state_deltas_update();
    CREATE TRIGGER media_state_deltas_delete AFTER DELETE ON media
      REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION media_state_deltas_delete();

    -- The starting totals, counted while no one writes (the triggers count from here on).
    LOCK TABLE media IN SHARE MODE;
    INSERT INTO media_state_totals (state, files, bytes)
      SELECT s.state, count(m.id), coalesce(sum(m.size_bytes), 0)
      FROM unnest(enum_range(NULL::media_state)) AS s(state)
      LEFT JOIN media m ON m.state = s.state
      GROUP BY s.state;
  `.execute(db);
}
