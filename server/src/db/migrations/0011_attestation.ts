import { type Kysely, sql } from "kysely";

// Frozen once released. Reference attestation: an owning service's sessions
// (attestations), the pairs it sent (attestation_pairs, one row per distinct
// pair), and, while a finish works through its repairs, the drift it found
// (attestation_drift). The finished report is stored with its attestation;
// pairs and drift rows are dropped after the finish or the expiry.
//
// As in 0008: every pending migration runs in one transaction, so nothing here
// compares a state with an enum value added by an earlier migration.

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE attestations (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      owner_prefix text NOT NULL CHECK (length(owner_prefix) BETWEEN 1 AND 512),
      -- FINISHING: a finish is working through its repairs (still OPEN to the API, refusing pages).
      state text NOT NULL DEFAULT 'OPEN' CHECK (state IN ('OPEN', 'FINISHING', 'FINISHED', 'EXPIRED')),
      -- The credential name that started it; only it may send pages and finish.
      actor text NOT NULL,
      attested_count bigint NOT NULL DEFAULT 0,
      create_time timestamptz NOT NULL DEFAULT now(),
      update_time timestamptz NOT NULL DEFAULT now(),
      finish_time timestamptz,
      expire_time timestamptz NOT NULL,
      -- The report, set once FINISHED: complete counts, at most 1,000 items (media/attestations.ts).
      unattested_count bigint NOT NULL DEFAULT 0,
      not_linked_count bigint NOT NULL DEFAULT 0,
      endangered_count bigint NOT NULL DEFAULT 0,
      gone_count bigint NOT NULL DEFAULT 0,
      repaired_count bigint NOT NULL DEFAULT 0,
      items jsonb NOT NULL DEFAULT '[]',
      items_truncated boolean NOT NULL DEFAULT false,
      -- When its pairs and drift rows were dropped (NULL while any may be left).
      clear_time timestamptz
    );
    -- ListAttestations: newest first, overall and per prefix.
    CREATE INDEX attestations_create_idx ON attestations (create_time DESC, id DESC);
    CREATE INDEX attestations_prefix_idx ON attestations (owner_prefix, create_time DESC, id DESC);
    -- The sweep: sessions past their time, and closed ones whose rows are still to drop.
    CREATE INDEX attestations_expire_idx ON attestations (expire_time) WHERE state IN ('OPEN', 'FINISHING');
    CREATE INDEX attestations_uncleared_idx ON attestations (id)
      WHERE clear_time IS NULL AND state IN ('FINISHED', 'EXPIRED');

    -- The primary key makes a repeated pair count once.
    CREATE TABLE attestation_pairs (
      attestation_id bigint NOT NULL REFERENCES attestations (id) ON DELETE CASCADE,
      owner text NOT NULL,
      media_id bigint NOT NULL,
      PRIMARY KEY (attestation_id, owner, media_id)
    );

    -- A finish's drift, in the report's order: rank 1 ENDANGERED, 2 GONE, 3
    -- NOT_LINKED, 4 UNATTESTED, then owner and media id. op is the repair
    -- still to try ('link', 'hold', 'unlink'), NULL once tried or when none is.
    CREATE TABLE attestation_drift (
      attestation_id bigint NOT NULL REFERENCES attestations (id) ON DELETE CASCADE,
      rank smallint NOT NULL CHECK (rank BETWEEN 1 AND 4),
      owner text NOT NULL,
      media_id bigint NOT NULL,
      state media_state,
      op text CHECK (op IN ('link', 'hold', 'unlink')),
      repair text NOT NULL DEFAULT 'NONE' CHECK (repair IN ('NONE', 'LINKED', 'HELD', 'UNLINKED', 'CHANGED_DURING')),
      PRIMARY KEY (attestation_id, rank, owner, media_id)
    );
    CREATE INDEX attestation_drift_todo_idx ON attestation_drift (attestation_id, op, media_id, owner)
      WHERE op IS NOT NULL;

    -- media_link with the event's reason (an attestation's repair names itself);
    -- as 0008's otherwise. The three-argument form, LinkMedia's, calls it.
    CREATE FUNCTION media_link(p_media_id bigint, p_owner text, p_actor text, p_reason text)
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
        VALUES (p_media_id, 'LINKED', v_from, 'LINKED', p_owner, p_actor, p_reason);
      RETURN QUERY SELECT 'ok'::text, true, v;
    END $$;

    CREATE OR REPLACE FUNCTION media_link(p_media_id bigint, p_owner text, p_actor text)
    RETURNS TABLE (outcome text, changed boolean, m media) LANGUAGE sql AS $$
      SELECT * FROM media_link(p_media_id, p_owner, p_actor, '')
    $$;
  `.execute(db);
}
