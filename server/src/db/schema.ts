import type { ColumnType, Generated, Selectable } from "kysely";

/** Every lifecycle state as stored, in lifecycle order; mirrors media.v1.MediaState. */
export const MEDIA_STATES = ["PENDING", "LINKED", "ORPHANED", "DELETING", "FAILED"] as const;
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
  | "RETRY_REQUESTED";

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
}

export interface DeletionHourlyTable {
  hour: Date;
  deleted_count: Int8;
  /** numeric since 0005 (read as a decimal string, like Int8). */
  deleted_bytes: Int8;
  failed_count: Int8;
}

export interface Database {
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
