import type { MessageInitShape } from "@bufbuild/protobuf";
import { type Timestamp, timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { ListMediaRequestSchema } from "@media/proto/media/v1/admin_service_pb";
import type { MediaState } from "@media/proto/media/v1/media_pb";
import { parseState } from "./format";

/** The media browser's filters as they appear in its form and in its URL query string. */
export interface MediaFilters {
  state: string;
  store: string;
  owner: string;
  prefix: string;
  label: string;
  order: string;
  /** "1": only media a reconciliation found without their file. */
  missing: string;
}

/** URL value, label and ListMedia order_by of each order the browser offers; the first is the default. */
export const ORDERS = [
  { value: "newest", label: "Newest first", orderBy: "create_time desc" },
  { value: "oldest", label: "Oldest first", orderBy: "create_time" },
  { value: "delete_time", label: "Deletion time soonest", orderBy: "delete_time" },
] as const;

const FIELDS = ["state", "store", "owner", "prefix", "label", "order", "missing"] as const;

export function filtersFromQuery(query: URLSearchParams): MediaFilters {
  const get = (name: string) => query.get(name)?.trim() ?? "";
  return {
    state: get("state"),
    store: get("store"),
    owner: get("owner"),
    prefix: get("prefix"),
    label: get("label"),
    order: get("order"),
    missing: get("missing") === "1" ? "1" : "",
  };
}

/** "?state=ORPHANED&page=…" with empty fields (and the default order) left out, so URLs stay short. */
export function queryFromFilters(filters: MediaFilters, pageToken = ""): string {
  const query = new URLSearchParams();
  for (const field of FIELDS) {
    const value = filters[field];
    if (value && !(field === "order" && value === ORDERS[0].value)) query.set(field, value);
  }
  if (pageToken) query.set("page", pageToken);
  const text = query.toString();
  return text ? `?${text}` : "";
}

/** Parses "team=blog, env=prod"; throws an Error naming the bad entry. */
export function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const entry of text.split(",")) {
    const pair = entry.trim();
    if (!pair) continue;
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new Error(`Label "${pair}" must look like key=value`);
    labels[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim();
  }
  return labels;
}

/** A MediaFilter's fields, which a ListMediaRequest has too. */
export interface MediaFilterInit {
  state: MediaState;
  store: string;
  owner: string;
  keyPrefix: string;
  labels: Record<string, string>;
  trashedAfter?: Timestamp;
  trashedBefore?: Timestamp;
  fileMissing?: boolean;
}

/** The MediaFilter (of RunBulkAction) selecting what the browser's filters show (throws like parseLabels). */
export function mediaFilter(filters: MediaFilters): MediaFilterInit {
  return {
    state: parseState(filters.state),
    store: filters.store,
    owner: filters.owner,
    keyPrefix: filters.prefix,
    labels: parseLabels(filters.label),
    fileMissing: filters.missing === "1",
  };
}

/** The ListMedia request for these filters (throws like parseLabels). */
export function listRequest(
  filters: MediaFilters,
  pageToken: string,
  pageSize: number,
): MessageInitShape<typeof ListMediaRequestSchema> {
  const order = ORDERS.find((o) => o.value === filters.order) ?? ORDERS[0];
  return { pageSize, pageToken, ...mediaFilter(filters), orderBy: order.orderBy };
}

/**
 * A datetime-local input's value ("2026-12-03T10:15", local time) as a Timestamp; undefined when
 * empty. Throws an Error naming the field when the browser let something else through.
 */
export function parseLocalTime(value: string, field: string): Timestamp | undefined {
  if (value === "") return undefined;
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) throw new Error(`${field} “${value}” is not a date and time`);
  return timestampFromDate(date);
}
