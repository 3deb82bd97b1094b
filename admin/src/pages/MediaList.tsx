import { BulkActionType } from "@media/proto/media/v1/admin_service_pb";
import { useLocation, useNavigate } from "@solidjs/router";
import { createMemo, createResource, createSignal, For, Show } from "solid-js";
import { adminClient } from "../api";
import { Async } from "../components/Async";
import { BulkActionList, createBulkActionList } from "../components/BulkActionList";
import { BulkActionPanel } from "../components/BulkActionPanel";
import { Empty } from "../components/Feedback";
import { MediaTable } from "../components/MediaTable";
import { StoreSelect } from "../components/StoreSelect";
import { filtersFromQuery, listRequest, type MediaFilters, mediaFilter, ORDERS, queryFromFilters } from "../filters";
import { STATES, stateName } from "../format";

const PAGE_SIZE = 50;

/** What the browser's bulk panel offers, in the order of its menu (restore has its own page, Trash). */
const BULK_ACTIONS = [
  BulkActionType.HOLD,
  BulkActionType.RELEASE,
  BulkActionType.DELETE_NOW,
  BulkActionType.RETRY,
  BulkActionType.RESTORE,
] as const;

/** Tokens of the pages before this one, kept in history state so Back and reload keep them. */
interface PagingState {
  prev?: string[];
}

export default function MediaList() {
  const location = useLocation<PagingState>();
  const navigate = useNavigate();
  const query = createMemo(() => new URLSearchParams(location.search));
  const filters = createMemo(() => filtersFromQuery(query()));
  const page = () => query().get("page") ?? "";
  const prev = () => location.state?.prev ?? [];
  const [formError, setFormError] = createSignal("");
  // Keyed on the query string itself, so every URL change (Apply, paging, Back) loads once.
  const [list, ctl] = createResource(
    () => location.search,
    // async, so a bad label typed into the URL becomes the page's error state rather than a crash.
    async () => adminClient.listMedia(listRequest(filters(), page(), PAGE_SIZE)),
  );

  const bulkList = createBulkActionList();

  function apply(e: SubmitEvent) {
    e.preventDefault();
    const data = new FormData(e.currentTarget as HTMLFormElement);
    const next: MediaFilters = {
      state: String(data.get("state") ?? ""),
      store: String(data.get("store") ?? "").trim(),
      owner: String(data.get("owner") ?? "").trim(),
      prefix: String(data.get("prefix") ?? "").trim(),
      label: String(data.get("label") ?? "").trim(),
      order: String(data.get("order") ?? ""),
      missing: data.get("missing") === "1" ? "1" : "",
    };
    try {
      listRequest(next, "", PAGE_SIZE);
    } catch (err) {
      setFormError((err as Error).message);
      return;
    }
    setFormError("");
    const search = queryFromFilters(next);
    // Applying the filters already shown reloads them rather than doing nothing.
    if (search === location.search) void ctl.refetch();
    else navigate(`/media${search}`);
  }

  function nextPage(token: string) {
    navigate(`/media${queryFromFilters(filters(), token)}`, { state: { prev: [...prev(), page()] } });
  }

  function previousPage() {
    const stack = prev();
    navigate(`/media${queryFromFilters(filters(), stack.at(-1) ?? "")}`, { state: { prev: stack.slice(0, -1) } });
  }

  return (
    <>
      <h1>Media</h1>
      <form class="filters" onSubmit={apply} aria-label="Filter media">
        <label>
          State
          <select name="state">
            <option value="" selected={!filters().state}>
              All
            </option>
            <For each={STATES}>
              {(s) => (
                <option value={stateName(s)} selected={filters().state === stateName(s)}>
                  {stateName(s)}
                </option>
              )}
            </For>
          </select>
        </label>
        <label for="media-store">
          Store
          <StoreSelect id="media-store" value={filters().store} />
        </label>
        <label>
          Owner (exact)
          <input name="owner" value={filters().owner} placeholder="blog/posts/42#cover" />
        </label>
        <label>
          Key prefix
          <input name="prefix" value={filters().prefix} />
        </label>
        <label>
          Labels
          <input name="label" value={filters().label} placeholder="team=blog, env=prod" />
        </label>
        <label>
          Order
          <select name="order">
            <For each={ORDERS}>
              {(o) => (
                <option value={o.value} selected={(filters().order || ORDERS[0].value) === o.value}>
                  {o.label}
                </option>
              )}
            </For>
          </select>
        </label>
        <label class="checkbox">
          <input
            type="checkbox"
            name="missing"
            value="1"
            checked={filters().missing === "1"}
            data-testid="missing-filter"
          />
          File missing
        </label>
        <button type="submit">Apply</button>
      </form>
      <Show when={formError()}>
        <p class="error" role="alert" data-testid="filter-error">
          {formError()}
        </p>
      </Show>

      <Async resource={list} onRetry={() => void ctl.refetch()} what="media">
        {(res) => (
          <div aria-busy={list.loading}>
            <Show when={res().media.length > 0} fallback={<Empty>No media match these filters</Empty>}>
              <MediaTable media={res().media} caption="Media matching the filters" />
            </Show>
            <nav class="pager" aria-label="Pages">
              <button type="button" disabled={!page()} onClick={previousPage}>
                Previous page
              </button>
              <button type="button" disabled={!res().nextPageToken} onClick={() => nextPage(res().nextPageToken)}>
                Next page
              </button>
            </nav>
          </div>
        )}
      </Async>

      <BulkActionPanel
        title="Act on every media matching these filters"
        previewLabel="Count matching media"
        actions={BULK_ACTIONS}
        filter={() => mediaFilter(filters())}
        filterKey={location.search}
        onFinished={() => {
          void ctl.refetch();
          void bulkList.reload();
        }}
      />
      <section aria-labelledby="bulk-list-heading">
        <h2 id="bulk-list-heading">Recent bulk actions</h2>
        <BulkActionList list={bulkList} />
      </section>
    </>
  );
}
