import { type Kysely, sql } from "kysely";

// Frozen once released. media_reference_group (0012) as set-wise statements: a
// group of calls locks its media in one statement (ascending id, the lock order
// of every multi-media change), then writes all its references, one update of
// all the media it changes and all its events in another, instead of running
// media_link and media_unlink once per call. The state totals' statement
// triggers (0013) then fire once per round rather than once per call, and each
// event carries its media's store, so no event looks its media up again.
//
// Each call's outcome, row and event are the ones media_link(id, owner, actor)
// and media_unlink(id, owner, actor, grace, 'unlinked') would give if run alone
// in the given order. One statement cannot change a row twice, so a media named
// more than once is taken in rounds: round k runs the k-th call on each media,
// all in the same transaction (a popular media's burst of calls still commits
// as one group). Only the rows the lock statement locked count as found: a row
// committed after it is not one this group holds, and is answered not found.

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE OR REPLACE FUNCTION media_reference_group(
      p_ops text[], p_media_ids bigint[], p_owners text[], p_actors text[], p_grace double precision[],
      p_lock_timeout text
    ) RETURNS TABLE (ord integer, outcome text, changed boolean, m media) LANGUAGE plpgsql AS $$
    DECLARE
      v_locked bigint[];
      v_rounds integer;
    BEGIN
      PERFORM set_config('lock_timeout', p_lock_timeout, true);
      IF EXISTS (SELECT 1 FROM unnest(p_ops) op WHERE op IS DISTINCT FROM 'link' AND op IS DISTINCT FROM 'unlink') THEN
        RAISE EXCEPTION 'media_reference_group: unknown operation in %', p_ops;
      END IF;
      -- Locked before the next statement takes its snapshot, which therefore sees every locked row as it stays.
      SELECT coalesce(array_agg(l.id), '{}') INTO v_locked
        FROM (SELECT id FROM media WHERE id = ANY (p_media_ids) ORDER BY id FOR NO KEY UPDATE) l;
      SELECT coalesce(max(n), 0) INTO v_rounds FROM (SELECT count(*) AS n FROM unnest(p_media_ids) id GROUP BY id) c;
      FOR v_round IN 1 .. v_rounds LOOP
        -- Each round is a statement of its own, so it sees what the rounds before it wrote.
        RETURN QUERY
        WITH numbered AS (
          SELECT c.*, row_number() OVER (PARTITION BY c.media_id ORDER BY c.n) AS round
          FROM unnest(p_ops, p_media_ids, p_owners, p_actors, p_grace) WITH ORDINALITY
            AS c (op, media_id, owner, actor, grace, n)
        ), calls AS (
          SELECT c.n::integer AS n, c.op, c.media_id, c.owner, c.actor, c.grace, cur.id IS NOT NULL AS found,
            cur AS before_row, cur.state AS from_state
          FROM numbered c
          LEFT JOIN media cur ON cur.id = c.media_id AND cur.id = ANY (v_locked)
          WHERE c.round = v_round
        ), added AS (
          INSERT INTO media_references (media_id, owner)
          SELECT media_id, owner FROM calls
          WHERE op = 'link' AND from_state NOT IN ('DELETING', 'FAILED', 'TRASHED')
          ON CONFLICT DO NOTHING
          RETURNING media_id
        ), removed AS (
          DELETE FROM media_references r USING calls c
          WHERE c.op = 'unlink' AND c.found AND r.media_id = c.media_id AND r.owner = c.owner
          RETURNING r.media_id
        ), updated AS (
          UPDATE media u SET
            reference_count = CASE c.op WHEN 'link' THEN u.reference_count + 1 ELSE u.reference_count - 1 END,
            state = CASE WHEN c.op = 'link' THEN 'LINKED' WHEN u.reference_count = 1 THEN 'ORPHANED' ELSE u.state END,
            orphan_time = CASE WHEN c.op = 'link' THEN NULL WHEN u.reference_count = 1 THEN now() ELSE u.orphan_time END,
            delete_time = CASE WHEN c.op = 'link' THEN NULL
              WHEN u.reference_count = 1 THEN now() + make_interval(secs => c.grace) ELSE u.delete_time END,
            update_time = now()
          FROM calls c
          WHERE u.id = c.media_id
            AND c.media_id IN (SELECT media_id FROM added UNION ALL SELECT media_id FROM removed)
          RETURNING u AS after_row, u.id, u.state, u.store
        ), events AS (
          INSERT INTO media_events (media_id, type, from_state, to_state, owner, actor, reason, store)
          SELECT c.media_id, CASE c.op WHEN 'link' THEN 'LINKED' ELSE 'UNLINKED' END, c.from_state, u.state,
            c.owner, c.actor,
            CASE WHEN c.op = 'link' THEN '' WHEN u.state = 'ORPHANED' THEN 'unlinked; last reference removed'
              ELSE 'unlinked' END,
            u.store
          FROM updated u JOIN calls c ON c.media_id = u.id
          ORDER BY c.n
        )
        SELECT c.n,
          CASE WHEN NOT c.found THEN 'not_found'
            WHEN c.op = 'link' AND c.from_state IN ('DELETING', 'FAILED') THEN 'deleting'
            WHEN c.op = 'link' AND c.from_state = 'TRASHED' THEN 'trashed'
            ELSE 'ok' END,
          u.id IS NOT NULL,
          CASE WHEN c.found THEN coalesce(u.after_row, c.before_row) END
        FROM calls c LEFT JOIN updated u ON u.id = c.media_id
        ORDER BY c.n;
      END LOOP;
    END $$;
  `.execute(db);
}
