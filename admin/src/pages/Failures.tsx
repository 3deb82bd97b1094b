import { MediaState } from "@media/proto/media/v1/media_pb";
import { A } from "@solidjs/router";
import { createEffect, createSignal, For, onMount, Show } from "solid-js";
import { adminClient } from "../api";
import { Empty } from "../components/Feedback";
import { Key } from "../components/Key";
import { LoadMore } from "../components/LoadMore";
import { errorMessage } from "../errors";
import { createPagedList } from "../paged";

export default function Failures() {
  const failed = createPagedList(async (pageToken) => {
    const res = await adminClient.listMedia({ state: MediaState.FAILED, pageSize: 100, pageToken });
    return { items: res.media, nextPageToken: res.nextPageToken };
  });
  onMount(() => void failed.reload());

  // Ids as strings: bigints are not reliable Set keys across fresh messages after a reload.
  const [selected, setSelected] = createSignal<ReadonlySet<string>>(new Set());
  const [progress, setProgress] = createSignal<{ done: number; total: number } | undefined>();
  const [errors, setErrors] = createSignal<ReadonlyMap<string, string>>(new Map());
  const [summary, setSummary] = createSignal("");

  const ids = () => failed.items().map((m) => m.id.toString());
  const allSelected = () => ids().length > 0 && ids().every((id) => selected().has(id));
  const someSelected = () => ids().some((id) => selected().has(id));

  function toggle(id: string, on: boolean) {
    const next = new Set(selected());
    if (on) next.add(id);
    else next.delete(id);
    setSelected(next);
  }

  // One at a time: a retry is cheap, and sequential calls give honest progress and per-item errors.
  async function retrySelected() {
    const todo = ids().filter((id) => selected().has(id));
    const failures = new Map<string, string>();
    setSummary("");
    for (const [i, id] of todo.entries()) {
      setProgress({ done: i + 1, total: todo.length });
      try {
        await adminClient.retryMedia({ mediaId: BigInt(id) });
      } catch (err) {
        failures.set(id, errorMessage(err));
      }
    }
    setProgress(undefined);
    setErrors(failures);
    setSelected(new Set(failures.keys()));
    const ok = todo.length - failures.size;
    const failedNote = failures.size ? ` ${failures.size} failed: see below.` : "";
    setSummary(`Sent ${ok} of ${todo.length} back for deletion.${failedNote}`);
    await failed.reload();
  }

  return (
    <>
      <h1>Failed deletions</h1>
      <p class="muted">
        These files could not be deleted within the retry budget. Retry sends them back as orphans due now, with a fresh
        budget.
      </p>
      {/* Outside the table: once every retry succeeds the table is gone, the outcome is not. */}
      <Show when={progress()}>
        {(p) => (
          <p role="status" data-testid="retry-progress">
            Retrying {p().done}/{p().total}
          </p>
        )}
      </Show>
      <Show when={summary()}>
        <p class="notice" role="status" data-testid="retry-summary">
          {summary()}
        </p>
      </Show>
      <Show when={failed.loaded() && failed.items().length === 0}>
        <Empty>No failed deletions</Empty>
      </Show>
      <Show when={failed.items().length > 0}>
        <div class="toolbar">
          <button
            type="button"
            disabled={!someSelected() || progress() !== undefined}
            onClick={() => void retrySelected()}
          >
            Retry selected
          </button>
        </div>
        <div class="table-wrap stack">
          <table>
            <caption class="visually-hidden">Media whose deletion failed</caption>
            <thead>
              <tr>
                <th scope="col" class="keep">
                  {/* The words show only on a phone, where the other headings give way to cards. */}
                  <label class="check">
                    <input
                      type="checkbox"
                      aria-label="Select all"
                      checked={allSelected()}
                      ref={(el) => createEffect(() => (el.indeterminate = someSelected() && !allSelected()))}
                      onChange={(e) => setSelected(new Set(e.currentTarget.checked ? ids() : []))}
                      data-testid="select-all"
                    />
                    <span class="phone-only" aria-hidden="true">
                      Select all
                    </span>
                  </label>
                </th>
                <th scope="col">ID</th>
                <th scope="col">Key</th>
                <th scope="col">Store</th>
                <th scope="col" class="num">
                  Attempts
                </th>
                <th scope="col">Last error</th>
              </tr>
            </thead>
            <tbody>
              <For each={failed.items()}>
                {(m) => {
                  const id = m.id.toString();
                  return (
                    <tr data-testid="failure-row" data-id={id}>
                      <td class="lead">
                        <input
                          type="checkbox"
                          aria-label={`Select media ${id}`}
                          checked={selected().has(id)}
                          onChange={(e) => toggle(id, e.currentTarget.checked)}
                        />
                      </td>
                      <td class="lead">
                        <A href={`/media/${id}`}>{id}</A>
                      </td>
                      <td class="key">
                        <Key value={m.key} />
                      </td>
                      <td data-label="Store">{m.store}</td>
                      <td class="num" data-label="Attempts">
                        {m.deleteAttempts}
                      </td>
                      <td class="wrap full" data-label="Last error">
                        {m.lastError || "—"}
                        <Show when={errors().get(id)}>
                          {(msg) => (
                            <p class="error" data-testid="retry-error">
                              Retry failed: {msg()}
                            </p>
                          )}
                        </Show>
                      </td>
                    </tr>
                  );
                }}
              </For>
            </tbody>
          </table>
        </div>
      </Show>
      <LoadMore list={failed} what="failed media" />
    </>
  );
}
