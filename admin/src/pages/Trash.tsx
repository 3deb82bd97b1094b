import { BulkActionType } from "@media/proto/media/v1/admin_service_pb";
import { type Media, MediaState } from "@media/proto/media/v1/media_pb";
import { A, useLocation, useNavigate } from "@solidjs/router";
import { createEffect, createMemo, createSignal, For, on, Show } from "solid-js";
import { createAction } from "../action";
import { adminClient } from "../api";
import { BulkActionPanel } from "../components/BulkActionPanel";
import { Empty } from "../components/Feedback";
import { Key } from "../components/Key";
import { LoadMore } from "../components/LoadMore";
import { StoreSelect } from "../components/StoreSelect";
import { At, When } from "../components/When";
import { offlineReason } from "../connection";
import { type MediaFilterInit, parseLocalTime } from "../filters";
import { formatBytes, formatCount } from "../format";
import { createPagedList } from "../paged";

const PAGE_SIZE = 50;

/** The trash's filters as they appear in its form and its URL query string. */
interface TrashFilters {
  store: string;
  prefix: string;
  /** datetime-local values ("2026-12-03T10:15", local time), or "". */
  after: string;
  before: string;
}

const FIELDS = ["store", "prefix", "after", "before"] as const;

const BULK_ACTIONS = [BulkActionType.RESTORE] as const;

function trashFilter(f: TrashFilters): MediaFilterInit {
  return {
    state: MediaState.TRASHED,
    store: f.store,
    owner: "",
    keyPrefix: f.prefix,
    labels: {},
    trashedAfter: parseLocalTime(f.after, "Trashed after"),
    trashedBefore: parseLocalTime(f.before, "Trashed before"),
  };
}

/** The media in the trash, soonest purge first: restore one, or all that match the filters. */
export default function Trash() {
  const location = useLocation();
  const navigate = useNavigate();
  const filters = createMemo((): TrashFilters => {
    const query = new URLSearchParams(location.search);
    const get = (name: string) => query.get(name)?.trim() ?? "";
    return { store: get("store"), prefix: get("prefix"), after: get("after"), before: get("before") };
  });
  const [formError, setFormError] = createSignal("");
  const [notice, setNotice] = createSignal<Media>();

  const list = createPagedList(async (pageToken) => {
    const res = await adminClient.listMedia({
      ...trashFilter(filters()),
      pageSize: PAGE_SIZE,
      pageToken,
      orderBy: "purge_time",
    });
    return { items: res.media, nextPageToken: res.nextPageToken };
  });
  createEffect(
    on(
      () => location.search,
      () => void list.reload(true),
    ),
  );

  function apply(e: SubmitEvent) {
    e.preventDefault();
    const data = new FormData(e.currentTarget as HTMLFormElement);
    const get = (name: string) => String(data.get(name) ?? "").trim();
    const next: TrashFilters = {
      store: get("store"),
      prefix: get("prefix"),
      after: get("after"),
      before: get("before"),
    };
    try {
      trashFilter(next);
    } catch (err) {
      setFormError((err as Error).message);
      return;
    }
    setFormError("");
    const query = new URLSearchParams();
    for (const f of FIELDS) if (next[f]) query.set(f, next[f]);
    const search = query.toString() ? `?${query}` : "";
    if (search === location.search) void list.reload();
    else navigate(`/trash${search}`);
  }

  function restored(media: Media) {
    setNotice(media);
    void list.reload();
  }

  return (
    <>
      <h1>Trash</h1>
      <p class="muted">
        Deleted media wait here until their purge time, when the file and the row are deleted for good. Restoring one
        moves its file back to its key; it is then orphaned with a fresh grace period.
      </p>
      <form class="filters" onSubmit={apply} aria-label="Filter the trash">
        <label for="trash-store">
          Store
          <StoreSelect id="trash-store" value={filters().store} />
        </label>
        <label>
          Key prefix
          <input name="prefix" value={filters().prefix} />
        </label>
        <label>
          Trashed after
          <input type="datetime-local" name="after" value={filters().after} data-testid="trashed-after" />
        </label>
        <label>
          Trashed before
          <input type="datetime-local" name="before" value={filters().before} data-testid="trashed-before" />
        </label>
        <button type="submit">Apply</button>
      </form>
      <Show when={formError()}>
        <p class="error" role="alert" data-testid="filter-error">
          {formError()}
        </p>
      </Show>
      {/* Always in the page, so screen readers announce the text that appears in it. */}
      <div role="status" data-testid="restore-notice" classList={{ notice: notice() !== undefined }}>
        <Show when={notice()}>
          {(m) => (
            <>
              Restored <A href={`/media/${m().id}`}>media {m().id.toString()}</A>: its file is back at its key.
            </>
          )}
        </Show>
      </div>

      <Show when={list.loaded() && list.items().length === 0}>
        <Empty>No media in the trash match these filters.</Empty>
      </Show>
      <Show when={list.items().length > 0}>
        <div class="table-wrap stack" aria-busy={list.loading()}>
          <table data-testid="trash">
            <caption class="visually-hidden">Media in the trash, soonest purge first</caption>
            <thead>
              <tr>
                <th scope="col">ID</th>
                <th scope="col">Key</th>
                <th scope="col">Store</th>
                <th scope="col" class="num">
                  Size
                </th>
                <th scope="col">Trashed</th>
                <th scope="col">Purges</th>
                <th scope="col">
                  <span class="visually-hidden">Restore</span>
                </th>
              </tr>
            </thead>
            <tbody>
              <For each={list.items()}>{(m) => <TrashRow media={m} onRestored={restored} />}</For>
            </tbody>
          </table>
        </div>
      </Show>
      <LoadMore list={list} what="trash" />

      <BulkActionPanel
        title="Restore all matching"
        previewLabel="Restore all matching"
        actions={BULK_ACTIONS}
        filter={() => trashFilter(filters())}
        filterKey={location.search}
        onFinished={() => void list.reload()}
      />
    </>
  );
}

function TrashRow(props: { media: Media; onRestored: (media: Media) => void }) {
  const { busy, error, run } = createAction();
  const m = () => props.media;
  async function restore() {
    const res = await run(() => adminClient.restoreMedia({ mediaId: m().id }));
    if (res?.media) props.onRestored(res.media);
  }
  return (
    <tr data-testid="trash-row" data-id={m().id.toString()}>
      <td class="lead">
        <A href={`/media/${m().id}`}>{m().id.toString()}</A>
      </td>
      <td class="key">
        <Key value={m().key} />
      </td>
      <td data-label="Store">{m().store}</td>
      <td class="num" data-label="Size" title={`${formatCount(m().sizeBytes)} bytes`}>
        {formatBytes(m().sizeBytes)}
      </td>
      <td data-label="Trashed" data-testid="trash-time">
        <When time={m().trashTime} /> (<At time={m().trashTime} />)
      </td>
      <td data-label="Purges" data-testid="purge-time">
        <When time={m().purgeTime} /> (<At time={m().purgeTime} />)
      </td>
      <td class="lead">
        <button
          type="button"
          disabled={busy() || offlineReason() !== undefined}
          title={offlineReason()}
          data-testid="restore"
          onClick={() => void restore()}
        >
          Restore
        </button>
        <Show when={error()}>
          <p class="error" role="alert" data-testid="restore-error">
            {error()}
          </p>
        </Show>
      </td>
    </tr>
  );
}
