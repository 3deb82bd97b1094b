import { type Kysely, sql } from "kysely";
import type pg from "pg";
import type { BulkActionRow, BulkActionTypeName, Database, MediaStateName } from "../db/schema.ts";
import { isJobQueueMissing } from "../db/sql-errors.ts";
import { withTransaction } from "../db/transaction.ts";
import { enqueueBulkAction, jobTraceParameter } from "../deletion/jobs.ts";
import type { LeaseTiming } from "../deletion/lease.ts";
import { MAX_RESTORE_IDS, restoreMedia } from "../deletion/restore.ts";
import type { ObjectStore } from "../storage/object-store.ts";
import { actionAllowedSql, MEDIA_ACTION_RULES, type MediaActionName } from "./admin-actions.ts";
import { type MediaFilter, whereMediaFilter } from "./media-list.ts";
import { type CreateTimeCursor, newestFirstPage } from "./newest-first.ts";

// Bulk actions: one admin action on every media matching a filter, run by the
// worker's bulk_action job chunk by chunk. Which media an action may change is
// MEDIA_ACTION_RULES (admin-actions.ts), the single-media actions' rules.
//
// SQL style: the filter is the media list's (whereMediaFilter, Kysely),
// compiled and embedded in raw statements on a pooled client, since a chunk's
// lock, change, events and progress share one transaction.

/** Media acted on per chunk (one transaction each). */
export const BULK_CHUNK_SIZE = 500;

const RULE_OF: Record<Exclude<BulkActionTypeName, "RESTORE">, MediaActionName> = {
  HOLD: "hold",
  RELEASE: "release",
  DELETE_NOW: "deleteNow",
  RETRY: "retry",
};

/** The filter as the bulk_actions.filter column stores it (times as ISO strings). */
interface StoredFilter {
  state?: MediaStateName;
  store?: string;
  owner?: string;
  keyPrefix?: string;
  labels?: Record<string, string>;
  trashedAfter?: string;
  trashedBefore?: string;
  fileMissing?: true;
}

export function filterToJson(filter: MediaFilter): string {
  const stored: StoredFilter = {
    state: filter.state,
    store: filter.store,
    owner: filter.owner,
    keyPrefix: filter.keyPrefix,
    labels: filter.labels === undefined ? undefined : { ...filter.labels },
    trashedAfter: filter.trashedAfter?.toISOString(),
    trashedBefore: filter.trashedBefore?.toISOString(),
    fileMissing: filter.fileMissing,
  };
  return JSON.stringify(stored);
}

export function filterFromJson(value: unknown): MediaFilter {
  const stored = (value ?? {}) as StoredFilter;
  return {
    state: stored.state,
    store: stored.store,
    owner: stored.owner,
    keyPrefix: stored.keyPrefix,
    labels: stored.labels,
    trashedAfter: stored.trashedAfter === undefined ? undefined : new Date(stored.trashedAfter),
    trashedBefore: stored.trashedBefore === undefined ? undefined : new Date(stored.trashedBefore),
    fileMissing: stored.fileMissing === true ? true : undefined,
  };
}

/** How many media match a filter now, and their bytes (an exact numeric sum, as text). */
export async function countMatching(
  db: Kysely<Database>,
  filter: MediaFilter,
): Promise<{ count: string; sizeBytes: string }> {
  const row = await whereMediaFilter(db.selectFrom("media"), filter)
    .select([
      sql<string>`count(*)::bigint::text`.as("count"),
      sql<string>`coalesce(sum(media.size_bytes), 0)::numeric::text`.as("size_bytes"),
    ])
    .executeTakeFirstOrThrow();
  return { count: row.count, sizeBytes: row.size_bytes };
}

export interface NewBulkAction {
  readonly action: BulkActionTypeName;
  readonly filter: MediaFilter;
  readonly reason: string;
  readonly actor: string;
  readonly matchedCount: string;
}

/**
 * Records a bulk action (QUEUED, media up to the current largest id) and
 * enqueues its job in the same transaction, continuing the caller's trace.
 * Undefined when no worker has ever started here (no job queue yet): nothing is recorded.
 */
