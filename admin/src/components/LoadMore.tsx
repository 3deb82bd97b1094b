import { Match, Switch } from "solid-js";
import { isConnectionError, offlineReason } from "../connection";
import type { PagedList } from "../paged";
import { WaitingForService } from "./Connection";
import { ErrorBox, Loading } from "./Feedback";

/** The foot of a paged list: its error, a loading line, or a "Load more" button while pages remain. */
export function LoadMore<T>(props: { list: PagedList<T>; what: string }) {
  return (
    <Switch>
      <Match when={props.list.error() !== undefined && isConnectionError(props.list.error())}>
        <WaitingForService what={props.what} />
      </Match>
      <Match when={props.list.error()}>
        <ErrorBox error={props.list.error()} onRetry={props.list.retry} />
      </Match>
      <Match when={props.list.loading()}>
        <Loading what={props.what} />
      </Match>
      <Match when={props.list.hasMore()}>
        <button
          type="button"
          disabled={offlineReason() !== undefined}
          title={offlineReason()}
          onClick={() => props.list.loadMore()}
        >
          Load more
        </button>
      </Match>
    </Switch>
  );
}
