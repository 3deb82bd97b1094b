import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  type BulkAction,
  BulkActionSchema,
  BulkActionState,
  BulkActionType,
  DeletionRunKind,
  ErasureOutcome,
  type ErasureReceipt,
  ErasureReceiptSchema,
  type MediaEvent,
  MediaEventSchema,
  MediaEventType,
  type MediaReference,
  MediaReferenceSchema,
  type Reconciliation,
  ReconciliationAction,
  type ReconciliationFinding,
  ReconciliationFindingKind,
  ReconciliationFindingResolution,
  ReconciliationFindingSchema,
  ReconciliationSchema,
  ReconciliationState,
} from "@media/proto/media/v1/admin_service_pb";
import {
  type Attestation,
  AttestationSchema,
  AttestationState,
  DriftKind,
  DriftRepair,
  type Media,
  MediaSchema,
  MediaState,
} from "@media/proto/media/v1/media_pb";
import {
  type AttestationRow,
  type AttestationStateName,
  type BulkActionRow,
  type BulkActionStateName,
  type BulkActionTypeName,
  MEDIA_STATES,
  type MediaEventRow,
  type MediaEventTypeName,
  type MediaReferenceRow,
  type MediaRow,
  type MediaStateName,
  type ReconciliationFindingKindName,
  type ReconciliationFindingRow,
  type ReconciliationResolutionName,
  type ReconciliationRow,
  type ReconciliationStateName,
} from "../db/schema.ts";
import type { DeletionControl } from "../deletion/control.ts";
import type { ErasureOutcome as ErasureResult } from "../deletion/erase.ts";
import type { DeletionPlan, QueuedSweep } from "../deletion/plan.ts";
import type { DeletionRunRow, WorkerHeartbeatRow } from "../deletion/runs.ts";
import type { DriftRank, DriftRepairName, StoredDriftItem } from "./attestations.ts";
import { filterFromJson } from "./bulk-actions.ts";
import type { FeedPage } from "./event-feed.ts";
import type { MediaFilter } from "./media-list.ts";
import type { UnlinkOwnerResult } from "./media-repository.ts";
import type { DeletionHourTotals, MediaStats } from "./media-views.ts";

// The one place where database rows become API messages and back.

const STATE_TO_PROTO: Record<MediaStateName, MediaState> = {
  PENDING: MediaState.PENDING,
  LINKED: MediaState.LINKED,
  ORPHANED: MediaState.ORPHANED,
  DELETING: MediaState.DELETING,
  FAILED: MediaState.FAILED,
  TRASHED: MediaState.TRASHED,
};

const EVENT_TYPE_TO_PROTO: Record<MediaEventTypeName, MediaEventType> = {
  CREATED: MediaEventType.CREATED,
  LINKED: MediaEventType.LINKED,
  UNLINKED: MediaEventType.UNLINKED,
  CLAIMED: MediaEventType.CLAIMED,
  DELETED: MediaEventType.DELETED,
  DELETE_FAILED: MediaEventType.DELETE_FAILED,
  CLAIM_RELEASED: MediaEventType.CLAIM_RELEASED,
  HELD: MediaEventType.HELD,
  UNHELD: MediaEventType.UNHELD,
  DELETE_REQUESTED: MediaEventType.DELETE_REQUESTED,
  RETRY_REQUESTED: MediaEventType.RETRY_REQUESTED,
  TRASHED: MediaEventType.TRASHED,
  PURGED: MediaEventType.PURGED,
  PURGE_FAILED: MediaEventType.PURGE_FAILED,
  RESTORED: MediaEventType.RESTORED,
  ERASED: MediaEventType.ERASED,
  ERASE_FAILED: MediaEventType.ERASE_FAILED,
  FILE_MISSING: MediaEventType.FILE_MISSING,
  FILE_FOUND: MediaEventType.FILE_FOUND,
};

export function stateToProto(state: MediaStateName): MediaState {
  return STATE_TO_PROTO[state];
}

/** The stored name for an API state; undefined for UNSPECIFIED or unknown numbers. */
export function stateFromProto(state: MediaState): MediaStateName | undefined {
  return MEDIA_STATES.find((name) => STATE_TO_PROTO[name] === state);
}

/** The stored name for an API event type; undefined for UNSPECIFIED or unknown numbers. */
export function eventTypeFromProto(type: MediaEventType): MediaEventTypeName | undefined {
  return (Object.keys(EVENT_TYPE_TO_PROTO) as MediaEventTypeName[]).find((name) => EVENT_TYPE_TO_PROTO[name] === type);
}

