import { type Kysely, sql } from "kysely";

// Frozen once released. media_claim_idx (claim_token, DELETING rows) served no
// statement: every claim finds its rows by id (deletion_claims.media_ids, and
// stillClaimed in server/src/deletion/claims.ts is written so that no index on
// claim_token can serve it). It cost every claim one more index entry per
// media, and because an index on claim_token makes claim_token an indexed
// column, no update that sets it (a purge's, a restore's or a reclaim's claim,
// whose state does not change) could be a HOT update: each wrote a new entry
// in every index of media.

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`DROP INDEX IF EXISTS media_claim_idx`.execute(db);
}