export async function createBulkAction(pool: pg.Pool, input: NewBulkAction): Promise<BulkActionRow | undefined> {
  try {
    return await withTransaction(pool, async (client) => {
      const { rows } = await client.query<BulkActionRow>(
        `INSERT INTO bulk_actions (action, filter, reason, actor, matched_count, max_media_id)
         VALUES ($1, $2::jsonb, $3, $4, $5, (SELECT coalesce(max(id), 0) FROM media))
         RETURNING *`,
        [input.action, filterToJson(input.filter), input.reason, input.actor, input.matchedCount],
      );
      const row = rows[0] as BulkActionRow;
      await client.query(`SELECT ${enqueueBulkAction("$1", "$2")}`, [row.id, jobTraceParameter()]);
      return row;
    });
  } catch (error) {
    if (isJobQueueMissing(error)) return undefined;
    throw error;
  }
}

export async function getBulkAction(pool: pg.Pool, id: string): Promise<BulkActionRow | undefined> {
  const { rows } = await pool.query<BulkActionRow>("SELECT * FROM bulk_actions WHERE id = $1", [id]);
  return rows[0];
}

/** One page of bulk actions, newest first (bulk_actions_create_idx), continuing after the cursor. */
export const listBulkActions = (pool: pg.Pool, after: CreateTimeCursor | undefined, limit: number) =>
  newestFirstPage<BulkActionRow>(pool, "bulk_actions", undefined, after, limit);

/** What one chunk did: media it settled (0: the action is done). */
export interface ChunkResult {
  readonly settled: number;
  readonly done: number;
  readonly skipped: number;
  readonly failed: number;
}

export const eventReason = (row: BulkActionRow) => `bulk action ${row.id}: ${row.reason}`;

/** A bulk action's job changed its state under it (another job, an edit): stop this one. */
export class BulkActionMovedError extends Error {
  readonly code = "BULK_ACTION_MOVED";
}

/** Compiles the filter's matching media past the cursor, up to max_media_id, in id order, one chunk. */
function chunkQuery(db: Kysely<Database>, row: BulkActionRow, cursor: string, allowed: string, limit: number) {
  return whereMediaFilter(db.selectFrom("media"), filterFromJson(row.filter))
    .select(["media.id", "media.state"])
    .select(sql<boolean>`${sql.raw(allowed)}`.as("allowed"))
    .where("media.id", ">", cursor)
    .where("media.id", "<=", row.max_media_id)
    .orderBy("media.id")
    .limit(limit)
    .compile();
}

/**
 * One chunk of a HOLD, RELEASE, DELETE_NOW or RETRY bulk action, in one
 * transaction: the next matching media past the cursor locked, those the rule
 * allows changed set-based with their events, the cursor and counts
 * advanced. A job restarted mid-way goes on from the committed cursor.
 */
export async function runChangeChunk(db: Kysely<Database>, pool: pg.Pool, id: string): Promise<ChunkResult> {
  return withTransaction(pool, async (client) => {
    const found = await client.query<BulkActionRow>("SELECT * FROM bulk_actions WHERE id = $1 FOR UPDATE", [id]);
    const row = found.rows[0];
    if (row === undefined || row.state !== "RUNNING")
      throw new BulkActionMovedError(`bulk action ${id} is not RUNNING`);
    if (row.action === "RESTORE") throw new Error("runChangeChunk: RESTORE runs in runRestoreChunk");
    const rule = MEDIA_ACTION_RULES[RULE_OF[row.action]];
    const batch = chunkQuery(db, row, String(row.cursor_media_id), actionAllowedSql(rule, true), BULK_CHUNK_SIZE);
    const n = batch.parameters.length;
    const { rows } = await client.query<{ settled: number; done: number; last_id: string | null }>(
      `WITH batch AS (${batch.sql} FOR UPDATE OF media),
       changed AS (
         UPDATE media SET ${rule.set(`$${n + 1}::text`)}, update_time = now()
         FROM batch WHERE media.id = batch.id AND batch.allowed
         RETURNING media.id, batch.state AS from_state, media.state AS to_state, media.store
       ),
       events AS (
         INSERT INTO media_events (media_id, type, from_state, to_state, actor, reason, bulk_action_id, store)
         SELECT id, $${n + 2}, from_state, to_state, $${n + 3}, $${n + 4}, $${n + 5}, store FROM changed
       )
       SELECT (SELECT count(*)::int FROM batch) AS settled, (SELECT count(*)::int FROM changed) AS done,
              (SELECT max(id)::text FROM batch) AS last_id,
              $${n + 1}::text AS hold_reason -- typed even when the action's SET does not read it`,
      [...batch.parameters, row.reason, rule.event, row.actor, eventReason(row), row.id],
    );
    const result = rows[0] as { settled: number; done: number; last_id: string | null };
    const skipped = result.settled - result.done;
    if (result.settled > 0) {
      await client.query(
        `UPDATE bulk_actions SET cursor_media_id = $2, done_count = done_count + $3,
           skipped_count = skipped_count + $4, update_time = now()
         WHERE id = $1`,
        [row.id, result.last_id, result.done, skipped],
      );
    }
    return { settled: result.settled, done: result.done, skipped, failed: 0 };
  });
}

