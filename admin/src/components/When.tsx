import { type Timestamp, timestampDate } from "@bufbuild/protobuf/wkt";
import { Show } from "solid-js";
import { formatRelative, formatTime } from "../format";

/** A relative time ("in 3 d") with the absolute local time as its tooltip. */
export function When(props: { time: Timestamp | undefined }) {
  return (
    <Show when={props.time} fallback="—">
      {(time) => (
        <time datetime={timestampDate(time()).toISOString()} title={formatTime(time())}>
          {formatRelative(time())}
        </time>
      )}
    </Show>
  );
}
