import { type Kysely, sql } from "kysely";
import type pg from "pg";
import type { Database, MediaRow, MediaStateName } from "../db/schema.ts";
import { withTransaction } from "../db/transaction.ts";
import { createGroupCommit } from "./group-commit.ts";

// The lifecycle writes and the lookup by id: register, find, link, unlink,
// unlink an owner. Built once (createMediaRepository) over the database
// handle, so callers never choose between the Kysely instance and the pool.
//
// SQL style: the three hot paths (lookup by ids, link, unlink) are raw named
// statements on the pg pool, so PostgreSQL parses and plans them once per
// connection, which measured ~30% more link/unlink transactions per second
// (docs/performance.md). The two cold ones (register, unlink an owner) are
// single Kysely `sql` statements: each is one fixed CTE or lateral call that
// the builder would only obscure.

export interface NewMediaInput {
  readonly store: string;
  readonly key: string;
  readonly contentType: string;
  readonly sizeBytes: bigint;
  readonly labels: Readonly<Record<string, string>>;
}

export type CreateOutcome =
  | { readonly kind: "created"; readonly media: MediaRow }
  | { readonly kind: "exists"; readonly media: MediaRow }
  | { readonly kind: "conflict"; readonly media: MediaRow; readonly field: string }
  | { readonly kind: "deleting"; readonly media: MediaRow };

/**
 * Result of link/unlink: 'deleting' means the row is claimed (or failed) and
 * refuses links; 'trashed' that its file is in the trash (restore it first).
 */
export type ReferenceOutcome =
  | { readonly kind: "ok"; readonly changed: boolean; readonly media: MediaRow }
  | { readonly kind: "not_found" }
  | { readonly kind: "deleting"; readonly media: MediaRow }
  | { readonly kind: "trashed"; readonly media: MediaRow };

/** What one UnlinkOwner call did: counts, the first UNLINK_OWNER_SAMPLE ids of each kind, and what is left. */
export interface UnlinkOwnerResult {
  readonly unlinkedMediaIds: string[];
  readonly orphanedMediaIds: string[];
  readonly unlinkedCount: number;
  readonly orphanedCount: number;
  readonly remainingCount: number;
}

/** References unlinked per transaction. */
export const UNLINK_OWNER_CHUNK = 1000;
/** References unlinked per call at most: a call stays well within any deadline, and its answer small. */
export const UNLINK_OWNER_PER_CALL = 10_000;
/** Ids of each kind an answer lists at most. */
export const UNLINK_OWNER_SAMPLE = 1000;

/** What ReplaceOwnerMedia changed, ids ascending; or the media that made it change nothing. */
export type ReplaceOwnerOutcome =
  | {
      readonly kind: "ok";
      readonly linkedMediaIds: string[];
      readonly unlinkedMediaIds: string[];
      readonly orphanedMediaIds: string[];
    }
  | { readonly kind: "not_found"; readonly mediaId: string }
  | { readonly kind: "deleting"; readonly media: MediaRow }
  | { readonly kind: "trashed"; readonly media: MediaRow };

/** A media of the set refused its link: the transaction is rolled back and the outcome says which. */
class ReplaceRefused extends Error {
  readonly outcome: Exclude<ReplaceOwnerOutcome, { kind: "ok" }>;
  constructor(outcome: Exclude<ReplaceOwnerOutcome, { kind: "ok" }>) {
    super(outcome.kind);
    this.outcome = outcome;
  }
}

export interface MediaRepository {
  /**
   * Registers a file as PENDING, expiring after pendingTtlSeconds unless linked.
   * Idempotent on (store, key): an identical registration returns the existing
   * live row. A key whose media is TRASHED is free: a new media is registered.
   * With an owner, the media is linked to it in the same transaction (never
   * PENDING); a repeat links the existing row.
   */
  create(input: NewMediaInput, actor: string, pendingTtlSeconds: number, owner?: string): Promise<CreateOutcome>;
  /** Rows for the given ids, in no particular order; missing ids are simply absent. */
  findByIds(ids: readonly string[]): Promise<MediaRow[]>;
  /** Adds the (media, owner) reference; see media_link in the initial migration. */
  link(mediaId: string, owner: string, actor: string): Promise<ReferenceOutcome>;
  /** Removes the (media, owner) reference; the last one orphans the media for graceSeconds. */
  unlink(mediaId: string, owner: string, actor: string, graceSeconds: number): Promise<ReferenceOutcome>;
  /**
   * Drops the references the owner holds, UNLINK_OWNER_CHUNK per statement (so
   * per transaction) and up to UNLINK_OWNER_PER_CALL per call, unlinking media
   * in ascending id order so that concurrent calls lock rows in the same order
   * and cannot deadlock. Idempotent: a call goes on where the last stopped.
   */
  unlinkOwner(owner: string, actor: string, graceSeconds: number): Promise<UnlinkOwnerResult>;
  /**
   * Makes `mediaIds` the owner's complete set of references, in one
   * transaction: links what is missing, unlinks the rest, one media at a time
   * in ascending id order (the lock order of every multi-media change).
   * Concurrent replaces of one owner take turns (a transaction lock on the
   * owner), so each sees the set the previous one left. A media that cannot be
   * linked (unknown, being deleted, TRASHED) rolls it all back.
   */
  replaceOwner(
    owner: string,
    mediaIds: readonly string[],
    actor: string,
    graceSeconds: number,
  ): Promise<ReplaceOwnerOutcome>;
}

