import { type Kysely, sql } from "kysely";

// Frozen once released. Claims become leases: one row per claim (a batch of
// up to DELETE_BATCH_SIZE media sharing a claim token), renewed by the job that
// works on it. A claim is taken back only after its lease expired, so a job
// that confirmed its lease knows no other worker can act on its media until
// then (docs/lifecycle.md, "Leases").

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE deletion_claims (
      token uuid PRIMARY KEY,
      lease_expire_time timestamptz NOT NULL,
      -- The claimed media, by primary key: the claim's statements find them without a scan of
      -- media by state, whose statistics a mass claim leaves far behind (one DELETING row
      -- estimated where a million are).
      media_ids bigint[] NOT NULL,
      create_time timestamptz NOT NULL DEFAULT now(),
      -- The last time the job working on the claim renewed it; NULL until its job starts.
      renew_time timestamptz
    );
    -- The sweep finds expired leases oldest first.
    CREATE INDEX deletion_claims_expire_idx ON deletion_claims (lease_expire_time);

    -- Claims made before leases existed get the ten minutes CLAIM_TIMEOUT gave
    -- them by default, counted from their claim: a worker of the previous
    -- release may still be working on them while this one starts.
    INSERT INTO deletion_claims (token, lease_expire_time, create_time, media_ids)
    SELECT claim_token, max(claim_time) + interval '10 minutes', min(claim_time), array_agg(id)
    FROM media WHERE state = 'DELETING' AND claim_token IS NOT NULL
    GROUP BY claim_token;
  `.execute(db);
}
