// Rows the database refuses to add up or to record must not stop the deletion
// pipeline: sizes are bounded, sums are exact, and a batch whose closing
// transaction fails for its data sets the bad rows apart and finishes the rest.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Code } from "@connectrpc/connect";
import { MediaState } from "@media/proto/media/v1/media_pb";
import { connectDatabase, migrateToLatest } from "@media/server/db";
import { expectCode } from "@media/server/testing";
import { type DeletionHarness, startDeletionHarness } from "../testing/harness.ts";

const INT64_MAX = (1n << 63n) - 1n;
const MAX_SIZE_BYTES = 1n << 50n;

let h: DeletionHarness;
before(async () => {
  h = await startDeletionHarness({ SWEEP_SCHEDULE: "0 0 1 1 *", DELETE_BATCH_SIZE: "1000" });
});
after(() => h.stop());

/** Registers files that are due now (PENDING past a zero TTL); returns their ids. */
async function dueFiles(prefix: string, count: number): Promise<bigint[]> {
  const ids: bigint[] = [];
  for (let i = 0; i < count; i++) ids.push(await h.put("default", `${prefix}/${i}.bin`));
  await h.t.sql.query("UPDATE media SET delete_time = now() - interval '1 second' WHERE id = ANY($1::bigint[])", [
    ids.map(String),
  ]);
  return ids;
}

