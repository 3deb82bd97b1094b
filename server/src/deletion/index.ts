// The deletion engine, as the worker (and the API's admin actions) see it:
// the due rule, claims with their leases, finishing a batch, the switchboard
// and the job contract. Exported as @media/server/deletion.
export {
  type ClaimCursor,
  type ClaimedFile,
  type ClaimResult,
  claimDueBatch,
  claimedFiles,
  type Reclaimed,
  reclaimExpiredClaim,
  releaseBatch,
  renewLease,
} from "./claims.ts";
export {
  checkBlastRadius,
  type DeletionControl,
  type GuardVerdict,
  getDeletionControl,
  pauseDeletions,
  resumeDeletions,
} from "./control.ts";
export { DUE_NOW, dueBy, SCHEDULED } from "./due.ts";
export { type BatchOutcome, finishBatch, type RetryPolicy, type StoreDeletions } from "./finish.ts";
export {
  BATCH_JOB_ATTEMPTS,
  type DeleteBatchPayload,
  ENQUEUE_SWEEP,
  enqueueDeleteBatch,
  parseDeleteBatchPayload,
  SWEEP_JOB_KEY,
  TASKS,
} from "./jobs.ts";
export { ClaimLease, LeaseLostError, type LeaseTiming, leaseMarginSeconds } from "./lease.ts";
