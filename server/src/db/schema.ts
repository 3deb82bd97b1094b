import type { ColumnType, Generated, Selectable } from "kysely";

/** Every lifecycle state as stored, in lifecycle order; mirrors media.v1.MediaState. */
export const MEDIA_STATES = ["PENDING", "LINKED", "ORPHANED", "DELETING", "FAILED", "TRASHED"] as const;
export type MediaStateName = (typeof MEDIA_STATES)[number];

/** int8 columns: pg returns strings, and we accept bigint on the way in. */
type Int8 = ColumnType<string, string | bigint | number, string | bigint | number>;
type GeneratedInt8 = ColumnType<string, string | bigint | number | undefined, string | bigint | number>;
type Timestamp = ColumnType<Date, Date | string, Date | string>;
type GeneratedTimestamp = ColumnType<Date, Date | string | undefined, Date | string>;

export interface MediaTable {
  id: GeneratedInt8;
  store: string;
  key: string;
  content_type: Generated<string>;
  size_bytes: GeneratedInt8;
  labels: ColumnType<Record<string, string>, string, string>;
  state: Generated<MediaStateName>;
  reference_count: Generated<number>;
  create_time: GeneratedTimestamp;
  update_time: GeneratedTimestamp;
  orphan_time: Timestamp | null;
  delete_time: Timestamp | null;
  hold_reason: string | null;
  claim_token: string | null;
  claim_time: Timestamp | null;
  delete_attempts: Generated<number>;
  last_error: string | null;
  trash_time: Timestamp | null;
  purge_time: Timestamp | null;
  /** When a reconciliation found no file at the key (migration 0010); null once found again. */
  file_missing_time: Timestamp | null;
}

export interface MediaReferenceTable {
  media_id: Int8;
  owner: string;
  create_time: GeneratedTimestamp;
}

/** Event types as stored; mirrors media.v1.MediaEventType. */
export type MediaEventTypeName =
  | "CREATED"
  | "LINKED"
  | "UNLINKED"
  | "CLAIMED"
  | "DELETED"
  | "DELETE_FAILED"
  | "CLAIM_RELEASED"
  | "HELD"
  | "UNHELD"
  | "DELETE_REQUESTED"
  | "RETRY_REQUESTED"
  | "TRASHED"
  | "PURGED"
  | "PURGE_FAILED"
  | "RESTORED"
  | "ERASED"
  | "ERASE_FAILED"
  | "FILE_MISSING"
  | "FILE_FOUND";

export interface MediaEventTable {
  id: GeneratedInt8;
  media_id: Int8;
  type: MediaEventTypeName;
  from_state: MediaStateName | null;
  to_state: MediaStateName | null;
  owner: string | null;
  actor: string;
  reason: Generated<string>;
  create_time: GeneratedTimestamp;
  bulk_action_id: Int8 | null;
  /** The writing transaction's id (xid8, as text): the change feed's order is (xact, id). Migration 0009. */
  xact: Generated<string>;
  /** The media's store; null only on events written before migration 0009 whose media row was already gone. */
  store: Generated<string | null>;
}

export interface DeletionControlTable {
  singleton: Generated<boolean>;
  paused: boolean;
  pause_reason: string;
  guard_tripped_time: Date | null;
  guard_due_count: string | null;
  guard_allowance: string;
  update_time: Date;
}

/** One claim (a batch of DELETING media sharing claim_token) and its lease. */
export interface DeletionClaimTable {
  token: string;
  lease_expire_time: Date;
  media_ids: string[];
  create_time: GeneratedTimestamp;
  renew_time: Date | null;
  kind: Generated<ClaimKind>;
}

/** What a claim is for: see deletion/claims.ts. */
export type ClaimKind = "delete" | "purge" | "restore" | "erase";

export interface DeletionHourlyTable {
  hour: Date;
  deleted_count: Int8;
  /** numeric since 0005 (read as a decimal string, like Int8). */
  deleted_bytes: Int8;
  failed_count: Int8;
  purged_count: Generated<Int8>;
  purged_bytes: Generated<Int8>;
}

export type BulkActionTypeName = "HOLD" | "RELEASE" | "DELETE_NOW" | "RETRY" | "RESTORE";
export type BulkActionStateName = "QUEUED" | "RUNNING" | "SUCCEEDED" | "FAILED";

