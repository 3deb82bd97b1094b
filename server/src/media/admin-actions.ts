import type pg from "pg";
import type { MediaEventTypeName, MediaRow, MediaStateName } from "../db/schema.ts";
import { withTransaction } from "../db/transaction.ts";

// Admin actions on one media: hold, release, delete now, retry. Each runs in
// one transaction: lock the row, check it may change, change it, write the event.
// Which media each may change is MEDIA_ACTION_RULES, shared with the bulk actions.
//
// SQL style: raw statements on a pooled client inside withTransaction, since
// the lock, the change and the event must share one transaction and each
// action differs only in its SET clause.

export type ActionOutcome =
  | { readonly kind: "ok"; readonly media: MediaRow }
  | { readonly kind: "not_found" }
  | { readonly kind: "refused"; readonly media: MediaRow; readonly why: string };

/** The admin actions on a media, each of which a bulk action can run on many (media/bulk-actions.ts). */
export type MediaActionName = "hold" | "release" | "deleteNow" | "retry";

/**
 * What may change which media: the one home of these rules, for the
 * single-media actions here and the bulk actions' set-based chunks. Every
 * condition is SQL on the table `media` (never NULL: it reads NOT NULL
 * columns and IS [NOT] NULL tests).
 */
export interface MediaActionRule {
  /** In order: when the action is refused (SQL), and what the refusal says, from the row. */
  readonly refusals: readonly { readonly when: string; why(row: MediaRow): string }[];
  /**
   * A media the action may change but that is already as it would leave it
   * (SQL): a single action changes it anyway (a hold's new reason), a bulk
   * action skips it.
   */
  readonly unchanged?: string;
  /** SET clause; `reasonParam` is the placeholder of the action's reason (the hold reason of a hold). */
  set(reasonParam: string): string;
  readonly event: MediaEventTypeName;
}

const refuseIn = (states: readonly MediaStateName[], why: string) => ({
  when: `media.state IN (${states.map((s) => `'${s}'`).join(", ")})`,
  why: (row: MediaRow) => `media is ${row.state}: ${why}`,
});

const refuseUnless = (states: readonly MediaStateName[], why: string) => ({
  when: `media.state NOT IN (${states.map((s) => `'${s}'`).join(", ")})`,
  why: (row: MediaRow) => `media is ${row.state}: ${why}`,
});

export const MEDIA_ACTION_RULES: Record<MediaActionName, MediaActionRule> = {
  hold: {
    refusals: [
      refuseIn(["DELETING"], "a worker is deleting it"),
      // A purge, restore or erasure has it: a hold accepted now could not stop what is already under way.
      {
        when: "media.claim_token IS NOT NULL",
        why: (row) => `media is ${row.state} and being purged, restored or erased right now: try again in a minute`,
      },
    ],
    unchanged: "media.hold_reason IS NOT NULL",
    set: (reasonParam) => `hold_reason = ${reasonParam}`,
    event: "HELD",
  },
  release: {
    refusals: [{ when: "media.hold_reason IS NULL", why: () => "media is not held" }],
    set: () => "hold_reason = NULL",
    event: "UNHELD",
  },
  deleteNow: {
    refusals: [
      refuseUnless(["PENDING", "ORPHANED"], "only PENDING or ORPHANED media can be deleted"),
      { when: "media.hold_reason IS NOT NULL", why: (row) => `media is held (${row.hold_reason}): release it first` },
    ],
    set: () => "delete_time = now()",
    event: "DELETE_REQUESTED",
  },
  retry: {
    refusals: [refuseUnless(["FAILED"], "only FAILED media can be retried")],
    set: () =>
      "state = 'ORPHANED', delete_attempts = 0, delete_time = now(), orphan_time = coalesce(orphan_time, now())",
    event: "RETRY_REQUESTED",
  },
};

/** SQL true exactly for the media the rule lets the action change; with skipUnchanged, not those already so. */
export function actionAllowedSql(rule: MediaActionRule, skipUnchanged: boolean): string {
  const conditions = rule.refusals.map((r) => `NOT (${r.when})`);
  if (skipUnchanged && rule.unchanged !== undefined) conditions.push(`NOT (${rule.unchanged})`);
  return conditions.length === 0 ? "true" : conditions.join(" AND ");
}

async function changeMedia(
  pool: pg.Pool,
  id: string,
  actor: string,
  rule: MediaActionRule,
  param: string | undefined,
  reason: (row: MediaRow) => string,
): Promise<ActionOutcome> {
  return withTransaction(pool, async (client): Promise<ActionOutcome> => {
    const checks = rule.refusals.map((r, i) => `(${r.when}) AS refused_${i}`).join(", ");
    const found = await client.query<MediaRow & Record<string, unknown>>(
      `SELECT *, ${checks} FROM media WHERE id = $1 FOR UPDATE`,
      [id],
    );
    const row = found.rows[0];
    if (row === undefined) return { kind: "not_found" };
    const before = { ...row };
    for (const key of Object.keys(before)) if (key.startsWith("refused_")) delete before[key];
    const refusal = rule.refusals.find((_, i) => row[`refused_${i}`] === true);
    if (refusal !== undefined) return { kind: "refused", media: before, why: refusal.why(before) };
    const updated = await client.query<MediaRow>(
      `UPDATE media SET ${rule.set("$2")}, update_time = now() WHERE id = $1 RETURNING *`,
      param === undefined ? [id] : [id, param],
    );
    const after = updated.rows[0] as MediaRow;
    await client.query(
      `INSERT INTO media_events (media_id, type, from_state, to_state, actor, reason)
       VALUES ($1, $2, $3, $4, $5, $6)`,
      [id, rule.event, before.state, after.state, actor, reason(before)],
    );
    return { kind: "ok", media: after };
  });
}

export interface AdminActions {
  /** Holds a media back from deletion. A media already claimed by a worker cannot be held. */
  hold(id: string, reason: string, actor: string): Promise<ActionOutcome>;
  release(id: string, actor: string): Promise<ActionOutcome>;
  /** Makes an unreferenced, unheld media due now; the worker deletes it at its next sweep. */
  deleteNow(id: string, actor: string): Promise<ActionOutcome>;
  /** Sends a FAILED media back to ORPHANED, due now, with a fresh retry budget. */
  retry(id: string, actor: string): Promise<ActionOutcome>;
}

export function createAdminActions(pool: pg.Pool): AdminActions {
  const rules = MEDIA_ACTION_RULES;
  return {
    hold: (id, reason, actor) => changeMedia(pool, id, actor, rules.hold, reason, () => reason),
    release: (id, actor) =>
      changeMedia(pool, id, actor, rules.release, undefined, (row) => `hold lifted (was: ${row.hold_reason})`),
    deleteNow: (id, actor) =>
      changeMedia(pool, id, actor, rules.deleteNow, undefined, () => "delete now requested by an admin"),
    retry: (id, actor) =>
      changeMedia(
        pool,
        id,
        actor,
        rules.retry,
        undefined,
        (row) => `retry requested after: ${row.last_error ?? "unknown error"}`,
      ),
  };
}
