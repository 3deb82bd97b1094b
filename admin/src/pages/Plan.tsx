import { A, useLocation, useNavigate } from "@solidjs/router";
import { createMemo, createResource, For, Show } from "solid-js";
import { adminClient } from "../api";
import { Async } from "../components/Async";
import { Empty } from "../components/Feedback";
import { MediaTable } from "../components/MediaTable";
import { formatBytes, formatCount } from "../format";

const DEFAULT_HOURS = 24;
const MAX_HOURS = 8760;

/** The hours in the URL when they are a whole number in range, else the default. */
function parseHours(text: string | null): number {
  const hours = Number(text);
  return Number.isInteger(hours) && hours >= 1 && hours <= MAX_HOURS ? hours : DEFAULT_HOURS;
}

export default function Plan() {
  const location = useLocation();
  const navigate = useNavigate();
  const hours = createMemo(() => parseHours(new URLSearchParams(location.search).get("hours")));
  const [plan, ctl] = createResource(hours, (withinHours) =>
    adminClient.getDeletionPlan({ withinHours, sampleSize: 20 }),
  );

  function apply(e: SubmitEvent) {
    e.preventDefault();
    const value = new FormData(e.currentTarget as HTMLFormElement).get("hours");
    const next = parseHours(String(value));
    if (next === hours()) void ctl.refetch();
    else navigate(`/plan?hours=${next}`);
  }

  return (
    <>
      <h1>Deletion plan</h1>
      <form class="inline-form" onSubmit={apply}>
        <label>
          Within hours
          <input name="hours" type="number" min="1" max={MAX_HOURS} step="1" required value={hours()} />
        </label>
        <button type="submit">Apply</button>
      </form>
      <Async resource={plan} onRetry={() => void ctl.refetch()} what="deletion plan">
        {(p) => (
          <div aria-busy={plan.loading}>
            <Show when={p().status?.paused}>
              <div class="warning" role="alert" data-testid="plan-paused">
                Deletions are paused{p().status?.pauseReason ? `: ${p().status?.pauseReason}` : ""}. Nothing below will
                be deleted until they are resumed on the <A href="/">overview</A>.
              </div>
            </Show>
            <p class="plan-total">
              Within the next {hours()} hours (overdue included):{" "}
              <strong data-testid="plan-count">{formatCount(p().count)}</strong> files,{" "}
              <strong data-testid="plan-bytes">{formatBytes(p().sizeBytes)}</strong>.
            </p>
            <Show when={p().count > 0n} fallback={<Empty>Nothing is due for deletion in this window.</Empty>}>
              <h2>Per store</h2>
              <div class="table-wrap">
                <table>
                  <caption class="visually-hidden">Files due per store</caption>
                  <thead>
                    <tr>
                      <th scope="col">Store</th>
                      <th scope="col" class="num">
                        Files
                      </th>
                      <th scope="col" class="num">
                        Size
                      </th>
                    </tr>
                  </thead>
                  <tbody>
                    <For each={p().stores}>
                      {(s) => (
                        <tr data-testid="plan-store" data-store={s.store}>
                          <td>{s.store}</td>
                          <td class="num">{formatCount(s.count)}</td>
                          <td class="num">{formatBytes(s.sizeBytes)}</td>
                        </tr>
                      )}
                    </For>
                  </tbody>
                </table>
              </div>
              <h2>Soonest due</h2>
              <div data-testid="plan-samples">
                <MediaTable media={p().samples} caption="The media due soonest" />
              </div>
            </Show>
          </div>
        )}
      </Async>
    </>
  );
}
