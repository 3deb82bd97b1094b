import type { JSX, Resource } from "solid-js";
import { createComputed, createEffect, createSignal, Match, on, Show, Switch, untrack } from "solid-js";
import { isConnectionError, offlineSince, online, recoveries } from "../connection";
import { StaleNote, WaitingForService } from "./Connection";
import { ErrorBox, Loading } from "./Feedback";

/**
 * Shows a resource's loading, error or data. Keeps the last data it got (never reading the
 * resource itself) so a refetch keeps the old data on screen instead of suspending the whole page,
 * and while the service is out of reach that data stays, dimmed and marked stale; when the service
 * is back the resource is fetched again (onRetry). Errors other than a lost connection show with a
 * Retry button.
 */
export function Async<T>(props: {
  resource: Resource<T>;
  onRetry: () => void;
  what?: string;
  children: (data: () => T) => JSX.Element;
}) {
  const [last, setLast] = createSignal<{ value: T }>();
  const [failedAt, setFailedAt] = createSignal<Date>();
  createComputed(() => {
    const state = props.resource.state;
    if (state === "ready") {
      setLast({ value: props.resource.latest as T });
      setFailedAt(undefined);
    } else if (state === "errored" && untrack(failedAt) === undefined) {
      setFailedAt(new Date());
    }
  });
  // The service is back: what is on screen may be old, so read it again.
  createEffect(on(recoveries, () => props.onRetry(), { defer: true }));

  const lost = () => props.resource.state === "errored" && isConnectionError(props.resource.error);
  const showData = () => {
    const state = props.resource.state;
    return last() !== undefined && (state === "ready" || state === "refreshing" || lost());
  };
  const staleSince = () => offlineSince() ?? (lost() ? failedAt() : undefined);
  return (
    <Switch fallback={<Loading what={props.what} />}>
      <Match when={showData()}>
        <div class="async" classList={{ stale: staleSince() !== undefined }} aria-busy={!online() || undefined}>
          <Show when={staleSince()}>{(since) => <StaleNote since={since()} />}</Show>
          {props.children(() => (last() as { value: T }).value)}
        </div>
      </Match>
      <Match when={lost()}>
        <WaitingForService what={props.what} />
      </Match>
      <Match when={props.resource.state === "errored"}>
        <ErrorBox error={props.resource.error} onRetry={props.onRetry} />
      </Match>
    </Switch>
  );
}