// Named statements list their columns: a plan cached per connection must keep
// its result shape when a later migration adds a column to media.
const MEDIA_COLUMNS = [
  "id",
  "store",
  "key",
  "content_type",
  "size_bytes",
  "labels",
  "state",
  "reference_count",
  "create_time",
  "update_time",
  "orphan_time",
  "delete_time",
  "hold_reason",
  "claim_token",
  "claim_time",
  "delete_attempts",
  "last_error",
  "trash_time",
  "purge_time",
  "file_missing_time",
] as const satisfies readonly (keyof MediaRow)[];
const SELECT_MEDIA = MEDIA_COLUMNS.join(", ");
const SELECT_RESULT_MEDIA = MEDIA_COLUMNS.map((c) => `(r.m).${c}`).join(", ");

type ReferenceResultRow = MediaRow & { outcome: "ok" | "not_found" | "deleting" | "trashed"; changed: boolean };

function toReferenceOutcome(row: ReferenceResultRow | undefined): ReferenceOutcome {
  if (row === undefined) throw new Error("reference function returned no row");
  const { outcome, changed, ...media } = row;
  switch (outcome) {
    case "not_found":
      return { kind: "not_found" };
    case "deleting":
      return { kind: "deleting", media };
    case "trashed":
      return { kind: "trashed", media };
    case "ok":
      return { kind: "ok", changed, media };
    default: {
      const unknown: never = outcome;
      throw new Error(`reference function returned outcome ${String(unknown)}`);
    }
  }
}

function sameLabels(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => a[k] === b[k]);
}

function conflictingField(row: MediaRow, input: NewMediaInput): string | undefined {
  if (row.content_type !== input.contentType) return "content_type";
  if (BigInt(row.size_bytes) !== input.sizeBytes) return "size_bytes";
  if (!sameLabels(row.labels, input.labels)) return "labels";
  return undefined;
}

type Queryable = pg.Pool | pg.PoolClient;

/** A new PENDING row and its CREATED event, unless a live row holds the key ($1 store, $2 key, ... $7 actor). */
const INSERT_MEDIA = `WITH inserted AS (
    INSERT INTO media (store, key, content_type, size_bytes, labels, state, delete_time)
    VALUES ($1, $2, $3, $4, $5::jsonb, 'PENDING', now() + make_interval(secs => $6))
    ON CONFLICT (store, key, trash_time) DO NOTHING
    RETURNING *
  ), event AS (
    INSERT INTO media_events (media_id, type, to_state, actor, reason, store)
    SELECT id, 'CREATED', 'PENDING', $7, 'registered', store FROM inserted
  )
  SELECT * FROM inserted`;

/** media_link, as a named statement's text ($1 media, $2 owner, $3 actor). */
const LINK = `SELECT r.outcome, r.changed, ${SELECT_RESULT_MEDIA} FROM media_link($1::bigint, $2, $3) r`;
/** media_unlink ($1 media, $2 owner, $3 actor, $4 grace seconds). */
const UNLINK = `SELECT r.outcome, r.changed, ${SELECT_RESULT_MEDIA} FROM media_unlink($1::bigint, $2, $3, $4, 'unlinked') r`;
/** Many links and unlinks, set-wise in one statement, in rounds when a media is named twice (see migration 0016_set_wise_reference_group). */
const REFERENCE_GROUP = `SELECT r.ord, r.outcome, r.changed, ${SELECT_RESULT_MEDIA}
  FROM media_reference_group($1::text[], $2::bigint[], $3::text[], $4::text[], $5::float8[], $6) r`;

/** One LinkMedia or UnlinkMedia call, as group commit gathers them. */
interface ReferenceChange {
  readonly op: "link" | "unlink";
  readonly mediaId: string;
  readonly owner: string;
  readonly actor: string;
  readonly graceSeconds: number;
}

