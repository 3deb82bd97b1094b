import { type Kysely, sql } from "kysely";

// Frozen once released. Recoverable deletion: a claimed media's file goes to
// its store's trash and the row becomes its TRASHED tombstone until
// purge_time; restores, purges and erasures are claims with leases like
// deletions; bulk actions are rows a job works through; the audit log lets an
// erasure redact owner names and no other change.
//
// Kysely runs every pending migration in one transaction, and PostgreSQL
// refuses an enum value added in a transaction to be used before it commits:
// so nothing here compares state with 'TRASHED' as an enum (the constraint
// compares its text, the functions are only parsed when they run).

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    -- IF NOT EXISTS: an enum value cannot be dropped, so a database rewound past this migration keeps it.
    ALTER TYPE media_state ADD VALUE IF NOT EXISTS 'TRASHED' AFTER 'FAILED';

    ALTER TABLE media ADD COLUMN trash_time timestamptz, ADD COLUMN purge_time timestamptz;
    -- Both times on a tombstone, neither on a live row.
    ALTER TABLE media ADD CONSTRAINT media_trash_times
      CHECK ((state::text = 'TRASHED') = (trash_time IS NOT NULL) AND (trash_time IS NULL) = (purge_time IS NULL));

    -- A live key is unique; its tombstones are not (a TRASHED key is free again).
    -- trash_time is NULL exactly on live rows, and NULLS NOT DISTINCT makes two
    -- live rows of one key collide, while tombstones differ by their trash_time
    -- (a key's next tombstone can only be trashed after the previous one). Its
    -- leading columns still serve key-prefix filters, as the constraint did.
    CREATE UNIQUE INDEX media_store_key_live_key ON media (store, key, trash_time) NULLS NOT DISTINCT;
    ALTER TABLE media DROP CONSTRAINT media_store_key_key;

    -- Tombstones by purge time: the purge's claim (unheld, due) and the trash
    -- page's order. purge_time is set exactly on TRASHED rows.
    CREATE INDEX media_trash_idx ON media (purge_time, id) WHERE purge_time IS NOT NULL;

    -- Which work a claim is: a deletion (media DELETING, then TRASHED or gone),
    -- a purge (TRASHED media, then gone), a restore (TRASHED, then live again)
    -- or an erasure (any, then gone).
    ALTER TABLE deletion_claims ADD COLUMN kind text NOT NULL DEFAULT 'delete'
      CHECK (kind IN ('delete', 'purge', 'restore', 'erase'));

    ALTER TABLE deletion_runs DROP CONSTRAINT deletion_runs_kind_check;
    ALTER TABLE deletion_runs ADD CONSTRAINT deletion_runs_kind_check CHECK (kind IN ('sweep', 'batch', 'purge'));

    ALTER TABLE deletion_hourly ADD COLUMN purged_count bigint NOT NULL DEFAULT 0,
      ADD COLUMN purged_bytes numeric NOT NULL DEFAULT 0;

    CREATE TABLE bulk_actions (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      action text NOT NULL CHECK (action IN ('HOLD', 'RELEASE', 'DELETE_NOW', 'RETRY', 'RESTORE')),
      -- The MediaFilter, as media/bulk-actions.ts (filterToJson) writes it.
      filter jsonb NOT NULL,
      reason text NOT NULL,
      actor text NOT NULL,
      state text NOT NULL DEFAULT 'QUEUED' CHECK (state IN ('QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED')),
      matched_count bigint NOT NULL,
      done_count bigint NOT NULL DEFAULT 0,
      skipped_count bigint NOT NULL DEFAULT 0,
      failed_count bigint NOT NULL DEFAULT 0,
      last_error text NOT NULL DEFAULT '' CHECK (length(last_error) <= 2000),
      -- Media registered after the action was accepted are left out: ids up to this one.
      max_media_id bigint NOT NULL,
      -- Where the job goes on after a restart: the last media id it settled.
      cursor_media_id bigint NOT NULL DEFAULT 0,
      create_time timestamptz NOT NULL DEFAULT now(),
      update_time timestamptz NOT NULL DEFAULT now(),
      finish_time timestamptz
    );
    CREATE INDEX bulk_actions_create_idx ON bulk_actions (create_time DESC, id DESC);

    ALTER TABLE media_events ADD COLUMN bulk_action_id bigint;
    -- An erasure by owner finds every media the owner ever linked, and redacts its name everywhere.
    -- Partial: only LINKED and UNLINKED events name an owner.
    CREATE INDEX media_events_owner_idx ON media_events (owner) WHERE owner IS NOT NULL;

    -- Append-only, with one exception: an erasure redacts the owner names of
    -- the erased media's events (sets owner to NULL), changing nothing else.
    CREATE OR REPLACE FUNCTION media_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'UPDATE' AND OLD.owner IS NOT NULL AND NEW.owner IS NULL
         AND (NEW.id, NEW.media_id, NEW.type, NEW.from_state, NEW.to_state, NEW.actor, NEW.reason,
              NEW.create_time, NEW.bulk_action_id)
             IS NOT DISTINCT FROM
             (OLD.id, OLD.media_id, OLD.type, OLD.from_state, OLD.to_state, OLD.actor, OLD.reason,
              OLD.create_time, OLD.bulk_action_id) THEN
        RETURN NEW;
      END IF;
      RAISE EXCEPTION 'media_events is append-only';
    END $$;

    -- As 0001's, and a TRASHED media is refused too ('trashed'): its file is in
    -- the trash, so a link must restore it first.
    CREATE OR REPLACE FUNCTION media_link(p_media_id bigint, p_owner text, p_actor text)
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
      IF v.state = 'TRASHED' THEN
        RETURN QUERY SELECT 'trashed'::text, false, v;
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
  `.execute(db);
}
