import { type Kysely, sql } from "kysely";

// Frozen once released. The audit log partitioned by month of create_time, so
// EVENTS_RETENTION drops whole partitions (no DELETE, no vacuum debt, and the
// append-only rule stays: rows are never deleted one by one).
// - The existing table becomes the first partition, media_events_legacy, as it
//   is (its indexes are attached, not rebuilt; only the primary key, which must
//   now include create_time, is built), holding the events written before this
//   migration. Then one partition per UTC month (the first from now to the
//   month's end), created ahead by media_events_prepare (every process start
//   and every sweep); there is no default partition, so a partition is never
//   split later.
// - media_event_partitions lists them with their ends; media_events_drop_before
//   drops the partitions that end by a time and remembers the latest end it
//   dropped (a timeline then says its older events are gone).
// - Ids come from a sequence of their own, continuing the old identity's.

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE media_events RENAME TO media_events_legacy;
    ALTER INDEX media_events_owner_idx RENAME TO media_events_legacy_owner_idx;
    ALTER INDEX media_events_feed_idx RENAME TO media_events_legacy_feed_idx;
    ALTER INDEX media_events_id_idx RENAME TO media_events_legacy_id_idx;
    DROP TRIGGER media_events_append_only ON media_events_legacy;
    DROP TRIGGER media_events_store ON media_events_legacy;
    ALTER TABLE media_events_legacy ALTER COLUMN id DROP IDENTITY;

    CREATE SEQUENCE media_events_id_seq AS bigint;
    SELECT setval('media_events_id_seq', coalesce(max(id), 0) + 1, false) FROM media_events_legacy;

    CREATE TABLE media_events (
      id bigint NOT NULL DEFAULT nextval('media_events_id_seq'),
      media_id bigint NOT NULL,
      type text NOT NULL,
      from_state media_state,
      to_state media_state,
      owner text,
      actor text NOT NULL,
      reason text NOT NULL DEFAULT '',
      create_time timestamptz NOT NULL DEFAULT now(),
      bulk_action_id bigint,
      xact xid8 NOT NULL DEFAULT pg_current_xact_id(),
      store text,
      PRIMARY KEY (media_id, id, create_time)
    ) PARTITION BY RANGE (create_time);
    ALTER SEQUENCE media_events_id_seq OWNED BY media_events.id;
    CREATE INDEX media_events_owner_idx ON media_events (owner) WHERE owner IS NOT NULL;
    CREATE INDEX media_events_feed_idx ON media_events (xact, id);
    CREATE INDEX media_events_id_idx ON media_events (id);

    CREATE TABLE media_event_partitions (
      name text PRIMARY KEY,
      ends timestamptz NOT NULL UNIQUE,
      -- Set when EVENTS_RETENTION dropped it.
      drop_time timestamptz
    );

    -- Its key becomes the parent's (media_id, id, create_time), built as it is attached. Every event so
    -- far was written before this transaction began (the renames above lock the log).
    ALTER TABLE media_events_legacy DROP CONSTRAINT media_events_pkey;
    DO $$
    BEGIN
      EXECUTE format('ALTER TABLE media_events ATTACH PARTITION media_events_legacy FOR VALUES FROM (MINVALUE) TO (%L)', now());
      INSERT INTO media_event_partitions (name, ends) VALUES ('media_events_legacy', now());
    END $$;

    -- Row triggers on the parent reach every partition; a TRUNCATE trigger is per table.
    CREATE TRIGGER media_events_append_only BEFORE UPDATE OR DELETE ON media_events
      FOR EACH ROW EXECUTE FUNCTION media_events_append_only();
    CREATE TRIGGER media_events_store BEFORE INSERT ON media_events
      FOR EACH ROW WHEN (NEW.store IS NULL) EXECUTE FUNCTION media_events_store();
    CREATE TRIGGER media_events_no_truncate BEFORE TRUNCATE ON media_events
      FOR EACH STATEMENT EXECUTE FUNCTION media_events_append_only();

    -- Monthly partitions (UTC months) from the last one's end until p_until; returns how many it made.
    CREATE FUNCTION media_events_prepare(p_until timestamptz) RETURNS integer LANGUAGE plpgsql AS $$
    DECLARE
      v_start timestamptz;
      v_end timestamptz;
      v_name text;
      v_made integer := 0;
    BEGIN
      -- One at a time: every process start and every sweep call this.
      PERFORM pg_advisory_xact_lock(hashtextextended('media_events_prepare', 0));
      LOOP
        SELECT max(ends) INTO v_start FROM media_event_partitions;
        EXIT WHEN v_start >= p_until;
        v_end := (date_trunc('month', v_start AT TIME ZONE 'UTC') + interval '1 month') AT TIME ZONE 'UTC';
        v_name := 'media_events_' || to_char(v_start AT TIME ZONE 'UTC', 'YYYY_MM');
        EXECUTE format('CREATE TABLE %I PARTITION OF media_events FOR VALUES FROM (%L) TO (%L)', v_name, v_start, v_end);
        EXECUTE format(
          'CREATE TRIGGER media_events_no_truncate BEFORE TRUNCATE ON %I FOR EACH STATEMENT EXECUTE FUNCTION media_events_append_only()',
          v_name);
        INSERT INTO media_event_partitions (name, ends) VALUES (v_name, v_end);
        v_made := v_made + 1;
      END LOOP;
      RETURN v_made;
    END $$;

    -- Drops the partitions whose every event is older than p_before; returns how many it dropped.
    -- Waits at most a moment for the lock a drop takes on the log: a busy log is retried next time.
    CREATE FUNCTION media_events_drop_before(p_before timestamptz) RETURNS integer LANGUAGE plpgsql AS $$
    DECLARE
      v record;
      v_dropped integer := 0;
    BEGIN
      PERFORM set_config('lock_timeout', '2s', true);
      FOR v IN SELECT name FROM media_event_partitions WHERE drop_time IS NULL AND ends <= p_before ORDER BY ends LOOP
        EXECUTE format('DROP TABLE %I', v.name);
        UPDATE media_event_partitions SET drop_time = now() WHERE name = v.name;
        v_dropped := v_dropped + 1;
      END LOOP;
      RETURN v_dropped;
    END $$;

    SELECT media_events_prepare(now() + interval '3 months');
  `.execute(db);
}
