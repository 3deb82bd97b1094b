import type { MessageInitShape } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { type MediaEvent, MediaEventType } from "@media/proto/media/v1/admin_service_pb";
import type { ListEventsRequestSchema } from "@media/proto/media/v1/media_service_pb";
import { useLocation, useNavigate } from "@solidjs/router";
import { createEffect, createMemo, createSignal, For, on, onCleanup, Show } from "solid-js";
import { mediaClient } from "../api";
import { Empty } from "../components/Feedback";
import { LoadMore } from "../components/LoadMore";
import { StoreSelect } from "../components/StoreSelect";
import { Timeline } from "../components/Timeline";
import { recoveries } from "../connection";
import { parseLocalTime } from "../filters";
import { eventTypeLabel } from "../format";
import type { PagedList } from "../paged";

const PAGE_SIZE = 50;
/** How long one follow call waits for new events before it asks again. */
const FOLLOW_WAIT_MS = 20_000;
/**
 * A page examines at most 10,000 events, so a filter that matches little can answer empty pages
 * before it reaches a match: "Load more" reads on through up to this many of them at once.
 */
const MAX_EMPTY_READS = 20;

/** The audit log's filters as they appear in its form and its URL query string. */
interface AuditFilters {
  actor: string;
  /** A MediaEventType name ("DELETED"), or "" for every type. */
  type: string;
  owner: string;
  store: string;
  /** datetime-local values ("2026-12-03T10:15", local time), or "". */
  after: string;
  before: string;
}

const FIELDS = ["actor", "type", "owner", "store", "after", "before"] as const;

const EVENT_TYPES = Object.values(MediaEventType).filter(
  (v): v is MediaEventType => typeof v === "number" && v !== MediaEventType.UNSPECIFIED,
);

type FeedRequest = MessageInitShape<typeof ListEventsRequestSchema>;

/** The ListEvents filters for the form's values; throws an Error naming the field at fault. */
function feedFilter(f: AuditFilters): FeedRequest {
  const type = f.type === "" ? undefined : MediaEventType[f.type as keyof typeof MediaEventType];
  if (type === undefined && f.type !== "") throw new Error(`Type “${f.type}” is not an event type`);
  const startTime = parseLocalTime(f.after, "From");
  const endTime = parseLocalTime(f.before, "Until");
  if (startTime !== undefined && endTime !== undefined && startTime.seconds >= endTime.seconds) {
    throw new Error("Until must be later than From");
  }
  return {
    types: type === undefined ? [] : [type],
    ownerPrefix: f.owner,
    store: f.store,
    actor: f.actor,
    ...(startTime === undefined ? {} : { startTime }),
    ...(endTime === undefined ? {} : { endTime }),
  };
}

/**
 * The change feed read forward from its start: "Load more" reads the next pages, and while
 * following, calls that wait for new events append them as they are committed. It has the shape
 * of a paged list (paged.ts), so the page's foot is the usual LoadMore.
 */
function createFeed(request: () => FeedRequest, following: () => boolean) {
  const [items, setItems] = createSignal<MediaEvent[]>([]);
  const [loaded, setLoaded] = createSignal(false);
  const [loading, setLoading] = createSignal(false);
  const [error, setError] = createSignal<unknown>();
  const [caughtUp, setCaughtUp] = createSignal(false);
  let cursor = 0n;
  // Answers to requests made before the latest reload are dropped.
  let generation = 0;
  // One reader at a time, so no two calls read from the same cursor.
  let reading: Promise<void> = Promise.resolve();

  const serially = (read: () => Promise<void>) => {
    const next = reading.then(read, read);
    reading = next;
    return next;
  };

  /** Reads pages until one has events, the feed is caught up, or MAX_EMPTY_READS went by. */
  const readOn = (gen: number) =>
    serially(async () => {
      if (gen !== generation) return;
      setLoading(true);
      setError(undefined);
      try {
        for (let reads = 0; reads < MAX_EMPTY_READS; reads++) {
          const res = await mediaClient.listEvents({ ...request(), afterEventId: cursor, pageSize: PAGE_SIZE });
          if (gen !== generation) return;
          append(res.events, res.nextAfterEventId, res.caughtUp);
          if (res.events.length > 0 || res.caughtUp) break;
        }
      } catch (err) {
        if (gen === generation) setError(err);
      } finally {
        if (gen === generation) setLoading(false);
      }
    });

  function append(events: MediaEvent[], next: bigint, isCaughtUp: boolean) {
    cursor = next;
    if (events.length > 0) setItems((prev) => [...prev, ...events]);
    setCaughtUp(isCaughtUp);
    setLoaded(true);
  }

  /** While following: long polls from the cursor until the signal aborts or a call fails. */
  const follow = (gen: number, signal: AbortSignal) =>
    serially(async () => {
      while (!signal.aborted && gen === generation) {
        try {
          const res = await mediaClient.listEvents(
            { ...request(), afterEventId: cursor, pageSize: PAGE_SIZE, wait: durationFromMs(FOLLOW_WAIT_MS) },
            { signal },
          );
          if (signal.aborted || gen !== generation) return;
          setError(undefined);
          append(res.events, res.nextAfterEventId, res.caughtUp);
        } catch (err) {
          if (!signal.aborted && gen === generation) setError(err);
          return;
        }
      }
    });

  const reload = () => {
    generation++;
    cursor = 0n;
    setItems([]);
    setLoaded(false);
    setCaughtUp(false);
    return readOn(generation);
  };

  // Following: one long poll at a time, stopped when following ends or the filters change.
  createEffect(() => {
    if (!following() || error() !== undefined) return;
    const stop = new AbortController();
    void follow(generation, stop.signal);
    onCleanup(() => stop.abort());
  });

  // The service is back after an outage: what failed for it is read again (or followed again).
  createEffect(
    on(
      recoveries,
      () => {
        if (error() === undefined) return;
        if (following()) setError(undefined);
        else void readOn(generation);
      },
      { defer: true },
    ),
  );

  const list: PagedList<MediaEvent> = {
    items,
    loaded,
    loading: () => loading() && !following(),
    error,
    hasMore: () => !caughtUp() && !following(),
    loadMore: () => readOn(generation),
    retry: async () => {
      if (following()) setError(undefined);
      else await readOn(generation);
    },
    reload,
  };
  return { list, caughtUp };
}

