import type pg from "pg";
import type { MediaEventTypeName, MediaRow, MediaStateName } from "../db/schema.ts";
import { withTransaction } from "../db/transaction.ts";

// Admin actions on one media: hold, release, delete now, retry. Each runs in
// one transaction: lock the row, check it may change, change it, write the event.
//
// SQL style: raw statements on a pooled client inside withTransaction, since
// the lock, the change and the event must share one transaction and each
// action differs only in its SET clause.

export type ActionOutcome =
  | { readonly kind: "ok"; readonly media: MediaRow }
  | { readonly kind: "not_found" }
  | { readonly kind: "refused"; readonly media: MediaRow; readonly why: string };

interface Change {
  /** Why the row may not change, or undefined when it may. */
  refuse(row: MediaRow): string | undefined;
  /** SET clause; $1 is the id, further parameters follow. */
  readonly set: string;
  readonly params: readonly unknown[];
  readonly event: MediaEventTypeName;
  reason(row: MediaRow): string;
}

async function changeMedia(pool: pg.Pool, id: string, actor: string, change: Change): Promise<ActionOutcome> {
  return withTransaction(pool, async (client): Promise<ActionOutcome> => {
    const found = await client.query<MediaRow>("SELECT * FROM media WHERE id = $1 FOR UPDATE", [id]);
    const before = found.rows[0];
    if (before === undefined) return { kind: "not_found" };
    const why = change.refuse(before);
    if (why !== undefined) return { kind: "refused", media: before, why };
    const updated = await client.query<MediaRow>(
      `UPDATE media SET ${change.set}, update_time = now() WHERE id = $1 RETURNING *`,
      [id, ...change.params],
    );
    const after = updated.rows[0] as MediaRow;
    await client.query(
      `INSERT INTO media_events (media_id, type, from_state, to_state, actor, reason)
       VALUES ($1, $2, $3, $4, $5, $6)`,
      [id, change.event, before.state, after.state, actor, change.reason(before)],
    );
    return { kind: "ok", media: after };
  });
}

const refuseIn = (states: MediaStateName[], why: string) => (row: MediaRow) =>
  states.includes(row.state) ? `media is ${row.state}: ${why}` : undefined;

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
  return {
    hold: (id, reason, actor) =>
      changeMedia(pool, id, actor, {
        refuse: refuseIn(["DELETING"], "a worker is deleting it"),
        set: "hold_reason = $2",
        params: [reason],
        event: "HELD",
        reason: () => reason,
      }),

    release: (id, actor) =>
      changeMedia(pool, id, actor, {
        refuse: (row) => (row.hold_reason === null ? "media is not held" : undefined),
        set: "hold_reason = NULL",
        params: [],
        event: "UNHELD",
        reason: (row) => `hold lifted (was: ${row.hold_reason})`,
      }),

    deleteNow: (id, actor) =>
      changeMedia(pool, id, actor, {
        refuse: (row) =>
          row.state !== "PENDING" && row.state !== "ORPHANED"
            ? `media is ${row.state}: only PENDING or ORPHANED media can be deleted`
            : row.hold_reason !== null
              ? `media is held (${row.hold_reason}): release it first`
              : undefined,
        set: "delete_time = now()",
        params: [],
        event: "DELETE_REQUESTED",
        reason: () => "delete now requested by an admin",
      }),

    retry: (id, actor) =>
      changeMedia(pool, id, actor, {
        refuse: (row) =>
          row.state === "FAILED" ? undefined : `media is ${row.state}: only FAILED media can be retried`,
        set: "state = 'ORPHANED', delete_attempts = 0, delete_time = now(), orphan_time = coalesce(orphan_time, now())",
        params: [],
        event: "RETRY_REQUESTED",
        reason: (row) => `retry requested after: ${row.last_error ?? "unknown error"}`,
      }),
  };
}
