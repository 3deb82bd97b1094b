import type pg from "pg";
import type { AttestationRow, MediaStateName } from "../db/schema.ts";
import { withTransaction } from "../db/transaction.ts";
import { actionAllowedSql, MEDIA_ACTION_RULES } from "./admin-actions.ts";
import { type CreateTimeCursor, newestFirstPage } from "./newest-first.ts";

// Reference attestation: an owning service's sessions, the pairs it sends, and
// the drift report its finish computes and repairs (docs/api.md, "Keeping
// references true").
//
// SQL style: raw statements on the pool (or a pooled client inside the one
// withTransaction). The drift is one set-wise INSERT ... SELECT of anti-joins
// into attestation_drift; the repairs then work through it in transactions of
// at most REPAIR_CHUNK changes, each through the ordinary paths (media_link,
// media_unlink, the hold rule of admin-actions.ts), so a finish that stops
// half-way is resumed by a repeated finish.

/** Pairs a page may carry. */
export const MAX_ATTESTED_PER_PAGE = 1000;
/** An OPEN attestation expires this long after its last page. */
export const ATTESTATION_IDLE_SECONDS = 3600;
/** Changes per repair transaction at most. */
export const REPAIR_CHUNK = 1000;
/** Items a report lists at most (the counts are complete). */
export const MAX_REPORT_ITEMS = 1000;
/** Pairs or drift rows dropped per statement. */
const CLEAR_CHUNK = 10_000;
/** An attestation of this many pairs or more has them analyzed before its drift is computed. */
const ANALYZE_FROM = 10_000;

/** The report's item kinds by rank, which is also their order in the report. */
export const DRIFT_RANKS = { 1: "ENDANGERED", 2: "GONE", 3: "NOT_LINKED", 4: "UNATTESTED" } as const;
export type DriftRank = keyof typeof DRIFT_RANKS;
export type DriftRepairName = "NONE" | "LINKED" | "HELD" | "UNLINKED" | "CHANGED_DURING";

/** One report item as attestations.items stores it: [rank, owner, media id, state (null for GONE), repair]. */
export type StoredDriftItem = [DriftRank, string, string, MediaStateName | null, DriftRepairName];

export interface AttestedPair {
  readonly owner: string;
  readonly mediaId: string;
}

/** What a page or a finish met: the attestation, or why it was refused. */
export type AttestationOutcome =
  | { readonly kind: "ok"; readonly attestation: AttestationRow }
  | { readonly kind: "not_found" }
  | { readonly kind: "closed"; readonly state: "FINISHED" | "EXPIRED" };

export interface FinishOptions {
  readonly linkAttested: boolean;
  readonly unlinkUnattested: boolean;
  /** The stores the caller may see; undefined: all. Media elsewhere do not exist for it. */
  readonly stores: readonly string[] | undefined;
  readonly graceSeconds: number;
}

/** The attestation, locked, and whether it is past its time by the database's clock. */
type LockedAttestation = AttestationRow & { readonly expired: boolean };

async function lockAttestation(client: pg.PoolClient, id: string, mode: "KEY SHARE" | "UPDATE") {
  const { rows } = await client.query<LockedAttestation>(
    `SELECT *, (state = 'EXPIRED' OR (state IN ('OPEN', 'FINISHING') AND expire_time <= now())) AS expired
     FROM attestations WHERE id = $1 FOR ${mode}`,
    [id],
  );
  const { expired, ...row } = rows[0] ?? { expired: false };
  return rows[0] === undefined ? undefined : { row: row as AttestationRow, expired };
}

/** SQL: the pair (alias.owner, alias.media_id) was neither linked nor unlinked since $3 (the start). */
const unchangedSince = (alias: string) =>
  `NOT EXISTS (SELECT 1 FROM media_events e WHERE e.media_id = ${alias}.media_id AND e.owner = ${alias}.owner
     AND e.type IN ('LINKED', 'UNLINKED') AND e.create_time >= $3)`;

/** Opens an attestation of the prefix for the actor. */
export async function startAttestation(pool: pg.Pool, ownerPrefix: string, actor: string): Promise<AttestationRow> {
  const { rows } = await pool.query<AttestationRow>(
    `INSERT INTO attestations (owner_prefix, actor, expire_time)
     VALUES ($1, $2, now() + make_interval(secs => $3)) RETURNING *`,
    [ownerPrefix, actor, ATTESTATION_IDLE_SECONDS],
  );
  return rows[0] as AttestationRow;
}