const INT64_MAX = (1n << 63n) - 1n;

/**
 * A byte total (an exact numeric sum from the database) as an int64 field:
 * totals past int64 report its maximum rather than fail the call.
 */
export function byteTotal(sum: string | bigint): bigint {
  const total = BigInt(sum);
  return total > INT64_MAX ? INT64_MAX : total;
}

const timestamp = (date: Date | null) => (date === null ? undefined : timestampFromDate(date));

export function mediaToProto(row: MediaRow): Media {
  return create(MediaSchema, {
    id: BigInt(row.id),
    store: row.store,
    key: row.key,
    contentType: row.content_type,
    sizeBytes: BigInt(row.size_bytes),
    state: stateToProto(row.state),
    referenceCount: BigInt(row.reference_count),
    createTime: timestamp(row.create_time),
    updateTime: timestamp(row.update_time),
    orphanTime: timestamp(row.orphan_time),
    deleteTime: timestamp(row.delete_time),
    holdReason: row.hold_reason ?? "",
    labels: row.labels,
    deleteAttempts: row.delete_attempts,
    lastError: row.last_error ?? "",
    trashTime: timestamp(row.trash_time),
    purgeTime: timestamp(row.purge_time),
    fileMissingTime: timestamp(row.file_missing_time ?? null),
  });
}

export function eventToProto(row: MediaEventRow): MediaEvent {
  return create(MediaEventSchema, {
    id: BigInt(row.id),
    mediaId: BigInt(row.media_id),
    type: EVENT_TYPE_TO_PROTO[row.type] ?? MediaEventType.UNSPECIFIED,
    fromState: row.from_state === null ? MediaState.UNSPECIFIED : stateToProto(row.from_state),
    toState: row.to_state === null ? MediaState.UNSPECIFIED : stateToProto(row.to_state),
    owner: row.owner ?? "",
    actor: row.actor,
    reason: row.reason,
    createTime: timestamp(row.create_time),
    bulkActionId: row.bulk_action_id === null ? 0n : BigInt(row.bulk_action_id),
  });
}

/** One page of the change feed (ListEvents). */
export function feedPageToProto(page: FeedPage) {
  return { events: page.events.map(eventToProto), nextAfterEventId: page.next.id, caughtUp: page.caughtUp };
}

const ERASURE_TO_PROTO = {
  erased: ErasureOutcome.ERASED,
  refused: ErasureOutcome.REFUSED,
  failed: ErasureOutcome.FAILED,
} as const satisfies Record<ErasureResult["kind"], ErasureOutcome>;

/** One media's erasure receipt; an id with no outcome was refused as unknown. */
export function erasureToProto(id: string, outcome: ErasureResult | undefined): ErasureReceipt {
  const result: ErasureResult = outcome ?? { kind: "refused", why: "no such media", store: "", key: "" };
  return create(ErasureReceiptSchema, {
    mediaId: BigInt(id),
    outcome: ERASURE_TO_PROTO[result.kind],
    detail: result.kind === "erased" ? "" : result.why,
    store: result.store,
    key: result.key,
    verifiedGone: result.kind === "erased",
    eraseTime: result.kind === "erased" ? timestampFromDate(result.eraseTime) : undefined,
  });
}

export function referenceToProto(row: MediaReferenceRow): MediaReference {
  return create(MediaReferenceSchema, { owner: row.owner, createTime: timestamp(row.create_time) });
}

/** A batch lookup's answer: the found media in the order asked, and the ids not found. */
export function batchToProto(ids: readonly string[], rows: readonly MediaRow[]) {
  const byId = new Map(rows.map((row) => [row.id, row]));
  return {
    media: ids.flatMap((id) => {
      const row = byId.get(id);
      return row === undefined ? [] : [mediaToProto(row)];
    }),
    missingIds: ids.filter((id) => !byId.has(id)).map(BigInt),
  };
}

export function unlinkOwnerToProto(result: UnlinkOwnerResult) {
  return {
    unlinkedMediaIds: result.unlinkedMediaIds.map(BigInt),
    orphanedMediaIds: result.orphanedMediaIds.map(BigInt),
    unlinkedCount: BigInt(result.unlinkedCount),
    orphanedCount: BigInt(result.orphanedCount),
    remainingCount: BigInt(result.remainingCount),
  };
}

