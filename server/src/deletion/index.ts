// The deletion engine, as the worker, the scripts and the benchmarks see it:
// the due rules, claims with their leases, finishing a batch, the trash
// (purges, restores, erasures), the switchboard, the plan and the job contract. Exported as @media/server/deletion; the server's own
// modules import the files they need directly.
export {
  CLAIMS_AHEAD_MIN,
  CLAIMS_AHEAD_PER_SLOT,
  type ClaimCursor,
  type ClaimedFile,
  type ClaimResult,
  claimDueBatch,
  claimedFiles,
  claimMedia,
  hasClaimRoom,
  type MediaClaim,
  newerSweepRunning,
  reclaimExpiredClaim,
  releaseBatch,
} from "./claims.ts";
export {
  checkBlastRadius,
  type DeletionControl,
  getDeletionControl,
  pauseDeletions,
  resumeDeletions,
} from "./control.ts";
export { DUE_NOW, PURGE_DUE_NOW } from "./due.ts";
export { type ErasureOutcome, eraseMedia, MAX_ERASE_IDS } from "./erase.ts";
export {
  type BatchOutcome,
  type BatchRun,
  finishBatch,
  finishPurge,
  type RetryPolicy,
  retryPolicyOf,
  type StorageDone,
} from "./finish.ts";
export {
  type BulkActionPayload,
  type ClaimPayload,
  type ClaimTask,
  type JobTrace,
  parseBulkActionPayload,
  parseClaimPayload,
  parseReconciliationPayload,
  parseSweepPayload,
  type ReconciliationPayload,
  SWEEP_JOB_KEY,
  TASKS,
} from "./jobs.ts";
export { ClaimLease, LeaseLostError } from "./lease.ts";
export { type DeletionPlan, deletionPlan, type QueuedSweep, requestSweep } from "./plan.ts";
export { MAX_RESTORE_IDS, type RestoreOutcome, type RestoreRequest, restoreMedia } from "./restore.ts";
export {
  type DeletionRunRow,
  HEARTBEAT_INTERVAL_SECONDS,
  listDeletionRuns,
  listWorkers,
  type NewDeletionRun,
  pruneRuns,
  RUN_RETENTION_DAYS,
  recordHeartbeat,
  recordRun,
  type WorkerHeartbeatRow,
  type WorkerIdentity,
} from "./runs.ts";
export { nextScheduledTime } from "./schedule.ts";
export {
  claimPurgeBatch,
  ERASE_INTERRUPTED,
  RESTORE_INTERRUPTED,
  releasePurge,
  type SettledClaims,
  settleExpiredClaims,
} from "./trash.ts";