/**
 * Stores one page: its distinct new pairs, counted, and the expiry pushed back.
 * Pages of one attestation run side by side (a KEY SHARE lock, which only a
 * finish's or the sweep's FOR UPDATE waits for); pairs go in sorted, so two
 * pages repeating each other's pairs cannot deadlock.
 */
export async function attestPage(
  pool: pg.Pool,
  id: string,
  actor: string,
  pairs: readonly AttestedPair[],
): Promise<AttestationOutcome> {
  return withTransaction(pool, async (client): Promise<AttestationOutcome> => {
    const locked = await lockAttestation(client, id, "KEY SHARE");
    if (locked === undefined || locked.row.actor !== actor) return { kind: "not_found" };
    const { row } = locked;
    if (locked.expired) return { kind: "closed", state: "EXPIRED" };
    if (row.state !== "OPEN") return { kind: "closed", state: "FINISHED" };
    const inserted = await client.query(
      `INSERT INTO attestation_pairs (attestation_id, owner, media_id)
       SELECT DISTINCT $1::bigint, u.owner, u.media_id FROM unnest($2::text[], $3::bigint[]) AS u (owner, media_id)
       ORDER BY 2, 3
       ON CONFLICT DO NOTHING`,
      [id, pairs.map((p) => p.owner), pairs.map((p) => p.mediaId)],
    );
    const updated = await client.query<AttestationRow>(
      `UPDATE attestations SET attested_count = attested_count + $2, update_time = now(),
         expire_time = now() + make_interval(secs => $3)
       WHERE id = $1 RETURNING *`,
      [id, inserted.rowCount ?? 0, ATTESTATION_IDLE_SECONDS],
    );
    return { kind: "ok", attestation: updated.rows[0] as AttestationRow };
  });
}

/**
 * The drift, set-wise, into attestation_drift ($1 id, $2 prefix, $3 start,
 * $4 link_attested, $5 unlink_unattested, $6 the visible stores when limited):
 * attested pairs naming no visible media (GONE), attested pairs not linked
 * here (by the media's state), and references under the prefix older than the
 * attestation that were not attested. A pair linked or unlinked since the
 * start is CHANGED_DURING: no repair.
 */
function driftInsert(limited: boolean): string {
  const visible = limited ? "m.store = ANY($6::text[])" : "true";
  return `INSERT INTO attestation_drift (attestation_id, rank, owner, media_id, state, op, repair)
    SELECT $1, d.rank, d.owner, d.media_id, d.state,
      CASE WHEN c.changed THEN NULL
           WHEN d.rank IN (1, 3) AND $4::boolean THEN
             CASE WHEN d.state IN ('PENDING', 'LINKED', 'ORPHANED') THEN 'link'
                  WHEN d.state IN ('TRASHED', 'FAILED') THEN 'hold' END
           WHEN d.rank = 4 AND $5::boolean THEN 'unlink' END,
      CASE WHEN c.changed THEN 'CHANGED_DURING' ELSE 'NONE' END
    FROM (
      SELECT 2 AS rank, p.owner, p.media_id, NULL::media_state AS state
      FROM attestation_pairs p LEFT JOIN media m ON m.id = p.media_id
      WHERE p.attestation_id = $1 AND (m.id IS NULL OR NOT (${visible}))
      UNION ALL
      SELECT CASE WHEN m.state = 'LINKED' THEN 3 ELSE 1 END, p.owner, p.media_id, m.state
      FROM attestation_pairs p JOIN media m ON m.id = p.media_id
      WHERE p.attestation_id = $1 AND ${visible}
        AND NOT EXISTS (SELECT 1 FROM media_references r WHERE r.media_id = p.media_id AND r.owner = p.owner)
      UNION ALL
      SELECT 4, r.owner, r.media_id, m.state
      FROM media_references r JOIN media m ON m.id = r.media_id
      WHERE starts_with(r.owner, $2) AND r.create_time < $3 AND ${visible}
        AND NOT EXISTS (
          SELECT 1 FROM attestation_pairs p WHERE p.attestation_id = $1 AND p.owner = r.owner AND p.media_id = r.media_id)
    ) d
    CROSS JOIN LATERAL (
      SELECT d.rank <> 2 AND NOT ${unchangedSince("d")} AS changed
    ) c`;
}

type RepairOp = "link" | "hold" | "unlink";

