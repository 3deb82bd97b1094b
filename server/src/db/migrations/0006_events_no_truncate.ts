import { type Kysely, sql } from "kysely";

// Frozen once released. The audit log refused UPDATE and DELETE row by row,
// but TRUNCATE fires no row trigger and emptied it: a statement trigger
// refuses that too.

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TRIGGER media_events_no_truncate BEFORE TRUNCATE ON media_events
      FOR EACH STATEMENT EXECUTE FUNCTION media_events_append_only();
  `.execute(db);
}