/** The instance-wide audit log: every event in commit order, filtered, read forward, and followed live. */
export default function Audit() {
  const location = useLocation();
  const navigate = useNavigate();
  const filters = createMemo((): AuditFilters => {
    const query = new URLSearchParams(location.search);
    const get = (name: string) => query.get(name)?.trim() ?? "";
    return {
      actor: get("actor"),
      type: get("type"),
      owner: get("owner"),
      store: get("store"),
      after: get("after"),
      before: get("before"),
    };
  });
  const [formError, setFormError] = createSignal("");
  const [following, setFollowing] = createSignal(false);
  // A filter in the URL that does not parse fails the read, which then says why.
  const request = () => feedFilter(filters());
  const { list, caughtUp } = createFeed(request, following);
  createEffect(
    on(
      () => location.search,
      () => {
        // A new filter: the follow restarts with the new feed once its first pages are read.
        const was = following();
        setFollowing(false);
        void list.reload();
        if (was) setFollowing(true);
      },
    ),
  );

  function apply(e: SubmitEvent) {
    e.preventDefault();
    const data = new FormData(e.currentTarget as HTMLFormElement);
    const get = (name: string) => String(data.get(name) ?? "").trim();
    const next: AuditFilters = {
      actor: get("actor"),
      type: get("type"),
      owner: get("owner"),
      store: get("store"),
      after: get("after"),
      before: get("before"),
    };
    try {
      feedFilter(next);
    } catch (err) {
      setFormError((err as Error).message);
      return;
    }
    setFormError("");
    const query = new URLSearchParams();
    for (const f of FIELDS) if (next[f]) query.set(f, next[f]);
    const search = query.toString() ? `?${query}` : "";
    if (search === location.search) void list.reload();
    else navigate(`/audit${search}`);
  }

  return (
    <>
      <h1>Audit log</h1>
      <p class="muted">
        Every change to every media, oldest first, in the order it was committed: who did what, and why. Events stay
        here after their media is deleted.
      </p>
      <form class="filters" onSubmit={apply} aria-label="Filter the audit log">
        <label>
          Actor
          <input name="actor" value={filters().actor} data-testid="actor-filter" />
        </label>
        <label>
          Type
          <select name="type" data-testid="type-filter">
            <option value="" selected={!filters().type}>
              All
            </option>
            <For each={EVENT_TYPES}>
              {(type) => (
                <option value={MediaEventType[type]} selected={filters().type === MediaEventType[type]}>
                  {eventTypeLabel(type)}
                </option>
              )}
            </For>
          </select>
        </label>
        <label>
          Owner prefix
          <input name="owner" value={filters().owner} data-testid="owner-filter" />
        </label>
        <label for="audit-store">
          Store
          <StoreSelect id="audit-store" value={filters().store} />
        </label>
        <label>
          From
          <input type="datetime-local" name="after" value={filters().after} data-testid="from-filter" />
        </label>
        <label>
          Until
          <input type="datetime-local" name="before" value={filters().before} data-testid="until-filter" />
        </label>
        <button type="submit">Apply</button>
      </form>
      <Show when={formError()}>
        <p class="error" role="alert" data-testid="filter-error">
          {formError()}
        </p>
      </Show>
      <label class="follow">
        <input
          type="checkbox"
          checked={following()}
          data-testid="follow"
          onChange={(e) => setFollowing(e.currentTarget.checked)}
        />
        Follow: show new events as they happen
      </label>

      <Show when={list.loaded() && list.items().length === 0 && caughtUp() && !following()}>
        <Empty>No events match these filters.</Empty>
      </Show>
      <Show when={list.items().length > 0}>
        <Timeline events={list.items()} showMedia />
      </Show>
      <LoadMore list={list} what="the audit log" />
      {/* Always in the page, so screen readers announce the text that appears in it. */}
      <p role="status" class="muted" data-testid="feed-status">
        <Show when={following()} fallback={list.items().length > 0 && caughtUp() ? "That is the latest event." : ""}>
          Following: new events appear at the end as they are committed.
        </Show>
      </p>
    </>
  );
}