const holdReason = (a: AttestationRow, state: "TRASHED" | "FAILED") =>
  `attestation ${a.id}: its owner under "${a.owner_prefix}" still uses it; ` +
  (state === "TRASHED" ? "restore it (RestoreMedia), then link it" : "retry it (RetryMedia), then link it");

/**
 * One repair transaction: up to REPAIR_CHUNK drift rows of one op, their media
 * locked in id order (as every multi-media change), a pair linked or unlinked
 * since the start left alone (CHANGED_DURING), the rest repaired through the
 * ordinary paths and marked. Answers the rows it settled (0: none left to it).
 */
async function repairChunk(pool: pg.Pool, a: AttestationRow, op: RepairOp, options: FinishOptions): Promise<number> {
  return withTransaction(pool, async (client) => {
    const todo = await client.query<{ owner: string; media_id: string }>(
      `SELECT owner, media_id::text FROM attestation_drift
       WHERE attestation_id = $1 AND op = $2 ORDER BY media_id, owner LIMIT $3 FOR UPDATE SKIP LOCKED`,
      [a.id, op, REPAIR_CHUNK],
    );
    if (todo.rows.length === 0) return 0;
    const owners = todo.rows.map((r) => r.owner);
    const ids = todo.rows.map((r) => r.media_id);
    await client.query("SELECT id FROM media WHERE id = ANY($1::bigint[]) ORDER BY id FOR NO KEY UPDATE", [ids]);
    // With the media locked no link or unlink can slip in: what is changed now stays changed.
    const pairs = `unnest($1::text[], $2::bigint[]) AS t (owner, media_id)`;
    const unchanged = unchangedSince("t");
    let repaired: { owner: string; media_id: string; repair: DriftRepairName }[];
    switch (op) {
      case "link": {
        const { rows } = await client.query<{ owner: string; media_id: string; changed: boolean }>(
          `SELECT t.owner, t.media_id::text, r.changed FROM ${pairs}
           CROSS JOIN LATERAL media_link(t.media_id, t.owner, $4, $5) r WHERE ${unchanged}`,
          [owners, ids, a.create_time, a.actor, `attestation ${a.id}: attested by its owner, linked`],
        );
        repaired = rows.map((r) => ({ ...r, repair: r.changed ? "LINKED" : "NONE" }));
        break;
      }
      case "unlink": {
        const { rows } = await client.query<{ owner: string; media_id: string; changed: boolean }>(
          `SELECT t.owner, t.media_id::text, r.changed FROM ${pairs}
           CROSS JOIN LATERAL media_unlink(t.media_id, t.owner, $4, $5, $6) r
           WHERE ${unchanged} AND EXISTS (SELECT 1 FROM media_references ref
             WHERE ref.media_id = t.media_id AND ref.owner = t.owner AND ref.create_time < $3)`,
          [owners, ids, a.create_time, a.actor, options.graceSeconds, `attestation ${a.id}: not attested by its owner`],
        );
        repaired = rows.map((r) => ({ ...r, repair: r.changed ? "UNLINKED" : "NONE" }));
        break;
      }
      case "hold": {
        const rule = MEDIA_ACTION_RULES.hold;
        // The hold rule's own refusals, a hold already there kept (an admin's reason is not overwritten).
        const allowed = `${actionAllowedSql(rule, true)} AND media.state::text IN ('TRASHED', 'FAILED')`;
        const { rows } = await client.query<{ owner: string; media_id: string }>(
          `WITH target AS MATERIALIZED (
             SELECT media.id, media.state FROM media
             WHERE media.id IN (SELECT t.media_id FROM ${pairs} WHERE ${unchanged}) AND ${allowed}
           ), changed AS (
             UPDATE media SET ${rule.set("CASE target.state::text WHEN 'TRASHED' THEN $5 ELSE $6 END")},
               update_time = now()
             FROM target WHERE media.id = target.id
             RETURNING media.id, target.state AS from_state, media.state AS to_state, media.hold_reason
           ), events AS (
             INSERT INTO media_events (media_id, type, from_state, to_state, actor, reason)
             SELECT id, $7, from_state, to_state, $4, hold_reason FROM changed
           )
           SELECT t.owner, t.media_id::text FROM ${pairs} WHERE t.media_id IN (SELECT id FROM changed)`,
          [owners, ids, a.create_time, a.actor, holdReason(a, "TRASHED"), holdReason(a, "FAILED"), rule.event],
        );
        repaired = rows.map((r) => ({ ...r, repair: "HELD" }));
        break;
      }
      default: {
        const unknown: never = op;
        throw new Error(`unknown repair ${String(unknown)}`);
      }
    }
    // Every row of the chunk is settled: repaired, left alone, or found changed during the attestation.
    await client.query(
      `UPDATE attestation_drift d SET op = NULL,
         repair = coalesce(v.repair, CASE WHEN ${unchangedSince("d")} THEN 'NONE' ELSE 'CHANGED_DURING' END)
       FROM unnest($1::text[], $2::bigint[]) AS t (owner, media_id)
       LEFT JOIN unnest($5::text[], $6::bigint[], $7::text[]) AS v (owner, media_id, repair)
         ON v.owner = t.owner AND v.media_id = t.media_id
       WHERE d.attestation_id = $4 AND d.op IS NOT NULL AND d.owner = t.owner AND d.media_id = t.media_id`,
      [
        owners,
        ids,
        a.create_time,
        a.id,
        repaired.map((r) => r.owner),
        repaired.map((r) => r.media_id),
        repaired.map((r) => r.repair),
      ],
    );
    return todo.rows.length;
  });
}