/**
 * Group commit's bounds: calls per group, and groups at once (each holds one
 * connection while it runs). With set-wise groups, 4, 8, 12 and 24 groups at
 * once measured the same at 1,000,000 rows (1.45-1.50x the direct calls,
 * docs/performance.md); twelve keeps a group stuck on a row lock from holding
 * up a large share of the calls.
 */
const GROUP_MAX_CALLS = 200;
const GROUPS_IN_FLIGHT = 12;
/** How long a group waits for a row lock before its calls are retried one by one, each under its own deadline. */
const GROUP_LOCK_TIMEOUT = "200ms";

/** Link and unlink, each call gathered with those arriving at the same time into one transaction. */
function createReferenceWriter(pool: pg.Pool): (change: ReferenceChange) => Promise<ReferenceOutcome> {
  const runOne = async (c: ReferenceChange) => {
    const { rows } =
      c.op === "link"
        ? await pool.query<ReferenceResultRow>({
            name: "media_link",
            text: LINK,
            values: [c.mediaId, c.owner, c.actor],
          })
        : await pool.query<ReferenceResultRow>({
            name: "media_unlink",
            text: UNLINK,
            values: [c.mediaId, c.owner, c.actor, c.graceSeconds],
          });
    return toReferenceOutcome(rows[0]);
  };
  const runGroup = async (changes: readonly ReferenceChange[]) => {
    // The function locks the media in ascending id order itself, whatever order they come in.
    const { rows } = await pool.query<ReferenceResultRow & { ord: number }>({
      name: "media_reference_group",
      text: REFERENCE_GROUP,
      values: [
        changes.map((c) => c.op),
        changes.map((c) => c.mediaId),
        changes.map((c) => c.owner),
        changes.map((c) => c.actor),
        changes.map((c) => c.graceSeconds),
        GROUP_LOCK_TIMEOUT,
      ],
    });
    if (rows.length !== changes.length) throw new Error(`reference group answered ${rows.length} of ${changes.length}`);
    const outcomes: ReferenceOutcome[] = new Array(changes.length);
    for (const { ord, ...row } of rows) outcomes[ord - 1] = toReferenceOutcome(row);
    return outcomes;
  };
  return createGroupCommit({
    runOne,
    runGroup,
    keyOf: (c) => c.mediaId,
    maxGroup: GROUP_MAX_CALLS,
    maxInFlight: GROUPS_IN_FLIGHT,
  });
}

/** Registers the file, or finds the live row that holds its key and says whether it is the same registration. */
async function register(
  q: Queryable,
  input: NewMediaInput,
  actor: string,
  pendingTtlSeconds: number,
): Promise<CreateOutcome> {
  // Two attempts: the existing row can be deleted between our insert and our read.
  for (let attempt = 0; attempt < 2; attempt++) {
    const inserted = await q.query<MediaRow>(INSERT_MEDIA, [
      input.store,
      input.key,
      input.contentType,
      input.sizeBytes.toString(),
      JSON.stringify(input.labels),
      pendingTtlSeconds,
      actor,
    ]);
    const created = inserted.rows[0];
    if (created !== undefined) return { kind: "created", media: created };
    const existing = await q.query<MediaRow>(
      "SELECT * FROM media WHERE store = $1 AND key = $2 AND trash_time IS NULL",
      [input.store, input.key],
    );
    const row = existing.rows[0];
    if (row === undefined) continue;
    if (row.state === "DELETING" || row.state === "FAILED") return { kind: "deleting", media: row };
    const field = conflictingField(row, input);
    return field === undefined ? { kind: "exists", media: row } : { kind: "conflict", media: row, field };
  }
  throw new Error(`media ${input.store}/${input.key} vanished twice while being registered`);
}

