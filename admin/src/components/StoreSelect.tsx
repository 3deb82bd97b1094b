import { createResource, For, Show } from "solid-js";
import { adminClient } from "../api";

/**
 * A filter form's store field (name "store"): the configured stores, and a store in the URL that is
 * not one (so the filter shows it); until they load (or if they cannot), a text field stands in.
 */
export function StoreSelect(props: { id: string; value: string }) {
  const [stores] = createResource(async () => (await adminClient.listStores({})).stores.map((s) => s.name));
  const storeNames = () => (stores.state === "ready" || stores.state === "refreshing" ? stores.latest : undefined);
  const storeOptions = (names: string[]) => {
    const current = props.value;
    return current === "" || names.includes(current) ? names : [...names, current];
  };
  return (
    <Show when={storeNames()} fallback={<input id={props.id} name="store" value={props.value} />}>
      {(names) => (
        <select id={props.id} name="store" data-testid="store-filter">
          <option value="" selected={!props.value}>
            All
          </option>
          <For each={storeOptions(names())}>
            {(name) => (
              <option value={name} selected={props.value === name}>
                {name}
              </option>
            )}
          </For>
        </select>
      )}
    </Show>
  );
}