describe("poison rows", () => {
  test("a size no object can have is refused at the API and at the database", async () => {
    await expectCode(
      h.t.media.createMedia({ store: "default", key: "poison/huge.bin", sizeBytes: INT64_MAX }),
      Code.InvalidArgument,
      "size_bytes: must be at most",
    );
    const { media } = await h.t.media.createMedia({
      store: "default",
      key: "poison/max.bin",
      sizeBytes: MAX_SIZE_BYTES,
    });
    assert.equal(media?.sizeBytes, MAX_SIZE_BYTES);
    await assert.rejects(
      h.t.sql.query("UPDATE media SET size_bytes = $1 WHERE id = $2", [(MAX_SIZE_BYTES + 1n).toString(), media?.id]),
      /media_size_bytes_max/,
    );
  });

  test("the migration clamps sizes registered before the bound, so their rows can still be claimed", async () => {
    const [old] = await dueFiles("poison/old", 1);
    // The database as the release before the bound left it, with a row it let in.
    await h.t.sql.query(`
      -- 0015
      CREATE INDEX media_claim_idx ON media (claim_token) WHERE state = 'DELETING';
      -- 0014: the audit log back to one table.
      DROP FUNCTION media_events_prepare(timestamptz), media_events_drop_before(timestamptz);
      DROP TABLE media_event_partitions;
      CREATE TABLE media_events_flat (LIKE media_events);
      INSERT INTO media_events_flat SELECT * FROM media_events;
      DROP TABLE media_events;
      ALTER TABLE media_events_flat RENAME TO media_events;
      ALTER TABLE media_events ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY,
        ALTER COLUMN reason SET DEFAULT '', ALTER COLUMN create_time SET DEFAULT now(), ADD PRIMARY KEY (media_id, id);
      SELECT setval(pg_get_serial_sequence('media_events', 'id'), max(id)) FROM media_events;
      CREATE INDEX media_events_owner_idx ON media_events (owner) WHERE owner IS NOT NULL;
      CREATE TRIGGER media_events_append_only BEFORE UPDATE OR DELETE ON media_events
        FOR EACH ROW EXECUTE FUNCTION media_events_append_only();
      CREATE TRIGGER media_events_no_truncate BEFORE TRUNCATE ON media_events
        FOR EACH STATEMENT EXECUTE FUNCTION media_events_append_only();
      -- 0016 (its function goes with 0012's), 0013, 0012
      DROP TRIGGER media_record_insert ON media;
      DROP TRIGGER media_record_update ON media;
      DROP TRIGGER media_record_delete ON media;
      DROP FUNCTION media_record_change(), media_change_windows(media_state, text, uuid, timestamptz, timestamptz);
      DROP TABLE media_state_totals, media_state_deltas, media_window_totals, media_window_deltas;
      DROP FUNCTION media_reference_group(text[], bigint[], text[], text[], double precision[], text);
      -- 0011, 0010
      DROP TABLE attestation_drift, attestation_pairs, attestations;
      DROP FUNCTION media_link(bigint, text, text, text);
      DROP TABLE reconciliation_ignored_prefixes, reconciliation_findings, reconciliations;
      ALTER TABLE media DROP COLUMN file_missing_time;
      -- 0009 (its store trigger went with the partitioned table)
      DROP FUNCTION media_events_store();
      ALTER TABLE media_events DROP COLUMN xact, DROP COLUMN store;
      DROP TABLE bulk_actions;
      DROP INDEX media_events_owner_idx;
      ALTER TABLE media_events DROP COLUMN bulk_action_id;
      ALTER TABLE deletion_hourly DROP COLUMN purged_count, DROP COLUMN purged_bytes;
      ALTER TABLE deletion_claims DROP COLUMN kind;
      ALTER TABLE media DROP CONSTRAINT media_trash_times, ADD CONSTRAINT media_store_key_key UNIQUE (store, key);
      DROP INDEX media_store_key_live_key, media_trash_idx;
      ALTER TABLE media DROP COLUMN trash_time, DROP COLUMN purge_time;
      ALTER TABLE media DROP CONSTRAINT media_size_bytes_max;
      ALTER TABLE deletion_hourly ALTER COLUMN deleted_bytes TYPE bigint;
      DROP TRIGGER media_events_no_truncate ON media_events;
      DROP TABLE worker_heartbeats, deletion_runs;
      DELETE FROM kysely_migration
        WHERE name IN ('0005_bounded_sizes', '0006_events_no_truncate', '0007_worker_runs', '0008_trash',
          '0009_event_feed', '0010_reconciliation', '0011_attestation', '0012_group_commit', '0013_state_totals',
          '0014_events_partitioned', '0015_drop_claim_index', '0016_set_wise_reference_group');`);
    await h.t.sql.query("UPDATE media SET size_bytes = $1 WHERE id = $2", [INT64_MAX.toString(), old]);
    const schema = connectDatabase({ url: h.t.databaseUrl, poolSize: 1 });
    try {
      await migrateToLatest(schema.db);
    } finally {
      await schema.close();
    }
    assert.equal((await h.t.media.getMedia({ id: old as bigint })).media?.sizeBytes, MAX_SIZE_BYTES);
    await h.sweep();
    await expectCode(h.t.media.getMedia({ id: old as bigint }), Code.NotFound);
  });

  test("sums past int64 are exact in the database and report int64's maximum", async () => {
    // 8,200 due rows of 1 PiB each add up to more than 2^63 bytes; their files never existed (missing counts as deleted).
    await h.t.sql.query(`
      INSERT INTO media (store, key, size_bytes, state, delete_time)
      SELECT 'default', 'poison/sum/' || i, 1125899906842624, 'PENDING', now() - interval '1 second'
      FROM generate_series(1, 8200) AS i`);
    const stats = await h.t.admin.getStats({});
    assert.equal(stats.states.find((s) => s.state === MediaState.PENDING)?.sizeBytes, INT64_MAX);
    assert.equal(stats.dueNext24hSizeBytes, INT64_MAX);
    assert.equal((await h.t.admin.getDeletionPlan({ withinHours: 24 })).sizeBytes, INT64_MAX);
    await h.sweep();
    const { rows } = await h.t.sql.query("SELECT count(*)::int AS n FROM media WHERE key LIKE 'poison/sum/%'");
    assert.equal(rows[0].n, 0);
    const { rows: tally } = await h.t.sql.query("SELECT sum(deleted_bytes)::text AS bytes FROM deletion_hourly");
    assert.ok(BigInt(tally[0].bytes) >= 8200n * MAX_SIZE_BYTES, "the hourly tally is exact");
    assert.equal((await h.t.admin.getDeletionHistory({ hours: 1 })).hours.at(-1)?.deletedSizeBytes, INT64_MAX);
  });

  test("a batch's report the database refuses (deletion_runs) never stops the batch from finishing", async () => {
    const ids = await dueFiles("poison/report", 3);
    // A fault at the database: every batch's deletion_runs row is refused.
    await h.t.sql.query(`
      CREATE FUNCTION refuse_batch_run() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.kind = 'batch' THEN RAISE EXCEPTION 'report refused'; END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER refuse_batch_run BEFORE INSERT ON deletion_runs FOR EACH ROW EXECUTE FUNCTION refuse_batch_run();`);
    try {
      await h.sweep();
    } finally {
      await h.t.sql.query("DROP TRIGGER refuse_batch_run ON deletion_runs; DROP FUNCTION refuse_batch_run()");
    }
    for (const id of ids) await expectCode(h.t.media.getMedia({ id }), Code.NotFound);
    const { rows } = await h.t.sql.query("SELECT count(*)::int AS n FROM deletion_claims");
    assert.equal(rows[0].n, 0, "the claim ended");
  });

  test("a row the database refuses to record is set apart as FAILED; the rest of its batch finishes", async () => {
    const ids = await dueFiles("poison/trigger", 5);
    const bad = ids[2] as bigint;
    // A fault at the database: recording this one row's deletion always fails.
    await h.t.sql.query(`
      CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.media_id = ${bad} AND NEW.type = 'DELETED' THEN RAISE EXCEPTION 'poisoned row %', NEW.media_id; END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER refuse_poison BEFORE INSERT ON media_events FOR EACH ROW EXECUTE FUNCTION refuse_poison();`);
    try {
      await h.sweep();
    } finally {
      await h.t.sql.query("DROP TRIGGER refuse_poison ON media_events; DROP FUNCTION refuse_poison()");
    }
    for (const id of ids.filter((id) => id !== bad)) await expectCode(h.t.media.getMedia({ id }), Code.NotFound);
    const { media } = await h.t.media.getMedia({ id: bad });
    assert.equal(media?.state, MediaState.FAILED);
    assert.match(
      media?.lastError ?? "",
      /^ROW_NOT_RECORDED: the file was acted on, but its row could not be recorded: poisoned row/,
    );
    const failures = await h.t.admin.listMedia({ state: MediaState.FAILED });
    assert.ok(
      failures.media.some((m) => m.id === bad),
      "the row is on the failures page",
    );
    const { rows } = await h.t.sql.query("SELECT count(*)::int AS n FROM deletion_claims");
    assert.equal(rows[0].n, 0, "the claim ended");
    // Retried, the file is missing (counts as deleted) and the row is recorded this time.
    await h.t.admin.retryMedia({ mediaId: bad });
    await h.sweep();
    await expectCode(h.t.media.getMedia({ id: bad }), Code.NotFound);
  });
});
