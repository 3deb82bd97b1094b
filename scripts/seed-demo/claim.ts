// The seed's one claim of its own: one given orphan, claimed without a
// delete_batch job. The engine's claimDueBatch takes the head of the due order
// (not a given media), always enqueues the job (which a running worker would
// run at once, deleting the "stuck" avatar), needs the job queue's schema (absent
// until a worker first starts) and does not return the claim's token. Until the
// engine offers a claim of given media, this mirrors claimDueBatch's statement
// (the same columns, CLAIMED event and lease row).
import { randomUUID } from "node:crypto";
import type { DatabaseHandle } from "@media/server/db";

/**
 * Claims one orphan the way a sweep does (DELETING, a fresh token, a CLAIMED
 * event, a lease of leaseSeconds from now, negative for one already expired)
 * but without enqueuing a delete_batch job.
 */
export async function claimAsWorker(handle: DatabaseHandle, id: string, leaseSeconds: number): Promise<string> {
  const token = randomUUID();
  const { rows } = await handle.pool.query(
    `WITH claimed AS (
       UPDATE media SET state = 'DELETING', claim_token = $2, claim_time = now(), update_time = now()
       WHERE id = $1 AND state = 'ORPHANED' AND hold_reason IS NULL AND reference_count = 0
       RETURNING id
     ), events AS (
       INSERT INTO media_events (media_id, type, from_state, to_state, actor, reason)
       SELECT id, 'CLAIMED', 'ORPHANED', 'DELETING', 'worker', 'due for deletion' FROM claimed
     ), lease AS (
       INSERT INTO deletion_claims (token, lease_expire_time, media_ids)
       SELECT $2, now() + make_interval(secs => $3), ARRAY[id] FROM claimed
     )
     SELECT count(*)::int AS n FROM claimed`,
    [id, token, leaseSeconds],
  );
  if (rows[0].n !== 1) throw new Error(`media ${id} could not be claimed (did a running worker take it?)`);
  return token;
}
