// The seed's claims of one given orphan, through the engine's claimMedia (the
// sweep's own claim statement) without a delete_batch job: a running worker
// would run the job at once, deleting the "stuck" avatar, and the job queue's
// schema does not exist until a worker first starts.
import type { DatabaseHandle } from "@media/server/db";
import { claimMedia } from "@media/server/deletion";

/**
 * Claims one orphan the way a sweep does (DELETING, a fresh token, a CLAIMED
 * event, a lease of leaseSeconds from now, negative for one already expired)
 * but without enqueuing a delete_batch job. Returns the claim's token.
 */
export async function claimAsWorker(handle: DatabaseHandle, id: string, leaseSeconds: number): Promise<string> {
  const { token, claimed } = await claimMedia(handle.pool, [id], leaseSeconds, {
    actor: "worker",
    reason: "due for deletion",
  });
  if (claimed.length !== 1) throw new Error(`media ${id} could not be claimed (did a running worker take it?)`);
  return token;
}
