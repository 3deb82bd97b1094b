import { type Kysely, sql } from "kysely";

// Frozen once released. A size no object can have (the API's MAX_SIZE_BYTES,
// 1 PiB, written out here because a released migration never changes) is
// refused at the database too, and the hourly byte tally is exact whatever it
// adds up: one registration of 2^63 - 1 bytes once overflowed every sum.

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    -- Rows registered before the bound carry sizes no file had. They are clamped to it rather than
    -- left out of the constraint: PostgreSQL checks every updated row, so a row over the bound
    -- could never be claimed (its claim would fail, and the sweep with it).
    UPDATE media SET size_bytes = 1125899906842624, update_time = now() WHERE size_bytes > 1125899906842624;
    -- Added unchecked, then validated: the validation scan takes no lock that stops writes.
    ALTER TABLE media ADD CONSTRAINT media_size_bytes_max CHECK (size_bytes <= 1125899906842624) NOT VALID;
    ALTER TABLE media VALIDATE CONSTRAINT media_size_bytes_max;
    ALTER TABLE deletion_hourly ALTER COLUMN deleted_bytes TYPE numeric;
  `.execute(db);
}
