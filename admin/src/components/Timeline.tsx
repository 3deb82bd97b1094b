import { type MediaEvent, MediaEventType } from "@media/proto/media/v1/admin_service_pb";
import { MediaState } from "@media/proto/media/v1/media_pb";
import { A } from "@solidjs/router";
import { For, Show } from "solid-js";
import { eventTypeLabel } from "../format";
import { StateBadge } from "./StateBadge";
import { At } from "./When";

/**
 * Events, oldest first: what happened, the state change, who did it and why. One media's timeline,
 * or with showMedia events of many (the Audit page), each linking to its media.
 */
export function Timeline(props: { events: MediaEvent[]; showMedia?: boolean }) {
  return (
    <ol class="timeline" data-testid="timeline">
      <For each={props.events}>
        {(ev) => (
          <li data-testid="event" data-type={MediaEventType[ev.type]}>
            <At class="muted" time={ev.createTime} />
            <strong class="event-type">{eventTypeLabel(ev.type)}</strong>
            <Show when={props.showMedia}>
              <A href={`/media/${ev.mediaId}`} data-testid="event-media">
                media {ev.mediaId.toString()}
              </A>
            </Show>
            <span class="transition">
              <StateOrDash state={ev.fromState} /> → <StateOrDash state={ev.toState} />
            </span>
            <Show when={ev.owner}>
              <span>
                owner <code>{ev.owner}</code>
              </span>
            </Show>
            <Show when={ev.actor}>
              <span>by {ev.actor}</span>
            </Show>
            <Show when={ev.reason}>
              <span class="reason">{ev.reason}</span>
            </Show>
            <Show when={ev.bulkActionId > 0n}>
              <span class="muted" data-testid="event-bulk-action">
                bulk action #{ev.bulkActionId.toString()}
              </span>
            </Show>
          </li>
        )}
      </For>
    </ol>
  );
}

/** CREATED has no state before, and DELETED, PURGED and ERASED none after. */
function StateOrDash(props: { state: MediaState }) {
  return (
    <Show when={props.state !== MediaState.UNSPECIFIED} fallback="—">
      <StateBadge state={props.state} />
    </Show>
  );
}