/**
 * One chunk of a RESTORE bulk action. Restoring touches the stores, so it runs
 * outside a transaction (restoreMedia, under its own claim); the cursor and
 * counts advance after it, provided no other job moved them meanwhile. A job
 * restarted between the two restores its chunk again: the media it restored
 * are no longer TRASHED and count as skipped.
 */
export async function runRestoreChunk(
  db: Kysely<Database>,
  pool: pg.Pool,
  stores: ReadonlyMap<string, ObjectStore>,
  timing: LeaseTiming,
  graceSeconds: number,
  id: string,
): Promise<ChunkResult> {
  const row = await getBulkAction(pool, id);
  if (row === undefined || row.state !== "RUNNING") throw new BulkActionMovedError(`bulk action ${id} is not RUNNING`);
  const cursor = String(row.cursor_media_id);
  const batch = chunkQuery(db, row, cursor, "true", Math.min(BULK_CHUNK_SIZE, MAX_RESTORE_IDS));
  const { rows } = await pool.query<{ id: string }>(batch.sql, [...batch.parameters]);
  if (rows.length === 0) return { settled: 0, done: 0, skipped: 0, failed: 0 };
  const ids = rows.map((r) => r.id);
  const outcomes = await restoreMedia(pool, stores, timing, {
    ids,
    owner: undefined,
    actor: row.actor,
    reason: eventReason(row),
    bulkActionId: row.id,
    graceSeconds,
  });
  let done = 0;
  let skipped = 0;
  let failed = 0;
  let lastError: string | undefined;
  for (const mediaId of ids) {
    const outcome = outcomes.get(mediaId) ?? { kind: "not_found" as const };
    if (outcome.kind === "restored") done++;
    else if (outcome.kind === "refused") skipped++;
    else {
      failed++;
      lastError = outcome.kind === "failed" ? `media ${mediaId}: ${outcome.why}` : `media ${mediaId}: no longer exists`;
    }
  }
  const moved = await pool.query(
    `UPDATE bulk_actions SET cursor_media_id = $3, done_count = done_count + $4, skipped_count = skipped_count + $5,
       failed_count = failed_count + $6, last_error = CASE WHEN $7::text IS NULL THEN last_error ELSE left($7, 2000) END,
       update_time = now()
     WHERE id = $1 AND state = 'RUNNING' AND cursor_media_id = $2`,
    [row.id, cursor, ids.at(-1), done, skipped, failed, lastError ?? null],
  );
  if (moved.rowCount !== 1) throw new BulkActionMovedError(`bulk action ${id} moved while its chunk was restored`);
  return { settled: ids.length, done, skipped, failed };
}

/** QUEUED (or RUNNING, for a job run again) → RUNNING; undefined when it is already over. */
export async function startBulkAction(pool: pg.Pool, id: string): Promise<BulkActionRow | undefined> {
  const { rows } = await pool.query<BulkActionRow>(
    `UPDATE bulk_actions SET state = 'RUNNING', update_time = now()
     WHERE id = $1 AND state IN ('QUEUED', 'RUNNING') RETURNING *`,
    [id],
  );
  return rows[0];
}

/** RUNNING → SUCCEEDED, or FAILED with last_error (a code and short words, never SQL). */
export async function finishBulkAction(pool: pg.Pool, id: string, failure: string | undefined): Promise<void> {
  await pool.query(
    `UPDATE bulk_actions SET state = $2, last_error = CASE WHEN $3::text IS NULL THEN last_error ELSE left($3, 2000) END,
       finish_time = now(), update_time = now()
     WHERE id = $1 AND state = 'RUNNING'`,
    [id, failure === undefined ? "SUCCEEDED" : "FAILED", failure ?? null],
  );
}
