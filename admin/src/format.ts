import { type Timestamp, timestampDate } from "@bufbuild/protobuf/wkt";
import {
  BulkActionState,
  BulkActionType,
  ErasureOutcome,
  MediaEventType,
} from "@media/proto/media/v1/admin_service_pb";
import { MediaState } from "@media/proto/media/v1/media_pb";

/** The states an admin can filter on, in lifecycle order. */
export const STATES = [
  MediaState.PENDING,
  MediaState.LINKED,
  MediaState.ORPHANED,
  MediaState.DELETING,
  MediaState.TRASHED,
  MediaState.FAILED,
] as const;

/** "ORPHANED": the enum name, used in URLs, test ids and badges. */
export function stateName(state: MediaState): string {
  return MediaState[state] ?? "UNKNOWN";
}

/** Parses a stateName back; anything else means "every state". */
export function parseState(name: string | undefined): MediaState {
  const state = STATES.find((s) => stateName(s) === name);
  return state ?? MediaState.UNSPECIFIED;
}

/** "Hold", "Delete now"…: what a bulk action does, as its button and lists say it. */
export function bulkActionLabel(action: BulkActionType): string {
  switch (action) {
    case BulkActionType.HOLD:
      return "Hold";
    case BulkActionType.RELEASE:
      return "Release";
    case BulkActionType.DELETE_NOW:
      return "Delete now";
    case BulkActionType.RETRY:
      return "Retry";
    case BulkActionType.RESTORE:
      return "Restore";
    case BulkActionType.UNSPECIFIED:
      return "Unknown";
  }
}

/** "RUNNING": a bulk action's state name, used in badges and test ids. */
export function bulkStateName(state: BulkActionState): string {
  return BulkActionState[state] ?? "UNKNOWN";
}

/** Whether a bulk action has ended (its counts no longer move). */
export function bulkFinished(state: BulkActionState): boolean {
  switch (state) {
    case BulkActionState.SUCCEEDED:
    case BulkActionState.FAILED:
      return true;
    case BulkActionState.QUEUED:
    case BulkActionState.RUNNING:
    case BulkActionState.UNSPECIFIED:
      return false;
  }
}

/** "ERASED": an erasure receipt's outcome name. */
export function erasureOutcomeName(outcome: ErasureOutcome): string {
  return ErasureOutcome[outcome] ?? "UNKNOWN";
}

/** "Delete failed" for DELETE_FAILED. */
export function eventTypeLabel(type: MediaEventType): string {
  const name = MediaEventType[type] ?? "UNKNOWN";
  const words = name.toLowerCase().replaceAll("_", " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

const count = new Intl.NumberFormat();

export function formatCount(n: bigint | number): string {
  return count.format(n);
}

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

/** 1536n → "1.5 KiB". Sizes can pass 2^53, but a unit's worth of rounding is fine for display. */
export function formatBytes(bytes: bigint | number): string {
  let value = Number(bytes);
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  const digits = unit === 0 || value >= 100 ? 0 : 1;
  return `${value.toFixed(digits)} ${UNITS[unit]}`;
}

const pad = (n: number) => String(n).padStart(2, "0");
// Only for the zone's name ("CET", "GMT+1", "EST"): the digits come from the Date itself.
const zoneName = new Intl.DateTimeFormat(undefined, { timeZoneName: "short" });

/** 2026-12-03 10:15 CET: local date and time with the time zone, in an order that reads the same everywhere. */
export function formatDate(date: Date): string {
  const zone = zoneName.formatToParts(date).find((p) => p.type === "timeZoneName")?.value ?? "";
  const local = `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
  return `${local} ${pad(date.getHours())}:${pad(date.getMinutes())}${zone ? ` ${zone}` : ""}`;
}

/** 2026-12-03 09:15:42 UTC: the same instant in UTC, to the second (for tooltips). */
export function formatUtc(date: Date): string {
  return `${date.toISOString().slice(0, 19).replace("T", " ")} UTC`;
}

/** Local date and time with the time zone, or "—" for an unset timestamp. */
export function formatTime(ts: Timestamp | undefined): string {
  return ts ? formatDate(timestampDate(ts)) : "—";
}

/** "in 3 d" / "2 h ago" relative to now, rounded to the nearest whole unit. */
export function formatRelative(ts: Timestamp | undefined, now = Date.now()): string {
  if (!ts) return "—";
  const seconds = (timestampDate(ts).getTime() - now) / 1000;
  const abs = Math.abs(seconds);
  if (abs < 5) return "now";
  const [size, unit] = abs < 60 ? [1, "s"] : abs < 3600 ? [60, "min"] : abs < 86400 ? [3600, "h"] : [86400, "d"];
  const amount = Math.round(abs / size);
  return seconds > 0 ? `in ${amount} ${unit}` : `${amount} ${unit} ago`;
}
