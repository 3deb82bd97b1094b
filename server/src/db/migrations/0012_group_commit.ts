import { type Kysely, sql } from "kysely";

// Frozen once released. Group commit (server/src/media/group-commit.ts): many
// LinkMedia and UnlinkMedia calls in one statement, so one transaction and one
// commit. The group runs the same media_link and media_unlink as a call alone,
// in the order given (the caller sorts by media id: every multi-media change
// locks rows in ascending id order, so groups cannot deadlock one another),
// and waits for a row lock at most p_lock_timeout: a group stuck behind
// another transaction fails fast, and its calls are retried one by one.

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE FUNCTION media_reference_group(
      p_ops text[], p_media_ids bigint[], p_owners text[], p_actors text[], p_grace double precision[],
      p_lock_timeout text
    ) RETURNS TABLE (ord integer, outcome text, changed boolean, m media) LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM set_config('lock_timeout', p_lock_timeout, true);
      FOR i IN 1 .. coalesce(array_length(p_ops, 1), 0) LOOP
        IF p_ops[i] = 'link' THEN
          RETURN QUERY SELECT i, r.outcome, r.changed, r.m FROM media_link(p_media_ids[i], p_owners[i], p_actors[i]) r;
        ELSIF p_ops[i] = 'unlink' THEN
          RETURN QUERY SELECT i, r.outcome, r.changed, r.m
            FROM media_unlink(p_media_ids[i], p_owners[i], p_actors[i], p_grace[i], 'unlinked') r;
        ELSE
          RAISE EXCEPTION 'media_reference_group: unknown operation %', p_ops[i];
        END IF;
      END LOOP;
    END $$;
  `.execute(db);
}