export function createMediaRepository({ db, pool }: { db: Kysely<Database>; pool: pg.Pool }): MediaRepository {
  const writeReference = createReferenceWriter(pool);
  return {
    async create(input, actor, pendingTtlSeconds, owner) {
      if (owner === undefined) return register(pool, input, actor, pendingTtlSeconds);
      // Registered and linked in one transaction: no PENDING state is ever committed.
      return withTransaction(pool, async (client) => {
        const outcome = await register(client, input, actor, pendingTtlSeconds);
        if (outcome.kind !== "created" && outcome.kind !== "exists") return outcome;
        const linked = toReferenceOutcome(
          (await client.query<ReferenceResultRow>(LINK, [outcome.media.id, owner, actor])).rows[0],
        );
        switch (linked.kind) {
          case "ok":
            return { kind: outcome.kind, media: linked.media };
          case "deleting":
          case "trashed":
            return { kind: "deleting", media: linked.media };
          case "not_found":
            throw new Error(`media ${outcome.media.id} vanished inside its own registration`);
          default: {
            const unhandled: never = linked;
            throw new Error(`unknown link outcome ${JSON.stringify(unhandled)}`);
          }
        }
      });
    },

    async findByIds(ids) {
      if (ids.length === 0) return [];
      const result = await pool.query<MediaRow>({
        name: "media_by_ids",
        text: `SELECT ${SELECT_MEDIA} FROM media WHERE id = ANY($1::bigint[])`,
        values: [ids],
      });
      return result.rows;
    },

    link(mediaId, owner, actor) {
      return writeReference({ op: "link", mediaId, owner, actor, graceSeconds: 0 });
    },

    unlink(mediaId, owner, actor, graceSeconds) {
      return writeReference({ op: "unlink", mediaId, owner, actor, graceSeconds });
    },

    async replaceOwner(owner, mediaIds, actor, graceSeconds) {
      try {
        return await withTransaction(pool, async (client): Promise<ReplaceOwnerOutcome> => {
          await client.query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", [owner]);
          const { rows } = await client.query<ReferenceResultRow & { op: "link" | "unlink"; media_id: string }>(
            `WITH wanted AS (SELECT DISTINCT unnest($2::bigint[]) AS id),
             held AS (SELECT media_id AS id FROM media_references WHERE owner = $1),
             ops AS (
               SELECT id, 'link' AS op FROM wanted WHERE id NOT IN (SELECT id FROM held)
               UNION ALL
               SELECT id, 'unlink' FROM held WHERE id NOT IN (SELECT id FROM wanted)
             )
             SELECT t.op, t.id::text AS media_id, r.outcome, r.changed, ${SELECT_RESULT_MEDIA}
             FROM (SELECT * FROM ops ORDER BY id) t
             CROSS JOIN LATERAL (
               SELECT * FROM media_link(t.id, $1, $3) WHERE t.op = 'link'
               UNION ALL
               SELECT * FROM media_unlink(t.id, $1, $3, $4, 'replaced') WHERE t.op = 'unlink'
             ) r
             ORDER BY t.id`,
            [owner, mediaIds, actor, graceSeconds],
          );
          for (const row of rows) {
            if (row.outcome === "not_found") throw new ReplaceRefused({ kind: "not_found", mediaId: row.media_id });
            if (row.outcome === "deleting" || row.outcome === "trashed") {
              const { outcome, changed, op, media_id, ...media } = row;
              throw new ReplaceRefused({ kind: outcome, media });
            }
          }
          const changed = rows.filter((r) => r.changed);
          const ids = (op: "link" | "unlink") => changed.filter((r) => r.op === op).map((r) => r.media_id);
          return {
            kind: "ok",
            linkedMediaIds: ids("link"),
            unlinkedMediaIds: ids("unlink"),
            orphanedMediaIds: changed.filter((r) => r.op === "unlink" && r.state === "ORPHANED").map((r) => r.media_id),
          };
        });
      } catch (error) {
        if (error instanceof ReplaceRefused) return error.outcome;
        throw error;
      }
    },

    async unlinkOwner(owner, actor, graceSeconds) {
      const unlinked: string[] = [];
      const orphaned: string[] = [];
      let unlinkedCount = 0;
      let orphanedCount = 0;
      let full = true;
      for (let done = 0; full && done < UNLINK_OWNER_PER_CALL; done += UNLINK_OWNER_CHUNK) {
        // One statement, so one transaction, per chunk: the lowest ids first, locked in ascending order.
        const result = await sql<{ id: string; state: MediaStateName; changed: boolean }>`
          SELECT (r.m).id, (r.m).state, r.changed
          FROM (SELECT media_id FROM media_references WHERE owner = ${owner} ORDER BY media_id LIMIT ${UNLINK_OWNER_CHUNK}) refs
          CROSS JOIN LATERAL media_unlink(refs.media_id, ${owner}, ${actor}, ${graceSeconds}, 'owner unlinked') r
          ORDER BY refs.media_id`.execute(db);
        full = result.rows.length === UNLINK_OWNER_CHUNK;
        for (const row of result.rows) {
          if (!row.changed) continue;
          unlinkedCount++;
          if (unlinked.length < UNLINK_OWNER_SAMPLE) unlinked.push(row.id);
          if (row.state !== "ORPHANED") continue;
          orphanedCount++;
          if (orphaned.length < UNLINK_OWNER_SAMPLE) orphaned.push(row.id);
        }
      }
      const left = full
        ? await sql<{ n: number }>`SELECT count(*)::int AS n FROM media_references WHERE owner = ${owner}`.execute(db)
        : undefined;
      return {
        unlinkedMediaIds: unlinked,
        orphanedMediaIds: orphaned,
        unlinkedCount,
        orphanedCount,
        remainingCount: left?.rows[0]?.n ?? 0,
      };
    },
  };
}