/** FINISHING → FINISHED with the report: complete counts and the first MAX_REPORT_ITEMS items in order. */
const CLOSE = `UPDATE attestations a SET state = 'FINISHED', finish_time = now(), update_time = now(),
    unattested_count = s.unattested, not_linked_count = s.not_linked, endangered_count = s.endangered,
    gone_count = s.gone, repaired_count = s.repaired, items_truncated = s.total > $2,
    items = coalesce((
      SELECT jsonb_agg(jsonb_build_array(i.rank, i.owner, i.media_id::text, i.state, i.repair)
        ORDER BY i.rank, i.owner, i.media_id)
      FROM (SELECT * FROM attestation_drift WHERE attestation_id = $1 ORDER BY rank, owner, media_id LIMIT $2) i
    ), '[]'::jsonb)
  FROM (
    SELECT count(*) FILTER (WHERE rank = 4) AS unattested, count(*) FILTER (WHERE rank = 3) AS not_linked,
      count(*) FILTER (WHERE rank = 1) AS endangered, count(*) FILTER (WHERE rank = 2) AS gone,
      count(*) FILTER (WHERE repair IN ('LINKED', 'HELD', 'UNLINKED')) AS repaired, count(*) AS total
    FROM attestation_drift WHERE attestation_id = $1
  ) s
  WHERE a.id = $1 AND a.state = 'FINISHING'
    AND NOT EXISTS (SELECT 1 FROM attestation_drift WHERE attestation_id = $1 AND op IS NOT NULL)
  RETURNING a.*`;

/**
 * Finishes an attestation: computes its drift (the first call), repairs what
 * the options ask for in chunks, stores the report, then drops the pairs and
 * drift rows. A repeated finish answers the stored report; one that finds a
 * finish half-way (it stopped, or runs beside) works on with the options the
 * first finish chose.
 */
export async function finishAttestation(
  pool: pg.Pool,
  id: string,
  actor: string,
  options: FinishOptions,
): Promise<AttestationOutcome> {
  // Fresh statistics of the pairs just sent, so the drift's anti-joins are planned as hash joins (a
  // large attestation otherwise looks empty to the planner); a role that may not analyze only warns.
  const open = await getAttestation(pool, id);
  if (open?.state === "OPEN" && Number(open.attested_count) >= ANALYZE_FROM)
    await pool.query("ANALYZE attestation_pairs");
  const begun = await withTransaction(pool, async (client): Promise<AttestationOutcome> => {
    // FOR UPDATE: waits for pages in flight; once this commits, no page is taken.
    const locked = await lockAttestation(client, id, "UPDATE");
    if (locked === undefined || locked.row.actor !== actor) return { kind: "not_found" };
    const { row } = locked;
    if (locked.expired) return { kind: "closed", state: "EXPIRED" };
    if (row.state === "OPEN") {
      // The anti-joins hash a million pairs at a time: in memory rather than in batches on disk.
      await client.query("SET LOCAL work_mem = '64MB'");
      await client.query(driftInsert(options.stores !== undefined), [
        row.id,
        row.owner_prefix,
        row.create_time,
        options.linkAttested,
        options.unlinkUnattested,
        ...(options.stores === undefined ? [] : [options.stores]),
      ]);
      const moved = await client.query<AttestationRow>(
        `UPDATE attestations SET state = 'FINISHING', update_time = now(),
           expire_time = now() + make_interval(secs => $2)
         WHERE id = $1 RETURNING *`,
        [row.id, ATTESTATION_IDLE_SECONDS],
      );
      return { kind: "ok", attestation: moved.rows[0] as AttestationRow };
    }
    return { kind: "ok", attestation: row };
  });
  if (begun.kind !== "ok" || begun.attestation.state === "FINISHED") return begun;
  const attestation = begun.attestation;
  for (;;) {
    for (const op of ["link", "hold", "unlink"] as const) {
      while ((await repairChunk(pool, attestation, op, options)) > 0) {}
    }
    const closed = await withTransaction(pool, async (client) => {
      // Waits for the chunks another finish still works on, then closes if none is left.
      await client.query("SELECT 1 FROM attestation_drift WHERE attestation_id = $1 AND op IS NOT NULL FOR UPDATE", [
        attestation.id,
      ]);
      const { rows } = await client.query<AttestationRow>(CLOSE, [attestation.id, MAX_REPORT_ITEMS]);
      if (rows[0] !== undefined) return rows[0];
      const { rows: now } = await client.query<AttestationRow>("SELECT * FROM attestations WHERE id = $1", [
        attestation.id,
      ]);
      return now[0];
    });
    if (closed === undefined) return { kind: "not_found" };
    if (closed.state === "FINISHED") {
      await clearAttestation(pool, closed.id);
      return { kind: "ok", attestation: closed };
    }
    if (closed.state !== "FINISHING") return { kind: "closed", state: "EXPIRED" };
  }
}

