import type { MediaState } from "@media/proto/media/v1/media_pb";
import { stateName } from "../format";

/** A state name colored per state (see .badge-* in styles/components.css). */
export function StateBadge(props: { state: MediaState; testId?: string }) {
  const name = () => stateName(props.state);
  return (
    <span class={`badge badge-${name().toLowerCase()}`} data-testid={props.testId}>
      {name()}
    </span>
  );
}
