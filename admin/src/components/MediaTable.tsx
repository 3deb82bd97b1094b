import type { Media } from "@media/proto/media/v1/media_pb";
import { A } from "@solidjs/router";
import { For, Show } from "solid-js";
import { formatBytes, formatCount } from "../format";
import { Key } from "./Key";
import { StateBadge } from "./StateBadge";
import { When } from "./When";

/** One row per media, each id linking to its detail page; a compact card per media on a phone. */
export function MediaTable(props: { media: Media[]; caption: string }) {
  return (
    <div class="table-wrap stack">
      <table>
        <caption class="visually-hidden">{props.caption}</caption>
        <thead>
          <tr>
            <th scope="col">ID</th>
            <th scope="col">Key</th>
            <th scope="col">Store</th>
            <th scope="col">State</th>
            <th scope="col" class="num">
              Refs
            </th>
            <th scope="col" class="num">
              Size
            </th>
            <th scope="col">Created</th>
            <th scope="col">Deletes</th>
            <th scope="col">Hold</th>
          </tr>
        </thead>
        <tbody>
          <For each={props.media}>
            {(m) => (
              <tr data-testid="media-row" data-id={m.id.toString()}>
                <td class="lead">
                  <A href={`/media/${m.id}`}>{m.id.toString()}</A>
                </td>
                <td class="key">
                  <Key value={m.key} />
                </td>
                <td data-label="Store">{m.store}</td>
                <td class="lead">
                  <StateBadge state={m.state} />
                </td>
                <td class="num" data-label="Refs">
                  {formatCount(m.referenceCount)}
                </td>
                <td class="num" data-label="Size" title={`${formatCount(m.sizeBytes)} bytes`}>
                  {formatBytes(m.sizeBytes)}
                </td>
                <td data-label="Created">
                  <When time={m.createTime} />
                </td>
                <td data-label="Deletes">
                  <When time={m.deleteTime} />
                </td>
                <td class="lead">
                  <Show when={m.holdReason}>
                    <span class="badge badge-held" title={m.holdReason} data-testid="held">
                      Held
                    </span>
                  </Show>
                </td>
              </tr>
            )}
          </For>
        </tbody>
      </table>
    </div>
  );
}