/** The overview's totals: every state (zeros for states without rows) and the due horizons. */
export function statsToProto(stats: MediaStats) {
  const byState = new Map(stats.states.map((s) => [s.state, s]));
  return {
    states: MEDIA_STATES.map((state) => ({
      state: stateToProto(state),
      count: BigInt(byState.get(state)?.count ?? 0),
      sizeBytes: byteTotal(byState.get(state)?.sizeBytes ?? 0n),
    })),
    dueNext24hCount: BigInt(stats.dueNext24h.count),
    dueNext24hSizeBytes: byteTotal(stats.dueNext24h.sizeBytes),
    dueNext7dCount: BigInt(stats.dueNext7d.count),
    dueNext7dSizeBytes: byteTotal(stats.dueNext7d.sizeBytes),
    purgeNext24hCount: BigInt(stats.purgeNext24h.count),
    purgeNext24hSizeBytes: byteTotal(stats.purgeNext24h.sizeBytes),
    nextPurgeTime: timestamp(stats.nextPurgeTime),
  };
}

export function deletionStatusToProto(control: DeletionControl) {
  return {
    paused: control.paused,
    pauseReason: control.pauseReason,
    guardTripTime: timestamp(control.guardTrippedTime),
    guardDueCount: control.guardDueCount ?? 0n,
  };
}

/** The plan's totals, per store and overall, with its soonest samples. */
export function planToProto(plan: DeletionPlan) {
  return {
    count: plan.stores.reduce((sum, s) => sum + BigInt(s.count), 0n),
    sizeBytes: byteTotal(plan.stores.reduce((sum, s) => sum + BigInt(s.sizeBytes), 0n)),
    stores: plan.stores.map((s) => ({ store: s.store, count: BigInt(s.count), sizeBytes: byteTotal(s.sizeBytes) })),
    samples: plan.samples.map(mediaToProto),
  };
}

export function historyToProto(history: readonly DeletionHourTotals[]) {
  return {
    hours: history.map((h) => ({
      startTime: timestampFromDate(h.hour),
      deletedCount: BigInt(h.deletedCount),
      deletedSizeBytes: byteTotal(h.deletedBytes),
      failedCount: BigInt(h.failedCount),
    })),
  };
}

/** RunSweep's answer: the job it queued (a queued job is only queued; ListDeletionRuns says what it did). */
export function queuedSweepToProto(queued: QueuedSweep) {
  return { queued: true, jobId: queued.jobId, runTime: timestampFromDate(queued.runTime) };
}

const RUN_KIND_TO_PROTO: Record<DeletionRunRow["kind"], DeletionRunKind> = {
  sweep: DeletionRunKind.SWEEP,
  batch: DeletionRunKind.BATCH,
  purge: DeletionRunKind.PURGE,
};

export function deletionRunToProto(row: DeletionRunRow) {
  return {
    id: BigInt(row.id),
    kind: RUN_KIND_TO_PROTO[row.kind] ?? DeletionRunKind.UNSPECIFIED,
    workerId: row.worker_id,
    jobId: row.job_id,
    startTime: timestampFromDate(row.started_at),
    finishTime: timestampFromDate(row.finished_at),
    durationMs: BigInt(row.duration_ms),
    fileCount: BigInt(row.files),
    sizeBytes: byteTotal(row.bytes),
    failureCount: BigInt(row.failures),
    reclaimedCount: BigInt(row.reclaimed),
    note: row.note,
  };
}

export function workerToProto(row: WorkerHeartbeatRow) {
  return {
    id: row.id,
    host: row.host,
    pid: row.pid,
    version: row.version,
    startTime: timestampFromDate(row.started_at),
    lastSeenTime: timestampFromDate(row.last_seen_at),
    concurrency: row.concurrency,
  };
}

const BULK_ACTION_TYPE_TO_PROTO: Record<BulkActionTypeName, BulkActionType> = {
  HOLD: BulkActionType.HOLD,
  RELEASE: BulkActionType.RELEASE,
  DELETE_NOW: BulkActionType.DELETE_NOW,
  RETRY: BulkActionType.RETRY,
  RESTORE: BulkActionType.RESTORE,
};

const BULK_ACTION_STATE_TO_PROTO: Record<BulkActionStateName, BulkActionState> = {
  QUEUED: BulkActionState.QUEUED,
  RUNNING: BulkActionState.RUNNING,
  SUCCEEDED: BulkActionState.SUCCEEDED,
  FAILED: BulkActionState.FAILED,
};

