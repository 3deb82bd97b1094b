import { type Timestamp, timestampDate } from "@bufbuild/protobuf/wkt";
import { Show } from "solid-js";
import { formatDate, formatRelative, formatUtc } from "../format";

/** A relative time ("in 3 d") with the local time, its zone and UTC as its tooltip. */
export function When(props: { time: Timestamp | undefined }) {
  return (
    <Show when={props.time} fallback="—">
      {(time) => {
        const date = () => timestampDate(time());
        return (
          <time datetime={date().toISOString()} title={`${formatDate(date())} (${formatUtc(date())})`}>
            {formatRelative(time())}
          </time>
        );
      }}
    </Show>
  );
}

/** An absolute local time with its zone ("2026-12-03 10:15 CET"), UTC as its tooltip; "—" when unset. */
export function At(props: { time: Timestamp | undefined; class?: string }) {
  return (
    <Show when={props.time} fallback="—">
      {(time) => {
        const date = () => timestampDate(time());
        return (
          <time class={props.class} datetime={date().toISOString()} title={formatUtc(date())}>
            {formatDate(date())}
          </time>
        );
      }}
    </Show>
  );
}
