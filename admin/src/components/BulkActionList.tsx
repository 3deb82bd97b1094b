import { For, onMount, Show } from "solid-js";
import { adminClient } from "../api";
import { bulkActionLabel, bulkStateName, formatCount } from "../format";
import { createPagedList } from "../paged";
import { describeFilter } from "./BulkActionPanel";
import { Empty } from "./Feedback";
import { LoadMore } from "./LoadMore";
import { When } from "./When";

const PAGE_SIZE = 10;

/** The recent bulk actions, newest first, with their progress; `list.reload()` reads them again. */
export function createBulkActionList() {
  return createPagedList(async (pageToken) => {
    const res = await adminClient.listBulkActions({ pageSize: PAGE_SIZE, pageToken });
    return { items: res.bulkActions, nextPageToken: res.nextPageToken };
  });
}

export function BulkActionList(props: { list: ReturnType<typeof createBulkActionList> }) {
  onMount(() => void props.list.reload());
  return (
    <>
      <Show when={props.list.loaded() && props.list.items().length === 0}>
        <Empty>No bulk action has been run.</Empty>
      </Show>
      <Show when={props.list.items().length > 0}>
        <div class="table-wrap">
          <table data-testid="bulk-actions">
            <caption class="visually-hidden">Bulk actions, newest first</caption>
            <thead>
              <tr>
                <th scope="col">ID</th>
                <th scope="col">Action</th>
                <th scope="col">On</th>
                <th scope="col">Reason</th>
                <th scope="col">By</th>
                <th scope="col">State</th>
                <th scope="col" class="num">
                  Matched
                </th>
                <th scope="col" class="num">
                  Done
                </th>
                <th scope="col" class="num">
                  Skipped
                </th>
                <th scope="col" class="num">
                  Failed
                </th>
                <th scope="col">Started</th>
              </tr>
            </thead>
            <tbody>
              <For each={props.list.items()}>
                {(b) => {
                  const name = bulkStateName(b.state);
                  return (
                    <tr data-testid="bulk-action-row" data-id={b.id.toString()}>
                      <td>#{b.id.toString()}</td>
                      <td>{bulkActionLabel(b.action)}</td>
                      <td>{describeFilter(b.filter)}</td>
                      <td class="wrap">{b.reason}</td>
                      <td>{b.actor}</td>
                      <td title={b.lastError || undefined}>
                        <span class={`badge badge-${name.toLowerCase()}`}>{name}</span>
                      </td>
                      <td class="num">{formatCount(b.matchedCount)}</td>
                      <td class="num">{formatCount(b.doneCount)}</td>
                      <td class="num">{formatCount(b.skippedCount)}</td>
                      <td class="num">{formatCount(b.failedCount)}</td>
                      <td>
                        <When time={b.createTime} />
                      </td>
                    </tr>
                  );
                }}
              </For>
            </tbody>
          </table>
        </div>
      </Show>
      <LoadMore list={props.list} what="bulk actions" />
    </>
  );
}
