import type { GetStatsResponse } from "@media/proto/media/v1/admin_service_pb";
import { MediaState } from "@media/proto/media/v1/media_pb";
import { A } from "@solidjs/router";
import { createResource, For, onCleanup, Show } from "solid-js";
import { adminClient } from "../api";
import { Async } from "../components/Async";
import { DeletionStatusPanel } from "../components/DeletionStatusPanel";
import { HistoryChart } from "../components/HistoryChart";
import { When } from "../components/When";
import { online } from "../connection";
import { formatBytes, formatCount, STATES, stateName } from "../format";

const HISTORY_HOURS = 168;
// The numbers move as workers sweep; refreshing keeps an open dashboard honest.
const REFRESH_MS = 30_000;

export default function Overview() {
  const [stats, statsCtl] = createResource(() => adminClient.getStats({}));
  const [history, historyCtl] = createResource(() => adminClient.getDeletionHistory({ hours: HISTORY_HOURS }));
  const [status, statusCtl] = createResource(async () => (await adminClient.getDeletionStatus({})).status);

  // Not while the service is out of reach: the probe notices its return, and then every section refetches.
  const timer = setInterval(() => {
    if (!online()) return;
    void statsCtl.refetch();
    void historyCtl.refetch();
    void statusCtl.refetch();
  }, REFRESH_MS);
  onCleanup(() => clearInterval(timer));

  return (
    <>
      <h1>Overview</h1>
      <Async resource={status} onRetry={() => void statusCtl.refetch()} what="deletion status">
        {(s) => (
          // Not keyed: a new status updates the panel in place, keeping a half-typed reason and its notices.
          <Show when={s()} fallback={<p class="error">The server sent no deletion status.</p>}>
            {(current) => <DeletionStatusPanel status={current()} onChange={(next) => statusCtl.mutate(next)} />}
          </Show>
        )}
      </Async>

      <section aria-labelledby="states-heading">
        <h2 id="states-heading">Media by state</h2>
        <Async resource={stats} onRetry={() => void statsCtl.refetch()} what="statistics">
          {(s) => <StatsCards stats={s()} />}
        </Async>
      </section>

      <section aria-labelledby="history-heading">
        <h2 id="history-heading">Deletions per hour</h2>
        <Async resource={history} onRetry={() => void historyCtl.refetch()} what="deletion history">
          {(h) => <HistoryChart hours={h().hours} label="Files deleted per hour over the last 7 days" />}
        </Async>
      </section>
    </>
  );
}

function StatsCards(props: { stats: GetStatsResponse }) {
  const byState = (state: MediaState) => props.stats.states.find((s) => s.state === state);
  return (
    <>
      <ul class="cards">
        <For each={STATES}>
          {(state) => {
            const name = stateName(state);
            // FAILED media need an admin, and TRASHED ones may be restored: those cards lead to their pages.
            const href =
              state === MediaState.FAILED
                ? "/failures"
                : state === MediaState.TRASHED
                  ? "/trash"
                  : `/media?state=${name}`;
            return (
              <li class={`card card-${name.toLowerCase()}`}>
                <A href={href} class="card-link">
                  <span class="card-title">{name}</span>
                  <span class="card-value" data-testid={`state-count-${name}`}>
                    {formatCount(byState(state)?.count ?? 0n)}
                  </span>
                  <span class="card-sub" data-testid={`state-bytes-${name}`}>
                    {formatBytes(byState(state)?.sizeBytes ?? 0n)}
                  </span>
                </A>
              </li>
            );
          }}
        </For>
      </ul>
      <ul class="cards">
        <DueCard
          hours={24}
          title="Due in the next 24 h"
          count={props.stats.dueNext24hCount}
          bytes={props.stats.dueNext24hSizeBytes}
          testId="due-24h"
        />
        <DueCard
          hours={168}
          title="Due in the next 7 days"
          count={props.stats.dueNext7dCount}
          bytes={props.stats.dueNext7dSizeBytes}
          testId="due-7d"
        />
        <li class="card">
          <A href="/trash" class="card-link">
            <span class="card-title">Purged in the next 24 h</span>
            <span class="card-value" data-testid="purge-24h-count">
              {formatCount(props.stats.purgeNext24hCount)}
            </span>
            <span class="card-sub" data-testid="purge-24h-bytes">
              {formatBytes(props.stats.purgeNext24hSizeBytes)}
            </span>
            <span class="card-sub" data-testid="next-purge">
              Next purge: <When time={props.stats.nextPurgeTime} />
            </span>
          </A>
        </li>
      </ul>
    </>
  );
}

/** What a horizon would delete, linking to the deletion plan for it. */
function DueCard(props: { hours: number; title: string; count: bigint; bytes: bigint; testId: string }) {
  return (
    <li class="card">
      <A href={`/plan?hours=${props.hours}`} class="card-link">
        <span class="card-title">{props.title}</span>
        <span class="card-value" data-testid={`${props.testId}-count`}>
          {formatCount(props.count)}
        </span>
        <span class="card-sub" data-testid={`${props.testId}-bytes`}>
          {formatBytes(props.bytes)}
        </span>
      </A>
    </li>
  );
}