/** Drops a closed attestation's pairs and drift rows, CLEAR_CHUNK per statement; answers the rows dropped. */
export async function clearAttestation(pool: pg.Pool, id: string, budget = Number.POSITIVE_INFINITY): Promise<number> {
  let dropped = 0;
  for (const table of ["attestation_pairs", "attestation_drift"]) {
    for (;;) {
      if (dropped >= budget) return dropped;
      const result = await pool.query(
        `DELETE FROM ${table} WHERE ctid = ANY(ARRAY(SELECT ctid FROM ${table} WHERE attestation_id = $1 LIMIT $2))`,
        [id, CLEAR_CHUNK],
      );
      dropped += result.rowCount ?? 0;
      if ((result.rowCount ?? 0) < CLEAR_CHUNK) break;
    }
  }
  await pool.query(
    `UPDATE attestations SET clear_time = now() WHERE id = $1 AND state IN ('FINISHED', 'EXPIRED')
       AND NOT EXISTS (SELECT 1 FROM attestation_pairs WHERE attestation_id = $1)
       AND NOT EXISTS (SELECT 1 FROM attestation_drift WHERE attestation_id = $1)`,
    [id],
  );
  return dropped;
}

/**
 * The sweep's part: attestations past their expire_time become EXPIRED, and
 * closed attestations' pairs and drift rows are dropped, at most maxRows per
 * call (the next sweep goes on).
 */
export async function sweepAttestations(
  pool: pg.Pool,
  maxRows = 1_000_000,
): Promise<{ expired: number; dropped: number }> {
  const marked = await pool.query(
    `UPDATE attestations SET state = 'EXPIRED', update_time = now()
     WHERE id IN (SELECT id FROM attestations WHERE state IN ('OPEN', 'FINISHING') AND expire_time <= now()
                  ORDER BY expire_time LIMIT 1000 FOR UPDATE SKIP LOCKED)`,
  );
  const { rows } = await pool.query<{ id: string }>(
    `SELECT id FROM attestations WHERE clear_time IS NULL AND state IN ('FINISHED', 'EXPIRED') ORDER BY id LIMIT 100`,
  );
  let dropped = 0;
  for (const { id } of rows) {
    if (dropped >= maxRows) break;
    dropped += await clearAttestation(pool, id, maxRows - dropped);
  }
  return { expired: marked.rowCount ?? 0, dropped };
}

export async function getAttestation(pool: pg.Pool, id: string): Promise<AttestationRow | undefined> {
  const { rows } = await pool.query<AttestationRow>("SELECT * FROM attestations WHERE id = $1", [id]);
  return rows[0];
}

/** One page of attestations, newest first, of one prefix or all, continuing after the cursor. */
export const listAttestations = (
  pool: pg.Pool,
  ownerPrefix: string | undefined,
  after: CreateTimeCursor | undefined,
  limit: number,
) =>
  newestFirstPage<AttestationRow>(
    pool,
    "attestations",
    ownerPrefix === undefined ? undefined : { column: "owner_prefix", value: ownerPrefix },
    after,
    limit,
  );
