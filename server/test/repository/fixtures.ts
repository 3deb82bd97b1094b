// Shared plumbing of the repository tier: registering media through the
// repository, forcing the states only a worker reaches, and reading rows,
// events and the errors PostgreSQL answers with.
import assert from "node:assert/strict";
import pg from "pg";
import type { MediaEventRow, MediaRow } from "../../src/db/schema.ts";
import type { MediaRepository, NewMediaInput } from "../../src/media/media-repository.ts";

export const PENDING_TTL_SECONDS = 24 * 3600;

export const mediaInput = (key: string, extra: Partial<NewMediaInput> = {}): NewMediaInput => ({
  store: "default",
  key,
  contentType: "image/jpeg",
  sizeBytes: 10n,
  labels: {},
  ...extra,
});

/** Registers a new PENDING media through the repository and returns its row. */
export async function register(repo: MediaRepository, key: string, extra: Partial<NewMediaInput> = {}) {
  const outcome = await repo.create(mediaInput(key, extra), "test", PENDING_TTL_SECONDS);
  assert.equal(outcome.kind, "created", `registering ${key}`);
  return outcome.media;
}

export async function mediaRow(pool: pg.Pool, id: string): Promise<MediaRow> {
  const { rows } = await pool.query<MediaRow>("SELECT * FROM media WHERE id = $1", [id]);
  assert.ok(rows[0], `media ${id} should exist`);
  return rows[0];
}

/** A media's events, oldest first. */
export async function eventsOf(pool: pg.Pool, id: string): Promise<MediaEventRow[]> {
  const { rows } = await pool.query<MediaEventRow>("SELECT * FROM media_events WHERE media_id = $1 ORDER BY id", [id]);
  return rows;
}

export async function referenceCount(pool: pg.Pool, id: string): Promise<number> {
  const { rows } = await pool.query("SELECT count(*)::int AS n FROM media_references WHERE media_id = $1", [id]);
  return rows[0].n as number;
}

/**
 * Puts a media where only a worker puts it: DELETING under a fresh claim token
 * (keeping its delete time, as the claim does), or FAILED (no delete time,
 * media_unscheduled_states), as the worker leaves one out of attempts.
 */
export async function forceState(pool: pg.Pool, id: string, state: "DELETING" | "FAILED", lastError = "disk on fire") {
  const { rowCount } = await pool.query(
    `UPDATE media SET state = $2::media_state,
       claim_token = CASE WHEN $2::media_state = 'DELETING' THEN gen_random_uuid() END,
       claim_time = CASE WHEN $2::media_state = 'DELETING' THEN now() END,
       delete_time = CASE WHEN $2::media_state = 'FAILED' THEN NULL ELSE delete_time END,
       delete_attempts = CASE WHEN $2::media_state = 'FAILED' THEN 5 ELSE delete_attempts END,
       last_error = CASE WHEN $2::media_state = 'FAILED' THEN $3 END
     WHERE id = $1`,
    [id, state, lastError],
  );
  assert.equal(rowCount, 1);
}

/** Asserts that the statement fails with the given SQLSTATE (and constraint, if named); returns the error. */
export async function sqlError(call: Promise<unknown>, code: string, constraint?: string): Promise<pg.DatabaseError> {
  try {
    await call;
  } catch (error) {
    assert.ok(error instanceof pg.DatabaseError, `expected a database error, got ${String(error)}`);
    assert.equal(error.code, code, `expected SQLSTATE ${code}, got ${error.code}: ${error.message}`);
    if (constraint !== undefined) assert.equal(error.constraint, constraint, error.message);
    return error;
  }
  assert.fail(`expected the statement to fail with SQLSTATE ${code}`);
}

/** Microseconds since 1970 of a timestamptz column, exact (a JS Date keeps milliseconds only). */
export const MICROS = (column: string) => `(extract(epoch FROM ${column}) * 1000000)::bigint::text`;
