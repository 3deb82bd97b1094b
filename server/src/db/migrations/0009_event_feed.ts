import { type Kysely, sql } from "kysely";

// Frozen once released. The change feed (MediaService.ListEvents) reads the
// audit log in commit order and by store:
// - xact: the writing transaction's id. Event ids are taken before commit, so
//   they do not commit in order; the feed orders by (xact, id) and shows only
//   events below the oldest running transaction (pg_snapshot_xmin), where
//   nothing can still appear before them. The constant default adds the column
//   without rewriting the table (the events written before sit at position 1,
//   in id order); new events take their transaction's id.
// - store: the media's store, kept on the event because the row may be gone
//   (DELETED, PURGED, ERASED). Existing events take it from media where the row
//   still exists; events of rows already gone keep none. A new event takes it
//   from its media row when the insert gives none (one trigger, one lookup by
//   primary key), and the insert fails when neither exists: a statement that
//   deletes the row and writes its event passes the store itself.
// Each event costs two more index inserts: (xact, id) for the feed's order and
// (id) for finding a cursor's position.

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE media_events ADD COLUMN xact xid8 NOT NULL DEFAULT '1';
    ALTER TABLE media_events ALTER COLUMN xact SET DEFAULT pg_current_xact_id();
    ALTER TABLE media_events ADD COLUMN store text;

    ALTER TABLE media_events DISABLE TRIGGER media_events_append_only;
    UPDATE media_events e SET store = m.store FROM media m WHERE m.id = e.media_id;
    ALTER TABLE media_events ENABLE TRIGGER media_events_append_only;

    CREATE INDEX media_events_feed_idx ON media_events (xact, id);
    CREATE INDEX media_events_id_idx ON media_events (id);

    CREATE FUNCTION media_events_store() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      SELECT m.store INTO NEW.store FROM media m WHERE m.id = NEW.media_id;
      IF NEW.store IS NULL THEN
        RAISE EXCEPTION 'media_events: event % of media % names no store and the media has no row', NEW.type, NEW.media_id
          USING HINT = 'a statement that deletes the media row passes the store from its RETURNING rows';
      END IF;
      RETURN NEW;
    END $$;
    CREATE TRIGGER media_events_store BEFORE INSERT ON media_events
      FOR EACH ROW WHEN (NEW.store IS NULL) EXECUTE FUNCTION media_events_store();

    -- As 0008's: an erasure may redact owner names, and nothing else changes (xact and store neither).
    CREATE OR REPLACE FUNCTION media_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'UPDATE' AND OLD.owner IS NOT NULL AND NEW.owner IS NULL
         AND (NEW.id, NEW.media_id, NEW.type, NEW.from_state, NEW.to_state, NEW.actor, NEW.reason,
              NEW.create_time, NEW.bulk_action_id, NEW.xact, NEW.store)
             IS NOT DISTINCT FROM
             (OLD.id, OLD.media_id, OLD.type, OLD.from_state, OLD.to_state, OLD.actor, OLD.reason,
              OLD.create_time, OLD.bulk_action_id, OLD.xact, OLD.store) THEN
        RETURN NEW;
      END IF;
      RAISE EXCEPTION 'media_events is append-only';
    END $$;
  `.execute(db);
}
