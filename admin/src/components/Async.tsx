import type { JSX, Resource } from "solid-js";
import { Match, Switch } from "solid-js";
import { ErrorBox, Loading } from "./Feedback";

/**
 * Shows a resource's loading, error or data. Reads `latest` (never the resource itself) so a
 * refetch keeps the old data on screen instead of suspending the whole page.
 */
export function Async<T>(props: {
  resource: Resource<T>;
  onRetry: () => void;
  what?: string;
  children: (data: () => T) => JSX.Element;
}) {
  const ready = () => props.resource.state === "ready" || props.resource.state === "refreshing";
  return (
    <Switch fallback={<Loading what={props.what} />}>
      <Match when={props.resource.state === "errored"}>
        <ErrorBox error={props.resource.error} onRetry={props.onRetry} />
      </Match>
      <Match when={ready()}>{props.children(() => props.resource.latest as T)}</Match>
    </Switch>
  );
}
