import { type Kysely, sql } from "kysely";

// Frozen: this migration has shipped. Change the schema with a new file.

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TYPE media_state AS ENUM ('PENDING', 'LINKED', 'ORPHANED', 'DELETING', 'FAILED');

    CREATE TABLE media (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      store text NOT NULL,
      -- "C" collation so that key-prefix filters can use a btree index.
      key text COLLATE "C" NOT NULL,
      content_type text NOT NULL DEFAULT '',
      size_bytes bigint NOT NULL DEFAULT 0 CHECK (size_bytes >= 0),
      labels jsonb NOT NULL DEFAULT '{}',
      state media_state NOT NULL DEFAULT 'PENDING',
      reference_count integer NOT NULL DEFAULT 0 CHECK (reference_count >= 0),
      create_time timestamptz NOT NULL DEFAULT now(),
      update_time timestamptz NOT NULL DEFAULT now(),
      orphan_time timestamptz,
      delete_time timestamptz,
      hold_reason text,
      claim_token uuid,
      claim_time timestamptz,
      delete_attempts integer NOT NULL DEFAULT 0,
      last_error text,
      CONSTRAINT media_store_key_key UNIQUE (store, key),
      -- The database itself refuses a referenced row in any state but LINKED.
      CONSTRAINT media_linked_iff_referenced CHECK ((state = 'LINKED') = (reference_count > 0))
    );

    -- Serves the deletion sweep: due rows in delete_time order, held rows excluded.
    CREATE INDEX media_due_idx ON media (delete_time, id)
      WHERE state IN ('PENDING', 'ORPHANED') AND hold_reason IS NULL;
    CREATE INDEX media_state_idx ON media (state, id);
    -- No separate key index: key-prefix filters use media_store_key_key (with a
    -- store, or by skip scan over the few stores without one), and every index
    -- on media costs each state change an insert.

    CREATE TABLE media_references (
      -- RESTRICT: a media row with references can never be deleted.
      media_id bigint NOT NULL REFERENCES media (id) ON DELETE RESTRICT,
      owner text NOT NULL,
      create_time timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (media_id, owner)
    );
    CREATE INDEX media_references_owner_idx ON media_references (owner, media_id);

    -- Append-only audit log. No foreign key: events outlive their media row.
    -- Keyed by (media_id, id): the one index serves a media's timeline, and each
    -- event costs one index insert (a deletion writes two events per file).
    CREATE TABLE media_events (
      id bigint GENERATED ALWAYS AS IDENTITY,
      media_id bigint NOT NULL,
      type text NOT NULL,
      from_state media_state,
      to_state media_state,
      owner text,
      actor text NOT NULL,
      reason text NOT NULL DEFAULT '',
      create_time timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (media_id, id)
    );

    CREATE FUNCTION media_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'media_events is append-only';
    END $$;
    CREATE TRIGGER media_events_append_only BEFORE UPDATE OR DELETE ON media_events
      FOR EACH ROW EXECUTE FUNCTION media_events_append_only();

    -- Link and unlink run as one function call each: one round trip, and the
    -- media row is locked before its references change, so concurrent calls on
    -- one media serialise and a worker's claim (FOR UPDATE, which conflicts with
    -- this lock) either happens entirely before or entirely after. NO KEY UPDATE
    -- leaves foreign-key checks of other transactions unblocked.
    -- outcome: 'ok', 'not_found', or 'deleting' (link refused).
    CREATE FUNCTION media_link(p_media_id bigint, p_owner text, p_actor text)
    RETURNS TABLE (outcome text, changed boolean, m media) LANGUAGE plpgsql AS $$
    DECLARE
      v media;
      v_from media_state;
      v_added integer;
    BEGIN
      SELECT * INTO v FROM media WHERE id = p_media_id FOR NO KEY UPDATE;
      IF NOT FOUND THEN
        RETURN QUERY SELECT 'not_found'::text, false, NULL::media;
        RETURN;
      END IF;
      IF v.state IN ('DELETING', 'FAILED') THEN
        RETURN QUERY SELECT 'deleting'::text, false, v;
        RETURN;
      END IF;
      INSERT INTO media_references (media_id, owner) VALUES (p_media_id, p_owner) ON CONFLICT DO NOTHING;
      GET DIAGNOSTICS v_added = ROW_COUNT;
      IF v_added = 0 THEN
        RETURN QUERY SELECT 'ok'::text, false, v;
        RETURN;
      END IF;
      v_from := v.state;
      UPDATE media SET reference_count = media.reference_count + 1, state = 'LINKED',
          orphan_time = NULL, delete_time = NULL, update_time = now()
        WHERE id = p_media_id RETURNING * INTO v;
      INSERT INTO media_events (media_id, type, from_state, to_state, owner, actor, reason)
        VALUES (p_media_id, 'LINKED', v_from, 'LINKED', p_owner, p_actor, '');
      RETURN QUERY SELECT 'ok'::text, true, v;
    END $$;

    CREATE FUNCTION media_unlink(p_media_id bigint, p_owner text, p_actor text, p_grace_seconds double precision, p_reason text)
    RETURNS TABLE (outcome text, changed boolean, m media) LANGUAGE plpgsql AS $$
    DECLARE
      v media;
      v_from media_state;
      v_removed integer;
    BEGIN
      SELECT * INTO v FROM media WHERE id = p_media_id FOR NO KEY UPDATE;
      IF NOT FOUND THEN
        RETURN QUERY SELECT 'not_found'::text, false, NULL::media;
        RETURN;
      END IF;
      DELETE FROM media_references WHERE media_id = p_media_id AND owner = p_owner;
      GET DIAGNOSTICS v_removed = ROW_COUNT;
      IF v_removed = 0 THEN
        RETURN QUERY SELECT 'ok'::text, false, v;
        RETURN;
      END IF;
      v_from := v.state;
      IF v.reference_count = 1 THEN
        UPDATE media SET reference_count = 0, state = 'ORPHANED', orphan_time = now(),
            delete_time = now() + make_interval(secs => p_grace_seconds), update_time = now()
          WHERE id = p_media_id RETURNING * INTO v;
      ELSE
        UPDATE media SET reference_count = media.reference_count - 1, update_time = now()
          WHERE id = p_media_id RETURNING * INTO v;
      END IF;
      INSERT INTO media_events (media_id, type, from_state, to_state, owner, actor, reason)
        VALUES (p_media_id, 'UNLINKED', v_from, v.state, p_owner, p_actor,
          CASE WHEN v.state = 'ORPHANED' THEN p_reason || '; last reference removed' ELSE p_reason END);
      RETURN QUERY SELECT 'ok'::text, true, v;
    END $$;
  `.execute(db);
}