export interface BulkActionTable {
  id: GeneratedInt8;
  action: BulkActionTypeName;
  filter: ColumnType<unknown, string, string>;
  reason: string;
  actor: string;
  state: Generated<BulkActionStateName>;
  matched_count: Int8;
  done_count: Generated<Int8>;
  skipped_count: Generated<Int8>;
  failed_count: Generated<Int8>;
  last_error: Generated<string>;
  max_media_id: Int8;
  cursor_media_id: Generated<Int8>;
  create_time: GeneratedTimestamp;
  update_time: GeneratedTimestamp;
  finish_time: Timestamp | null;
}

/** Where an attestation is; FINISHING (a finish working through its repairs) is OPEN to the API. */
export type AttestationStateName = "OPEN" | "FINISHING" | "FINISHED" | "EXPIRED";

/** A reference attestation (migration 0011; media/attestations.ts). */
export interface AttestationTable {
  id: GeneratedInt8;
  owner_prefix: string;
  state: Generated<AttestationStateName>;
  actor: string;
  attested_count: GeneratedInt8;
  create_time: GeneratedTimestamp;
  update_time: GeneratedTimestamp;
  finish_time: Timestamp | null;
  expire_time: Timestamp;
  unattested_count: GeneratedInt8;
  not_linked_count: GeneratedInt8;
  endangered_count: GeneratedInt8;
  gone_count: GeneratedInt8;
  repaired_count: GeneratedInt8;
  /** The report's items as media/attestations.ts stores them (StoredDriftItem[]). */
  items: ColumnType<unknown, string | undefined, string>;
  items_truncated: Generated<boolean>;
  clear_time: Timestamp | null;
}

export type ReconciliationStateName = "QUEUED" | "RUNNING" | "SUCCEEDED" | "FAILED";
export type ReconciliationFindingKindName = "UNTRACKED" | "MISSING";
export type ReconciliationResolutionName = "OPEN" | "ADOPTED" | "IGNORED" | "FLAGGED" | "SKIPPED";

/** A storage reconciliation run (migration 0010; media/reconciliations.ts). */
export interface ReconciliationTable {
  id: GeneratedInt8;
  store: string;
  key_prefix: Generated<string>;
  min_age_seconds: number;
  state: Generated<ReconciliationStateName>;
  actor: string;
  objects_scanned: GeneratedInt8;
  media_scanned: GeneratedInt8;
  untracked_count: GeneratedInt8;
  /** numeric (read as a decimal string). */
  untracked_bytes: GeneratedInt8;
  missing_count: GeneratedInt8;
  young_count: GeneratedInt8;
  ignored_count: GeneratedInt8;
  adopted_count: GeneratedInt8;
  resume_key: Generated<string>;
  last_error: Generated<string>;
  create_time: GeneratedTimestamp;
  update_time: GeneratedTimestamp;
  finish_time: Timestamp | null;
}

/** One untracked object or missing file a reconciliation found. */
export interface ReconciliationFindingTable {
  id: GeneratedInt8;
  reconciliation_id: Int8;
  kind: ReconciliationFindingKindName;
  key: string;
  size_bytes: Int8;
  modify_time: Timestamp | null;
  media_id: Int8 | null;
  resolution: ReconciliationResolutionName;
}

export interface Database {
  reconciliations: ReconciliationTable;
  reconciliation_findings: ReconciliationFindingTable;
  attestations: AttestationTable;
  bulk_actions: BulkActionTable;
  deletion_claims: DeletionClaimTable;
  deletion_control: DeletionControlTable;
  deletion_hourly: DeletionHourlyTable;
  media: MediaTable;
  media_references: MediaReferenceTable;
  media_events: MediaEventTable;
}

export type MediaRow = Selectable<MediaTable>;
export type MediaEventRow = Selectable<MediaEventTable>;
export type MediaReferenceRow = Selectable<MediaReferenceTable>;
export type BulkActionRow = Selectable<BulkActionTable>;
export type ReconciliationRow = Selectable<ReconciliationTable>;
export type ReconciliationFindingRow = Selectable<ReconciliationFindingTable>;
export type AttestationRow = Selectable<AttestationTable>;