/** The stored name for an API bulk action type; undefined for UNSPECIFIED or unknown numbers. */
export function bulkActionTypeFromProto(type: BulkActionType): BulkActionTypeName | undefined {
  return (Object.keys(BULK_ACTION_TYPE_TO_PROTO) as BulkActionTypeName[]).find(
    (name) => BULK_ACTION_TYPE_TO_PROTO[name] === type,
  );
}

export function mediaFilterToProto(filter: MediaFilter) {
  return {
    state: filter.state === undefined ? MediaState.UNSPECIFIED : stateToProto(filter.state),
    store: filter.store ?? "",
    owner: filter.owner ?? "",
    keyPrefix: filter.keyPrefix ?? "",
    labels: { ...(filter.labels ?? {}) },
    trashedAfter: filter.trashedAfter === undefined ? undefined : timestampFromDate(filter.trashedAfter),
    trashedBefore: filter.trashedBefore === undefined ? undefined : timestampFromDate(filter.trashedBefore),
    fileMissing: filter.fileMissing === true,
  };
}

export function bulkActionToProto(row: BulkActionRow): BulkAction {
  return create(BulkActionSchema, {
    id: BigInt(row.id),
    action: BULK_ACTION_TYPE_TO_PROTO[row.action] ?? BulkActionType.UNSPECIFIED,
    filter: mediaFilterToProto(filterFromJson(row.filter)),
    reason: row.reason,
    actor: row.actor,
    state: BULK_ACTION_STATE_TO_PROTO[row.state] ?? BulkActionState.UNSPECIFIED,
    matchedCount: BigInt(row.matched_count),
    doneCount: BigInt(String(row.done_count)),
    skippedCount: BigInt(String(row.skipped_count)),
    failedCount: BigInt(String(row.failed_count)),
    lastError: row.last_error,
    createTime: timestamp(row.create_time),
    updateTime: timestamp(row.update_time),
    finishTime: timestamp(row.finish_time),
  });
}

const ATTESTATION_STATE_TO_PROTO: Record<AttestationStateName, AttestationState> = {
  OPEN: AttestationState.OPEN,
  // A finish working through its repairs: still open to callers, and a repeated finish goes on with it.
  FINISHING: AttestationState.OPEN,
  FINISHED: AttestationState.FINISHED,
  EXPIRED: AttestationState.EXPIRED,
};

const DRIFT_KIND_TO_PROTO: Record<DriftRank, DriftKind> = {
  1: DriftKind.ENDANGERED,
  2: DriftKind.GONE,
  3: DriftKind.NOT_LINKED,
  4: DriftKind.UNATTESTED,
};

const DRIFT_REPAIR_TO_PROTO: Record<DriftRepairName, DriftRepair> = {
  NONE: DriftRepair.UNSPECIFIED,
  LINKED: DriftRepair.LINKED,
  HELD: DriftRepair.HELD,
  UNLINKED: DriftRepair.UNLINKED,
  CHANGED_DURING: DriftRepair.CHANGED_DURING,
};

/** An attestation; its drift report once FINISHED, its expiry while OPEN. */
export function attestationToProto(row: AttestationRow): Attestation {
  const finished = row.state === "FINISHED";
  const items = finished ? (row.items as StoredDriftItem[]) : [];
  return create(AttestationSchema, {
    id: BigInt(row.id),
    ownerPrefix: row.owner_prefix,
    state: ATTESTATION_STATE_TO_PROTO[row.state],
    actor: row.actor,
    attestedCount: BigInt(row.attested_count),
    createTime: timestamp(row.create_time),
    updateTime: timestamp(row.update_time),
    finishTime: timestamp(row.finish_time),
    expireTime: row.state === "OPEN" || row.state === "FINISHING" ? timestamp(row.expire_time) : undefined,
    drift: finished
      ? {
          unattestedCount: BigInt(row.unattested_count),
          notLinkedCount: BigInt(row.not_linked_count),
          endangeredCount: BigInt(row.endangered_count),
          goneCount: BigInt(row.gone_count),
          repairedCount: BigInt(row.repaired_count),
          itemsTruncated: row.items_truncated,
          items: items.map(([rank, owner, mediaId, state, repair]) => ({
            kind: DRIFT_KIND_TO_PROTO[rank],
            owner,
            mediaId: BigInt(mediaId),
            state: state === null ? MediaState.UNSPECIFIED : stateToProto(state),
            repair: DRIFT_REPAIR_TO_PROTO[repair],
          })),
        }
      : undefined,
  });
}

