import { type Kysely, sql } from "kysely";

// Frozen once released. Storage reconciliation (AdminService.StartReconciliation):
// a run walks a store and its media rows in key order (media.key has had the
// "C" collation since 0001: byte order, the order S3 lists in, so the
// (store, key, trash_time) index serves the keyset and the prefix ranges),
// committing its cursor (resume_key) and counts with each page's findings.
// Missing files are flagged on their media (file_missing_time, a partial index
// for the media browser's filter); ignored prefixes are remembered per store.

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE reconciliations (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      store text NOT NULL,
      key_prefix text COLLATE "C" NOT NULL DEFAULT '',
      min_age_seconds integer NOT NULL CHECK (min_age_seconds >= 0),
      state text NOT NULL DEFAULT 'QUEUED' CHECK (state IN ('QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED')),
      actor text NOT NULL,
      objects_scanned bigint NOT NULL DEFAULT 0,
      media_scanned bigint NOT NULL DEFAULT 0,
      untracked_count bigint NOT NULL DEFAULT 0,
      untracked_bytes numeric NOT NULL DEFAULT 0,
      missing_count bigint NOT NULL DEFAULT 0,
      young_count bigint NOT NULL DEFAULT 0,
      ignored_count bigint NOT NULL DEFAULT 0,
      adopted_count bigint NOT NULL DEFAULT 0,
      -- The last key compared ('' before the first page): the job goes on after it.
      resume_key text COLLATE "C" NOT NULL DEFAULT '',
      last_error text NOT NULL DEFAULT '' CHECK (length(last_error) <= 2000),
      create_time timestamptz NOT NULL DEFAULT now(),
      update_time timestamptz NOT NULL DEFAULT now(),
      finish_time timestamptz
    );
    CREATE INDEX reconciliations_create_idx ON reconciliations (create_time DESC, id DESC);
    CREATE INDEX reconciliations_store_idx ON reconciliations (store, create_time DESC, id DESC);

    CREATE TABLE reconciliation_findings (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      reconciliation_id bigint NOT NULL REFERENCES reconciliations (id) ON DELETE CASCADE,
      kind text NOT NULL CHECK (kind IN ('UNTRACKED', 'MISSING')),
      key text COLLATE "C" NOT NULL,
      size_bytes bigint NOT NULL,
      modify_time timestamptz,
      media_id bigint,
      resolution text NOT NULL CHECK (resolution IN ('OPEN', 'ADOPTED', 'IGNORED', 'FLAGGED', 'SKIPPED')),
      -- One finding per key and run: a page committed twice cannot duplicate one. Serves the list by key.
      UNIQUE (reconciliation_id, key)
    );

    -- Prefixes ApplyReconciliation(IGNORE) left out of later runs of a store.
    CREATE TABLE reconciliation_ignored_prefixes (
      store text NOT NULL,
      key_prefix text COLLATE "C" NOT NULL,
      reconciliation_id bigint NOT NULL,
      actor text NOT NULL,
      create_time timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (store, key_prefix)
    );

    ALTER TABLE media ADD COLUMN file_missing_time timestamptz;
    -- The media browser's "file missing" filter reads only flagged rows, newest first.
    CREATE INDEX media_file_missing_idx ON media (id) WHERE file_missing_time IS NOT NULL;
  `.execute(db);
}
