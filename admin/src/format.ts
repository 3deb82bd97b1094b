import { type Timestamp, timestampDate } from "@bufbuild/protobuf/wkt";
import { MediaEventType } from "@media/proto/media/v1/admin_service_pb";
import { MediaState } from "@media/proto/media/v1/media_pb";

/** The states an admin can filter on, in lifecycle order. */
export const STATES = [
  MediaState.PENDING,
  MediaState.LINKED,
  MediaState.ORPHANED,
  MediaState.DELETING,
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

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });

/** Local date and time, or "—" for an unset timestamp. */
export function formatTime(ts: Timestamp | undefined): string {
  return ts ? dateTime.format(timestampDate(ts)) : "—";
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