const RECONCILIATION_STATE_TO_PROTO: Record<ReconciliationStateName, ReconciliationState> = {
  QUEUED: ReconciliationState.QUEUED,
  RUNNING: ReconciliationState.RUNNING,
  SUCCEEDED: ReconciliationState.SUCCEEDED,
  FAILED: ReconciliationState.FAILED,
};

const FINDING_KIND_TO_PROTO: Record<ReconciliationFindingKindName, ReconciliationFindingKind> = {
  UNTRACKED: ReconciliationFindingKind.UNTRACKED,
  MISSING: ReconciliationFindingKind.MISSING,
};

const RESOLUTION_TO_PROTO: Record<ReconciliationResolutionName, ReconciliationFindingResolution> = {
  OPEN: ReconciliationFindingResolution.OPEN,
  ADOPTED: ReconciliationFindingResolution.ADOPTED,
  IGNORED: ReconciliationFindingResolution.IGNORED,
  FLAGGED: ReconciliationFindingResolution.FLAGGED,
  SKIPPED: ReconciliationFindingResolution.SKIPPED,
};

/** The stored name of a finding kind filter; undefined for UNSPECIFIED (every kind) or unknown numbers. */
export const findingKindFromProto = (kind: ReconciliationFindingKind): ReconciliationFindingKindName | undefined =>
  (Object.keys(FINDING_KIND_TO_PROTO) as ReconciliationFindingKindName[]).find(
    (k) => FINDING_KIND_TO_PROTO[k] === kind,
  );

/** The stored name of a resolution filter; undefined for UNSPECIFIED (every resolution) or unknown numbers. */
export const resolutionFromProto = (
  resolution: ReconciliationFindingResolution,
): ReconciliationResolutionName | undefined =>
  (Object.keys(RESOLUTION_TO_PROTO) as ReconciliationResolutionName[]).find(
    (r) => RESOLUTION_TO_PROTO[r] === resolution,
  );

/** ApplyReconciliation's action; undefined for UNSPECIFIED or unknown numbers. */
export function reconciliationActionFromProto(action: ReconciliationAction): "ADOPT" | "IGNORE" | undefined {
  switch (action) {
    case ReconciliationAction.ADOPT:
      return "ADOPT";
    case ReconciliationAction.IGNORE:
      return "IGNORE";
    default:
      return undefined;
  }
}

export function reconciliationToProto(row: ReconciliationRow): Reconciliation {
  return create(ReconciliationSchema, {
    id: BigInt(row.id),
    store: row.store,
    keyPrefix: row.key_prefix,
    minAge: { seconds: BigInt(row.min_age_seconds), nanos: 0 },
    state: RECONCILIATION_STATE_TO_PROTO[row.state] ?? ReconciliationState.UNSPECIFIED,
    actor: row.actor,
    objectsScanned: BigInt(row.objects_scanned),
    mediaScanned: BigInt(row.media_scanned),
    untrackedCount: BigInt(row.untracked_count),
    untrackedBytes: byteTotal(row.untracked_bytes),
    missingCount: BigInt(row.missing_count),
    youngCount: BigInt(row.young_count),
    ignoredCount: BigInt(row.ignored_count),
    adoptedCount: BigInt(row.adopted_count),
    resumeKey: row.resume_key,
    lastError: row.last_error,
    createTime: timestamp(row.create_time),
    updateTime: timestamp(row.update_time),
    finishTime: timestamp(row.finish_time),
  });
}

export function findingToProto(row: ReconciliationFindingRow): ReconciliationFinding {
  return create(ReconciliationFindingSchema, {
    id: BigInt(row.id),
    reconciliationId: BigInt(row.reconciliation_id),
    kind: FINDING_KIND_TO_PROTO[row.kind] ?? ReconciliationFindingKind.UNSPECIFIED,
    key: row.key,
    sizeBytes: BigInt(row.size_bytes),
    modifyTime: timestamp(row.modify_time),
    mediaId: row.media_id === null ? 0n : BigInt(row.media_id),
    resolution: RESOLUTION_TO_PROTO[row.resolution] ?? ReconciliationFindingResolution.UNSPECIFIED,
  });
}
