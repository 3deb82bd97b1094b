// The deletion engine, as the worker, the scripts and the benchmarks see it:
// the due rule, claims with their leases, finishing a batch, the switchboard,
// the plan and the job contract. Exported as @media/server/deletion; the server's own
// modules import the files they need directly.
export {
  type ClaimCursor,
  type ClaimedFile,
  claimDueBatch,
  claimedFiles,
  claimMedia,
  type MediaClaim,
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
export { DUE_NOW } from "./due.ts";
export { type BatchOutcome, type BatchRun, finishBatch, type RetryPolicy, retryPolicyOf } from "./finish.ts";
export {
  type DeleteBatchPayload,
  type JobTrace,
  parseDeleteBatchPayload,
  parseSweepPayload,
  SWEEP_JOB_KEY,
  TASKS,
} from "./jobs.ts";
export { ClaimLease, LeaseLostError } from "./lease.ts";
export { type DeletionPlan, deletionPlan, type QueuedSweep, requestSweep } from "./plan.ts";
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
