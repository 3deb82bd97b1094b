import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import type { MediaService } from "@media/proto/media/v1/media_service_pb";
import { eventsDroppedBefore } from "../db/event-partitions.ts";
import type { MediaEventTypeName } from "../db/schema.ts";
import {
  eventPosition,
  type FeedFilter,
  type FeedReach,
  feedEnd,
  lastEventIdAssigned,
  readFeedPage,
} from "../media/event-feed.ts";
import { eventTypeFromProto, feedPageToProto } from "../media/mapping.ts";
import { type ServiceDeps, tokenKey } from "./context.ts";
import { feedCursorDropped, invalidArgument } from "./errors.ts";
import { MAX_OWNER_LENGTH, optionalText, optionalTime, pageSize, requireStore, requireWait } from "./validation.ts";

type EventFeedHandlers = Pick<ServiceImpl<typeof MediaService>, "listEvents">;

/** ListEvents' page size when the request names none. */
const DEFAULT_PAGE_SIZE = 100;
/** The longest wait a request may ask for. */
export const MAX_FEED_WAIT_MS = 30_000;

/** How long before the call's deadline a wait ends, so the empty answer still reaches the caller. */
const deadlineMargin = (timeoutMs: number) => Math.min(1000, timeoutMs / 10);

/** What the calling token may see: a limited token, the events of its stores and owners. */
function reachOf(ctx: HandlerContext): FeedReach {
  const limits = ctx.values.get(tokenKey)?.limits;
  return {
    stores: limits?.stores === undefined ? undefined : [...limits.stores],
    ownerPrefixes: limits?.ownerPrefixes,
  };
}

/**
 * MediaService.ListEvents, the change feed (media/event-feed.ts): validate,
 * read a page; when it holds nothing new and the request asks to wait, wait
 * on the process's one feed watcher (media/feed-watcher.ts) and read again.
 */
export function createEventFeedHandlers(deps: ServiceDeps): EventFeedHandlers {
  return {
    async listEvents(req, ctx) {
      if (req.afterEventId < 0n) throw invalidArgument("after_event_id", "must be 0 or an event id");
      const size = pageSize("page_size", req.pageSize, DEFAULT_PAGE_SIZE);
      const types = req.types.map((type, i): MediaEventTypeName => {
        const name = eventTypeFromProto(type);
        if (name === undefined) throw invalidArgument(`types[${i}]`, `unknown event type ${type}`);
        return name;
      });
      const orNothing = (value: string) => (value === "" ? undefined : value);
      const filter: FeedFilter = {
        types: types.length === 0 ? undefined : [...new Set(types)],
        ownerPrefix: orNothing(optionalText("owner_prefix", req.ownerPrefix, MAX_OWNER_LENGTH)),
        store: req.store === "" ? undefined : requireStore("store", req.store, deps.storeNames),
        actor: orNothing(optionalText("actor", req.actor, 255)),
        startTime: optionalTime("start_time", req.startTime),
        endTime: optionalTime("end_time", req.endTime),
      };
      if (filter.startTime !== undefined && filter.endTime !== undefined && filter.startTime >= filter.endTime) {
        throw invalidArgument("end_time", "must be later than start_time");
      }
      const waitMs = requireWait("wait", req.wait, MAX_FEED_WAIT_MS);
      if (req.startAtEnd) {
        if (req.afterEventId !== 0n) throw invalidArgument("start_at_end", "needs after_event_id 0");
        return { events: [], nextAfterEventId: (await feedEnd(deps.pool)).id, caughtUp: true };
      }
      let after = await eventPosition(deps.pool, req.afterEventId);
      if (after === undefined) {
        // An id the log handed out, gone after a drop: the follower fell behind EVENTS_RETENTION.
        const dropped = await eventsDroppedBefore(deps.pool);
        if (dropped !== null && req.afterEventId <= (await lastEventIdAssigned(deps.pool))) {
          throw feedCursorDropped(req.afterEventId, dropped);
        }
        throw invalidArgument(
          "after_event_id",
          `no event has id ${req.afterEventId}; pass 0 or the next_after_event_id of an earlier page`,
        );
      }
      const timeoutMs = ctx.timeoutMs();
      const boundMs = timeoutMs === undefined ? waitMs : Math.min(waitMs, timeoutMs - deadlineMargin(timeoutMs));
      const until = performance.now() + boundMs;
      const reach = reachOf(ctx);
      for (;;) {
        const page = await readFeedPage(deps.pool, after, filter, reach, size);
        if (page.events.length > 0 || !page.caughtUp) return feedPageToProto(page);
        // Nothing new that matches: wait past what was examined, then look again.
        after = page.next;
        if (!(await deps.feedWatcher.waitPast(after, until, ctx.signal))) return feedPageToProto(page);
      }
    },
  };
}
