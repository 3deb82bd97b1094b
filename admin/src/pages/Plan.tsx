import { A, useLocation, useNavigate } from "@solidjs/router";
import { createMemo, createResource, For, Show } from "solid-js";
import { adminClient } from "../api";
import { Async } from "../components/Async";
import { Empty } from "../components/Feedback";
import { MediaTable } from "../components/MediaTable";
import { formatBytes, formatCount } from "../format";

const DEFAULT_HOURS = 24;
const MAX_HOURS = 8760;
const SAMPLE_SIZE = 20;

/** The hours when the text is a whole number in range; undefined otherwise. */
function parseHours(text: string): number | undefined {
  const hours = Number(text);
  return /^[0-9]+$/.test(text.trim()) && hours >= 1 && hours <= MAX_HOURS ? hours : undefined;
}

export default function Plan() {
  const location = useLocation();
  const navigate = useNavigate();
  // No hours in the URL means the default; hours the URL gets wrong load nothing, so the page
  // never shows a plan for another horizon than the one its URL names.
  const urlHours = () => new URLSearchParams(location.search).get("hours");
  const hours = createMemo(() => {
    const text = urlHours();
    return text === null || text === "" ? DEFAULT_HOURS : parseHours(text);
  });
  const [plan, ctl] = createResource(hours, (withinHours) =>
    adminClient.getDeletionPlan({ withinHours, sampleSize: SAMPLE_SIZE }),
  );

  function apply(e: SubmitEvent) {
    e.preventDefault();
    const value = new FormData(e.currentTarget as HTMLFormElement).get("hours");
    const next = parseHours(String(value ?? ""));
    if (next === undefined) return; // the number input's own validation explains the range
    if (next === hours()) void ctl.refetch();
    else navigate(`/plan?hours=${next}`);
  }

  return (
    <>
      <h1>Deletion plan</h1>
      <form class="inline-form" onSubmit={apply}>
        <label>
          Within hours
          <input name="hours" type="number" min="1" max={MAX_HOURS} step="1" required value={hours() ?? ""} />
        </label>
        <button type="submit">Apply</button>
      </form>
      <Show when={hours() === undefined}>
        <p class="error" role="alert" data-testid="plan-hours-error">
          “{urlHours()}” is not a number of hours. Enter a whole number from 1 to {formatCount(MAX_HOURS)} (a year)
          above.
        </p>
      </Show>
      <Show when={hours() !== undefined}>
        <Async resource={plan} onRetry={() => void ctl.refetch()} what="deletion plan">
          {(p) => (
            <div aria-busy={plan.loading}>
              <Show when={p().status?.paused}>
                <div class="warning" role="alert" data-testid="plan-paused">
                  Deletions are paused{p().status?.pauseReason ? `: ${p().status?.pauseReason}` : ""}. Nothing below
                  will be deleted until they are resumed on the <A href="/">overview</A>.
                </div>
              </Show>
              <p class="plan-total">
                Within the next {hours()} hours (overdue included):{" "}
                <strong data-testid="plan-count">{formatCount(p().count)}</strong> files,{" "}
                <strong data-testid="plan-bytes">{formatBytes(p().sizeBytes)}</strong>.
              </p>
              <Show when={p().count > 0n} fallback={<Empty>Nothing is due for deletion in this window.</Empty>}>
                <h2>Per store</h2>
                <div class="table-wrap stack">
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
                            <td class="lead">{s.store}</td>
                            <td class="num" data-label="Files">
                              {formatCount(s.count)}
                            </td>
                            <td class="num" data-label="Size">
                              {formatBytes(s.sizeBytes)}
                            </td>
                          </tr>
                        )}
                      </For>
                    </tbody>
                  </table>
                </div>
                <h2>Soonest due</h2>
                <Show when={BigInt(p().samples.length) < p().count}>
                  <p class="muted" data-testid="plan-samples-count">
                    Showing {formatCount(p().samples.length)} of {formatCount(p().count)}, the soonest due first.
                  </p>
                </Show>
                <div data-testid="plan-samples">
                  <MediaTable media={p().samples} caption="The media due soonest" />
                </div>
              </Show>
            </div>
          )}
        </Async>
      </Show>
    </>
  );
}
