import { timestampDate } from "@bufbuild/protobuf/wkt";
import { type DeletionRun, DeletionRunKind, type RunSweepResponse } from "@media/proto/media/v1/admin_service_pb";
import { createResource, createSignal, For, Show } from "solid-js";
import { createAction } from "../action";
import { adminClient } from "../api";
import { Async } from "../components/Async";
import { Empty } from "../components/Feedback";
import { At, When } from "../components/When";
import { offlineReason } from "../connection";
import { formatBytes, formatCount } from "../format";

/** Runs shown per page; "Older runs" loads the next page. */
const PAGE_SIZE = 50;

/** A heartbeat older than this (four beats) reads as a worker gone quiet. */
const QUIET_AFTER_MS = 60_000;

function kindLabel(kind: DeletionRunKind): string {
  switch (kind) {
    case DeletionRunKind.SWEEP:
      return "Sweep";
    case DeletionRunKind.BATCH:
      return "Batch";
    case DeletionRunKind.PURGE:
      return "Purge";
    case DeletionRunKind.UNSPECIFIED:
      return "Unknown";
  }
}

function formatDuration(ms: bigint): string {
  const n = Number(ms);
  if (n < 1000) return `${n} ms`;
  if (n < 60_000) return `${(n / 1000).toFixed(1)} s`;
  return `${Math.floor(n / 60_000)} min ${Math.round((n % 60_000) / 1000)} s`;
}

/** What the workers did: recent sweeps and batches, the next scheduled sweep, the workers seen recently. */
export default function Jobs() {
  const [workers, workersCtl] = createResource(() => adminClient.listWorkers({}));
  const [runs, setRuns] = createSignal<DeletionRun[]>([]);
  const [nextToken, setNextToken] = createSignal("");
  const [firstPage, runsCtl] = createResource(async () => {
    const page = await adminClient.listDeletionRuns({ pageSize: PAGE_SIZE });
    setRuns(page.runs);
    setNextToken(page.nextPageToken);
    return page;
  });
  const more = createAction();
  const sweep = createAction();
  const [queued, setQueued] = createSignal<RunSweepResponse>();
  const off = () => offlineReason() !== undefined;

  const refresh = () => {
    void workersCtl.refetch();
    void runsCtl.refetch();
  };

  async function loadOlder() {
    const page = await more.run(() => adminClient.listDeletionRuns({ pageSize: PAGE_SIZE, pageToken: nextToken() }));
    if (page === undefined) return;
    setRuns([...runs(), ...page.runs]);
    setNextToken(page.nextPageToken);
  }

  async function sweepNow() {
    setQueued(undefined);
    const answer = await sweep.run(() => adminClient.runSweep({}));
    if (answer !== undefined) setQueued(answer);
  }

  return (
    <>
      <h1>Jobs</h1>
      <section class="panel" aria-labelledby="schedule-heading">
        <h2 id="schedule-heading">Sweeps</h2>
        <Async resource={workers} onRetry={() => void workersCtl.refetch()} what="schedule">
          {(w) => (
            <p data-testid="next-sweep">
              Next scheduled sweep: <When time={w().nextSweepTime} />
              <Show when={w().nextSweepTime}>
                {" "}
                (<At time={w().nextSweepTime} />)
              </Show>
              , schedule <code>{w().sweepSchedule}</code> (UTC).
            </p>
          )}
        </Async>
        <p>
          <button
            type="button"
            disabled={sweep.busy() || off()}
            title={offlineReason()}
            onClick={() => void sweepNow()}
          >
            Run sweep now
          </button>{" "}
          <button type="button" onClick={refresh}>
            Refresh
          </button>
        </p>
        <Show when={queued()}>
          {(q) => (
            <p class="notice" role="status" data-testid="sweep-queued">
              Sweep queued as job <strong data-testid="sweep-job-id">{q().jobId}</strong> at <At time={q().runTime} />.
              A worker runs it shortly; Refresh to see what it did.
            </p>
          )}
        </Show>
        <Show when={sweep.error()}>
          <p class="error" role="alert" data-testid="sweep-error">
            {sweep.error()}
          </p>
        </Show>
      </section>

      <h2>Workers seen in the last hour</h2>
      <Async resource={workers} onRetry={() => void workersCtl.refetch()} what="workers">
        {(w) => (
          <Show
            when={w().workers.length > 0}
            fallback={<Empty>No worker has sent a heartbeat in the last hour: deletions are not running.</Empty>}
          >
            <div class="table-wrap">
              <table data-testid="workers">
                <caption class="visually-hidden">Workers and their last heartbeat</caption>
                <thead>
                  <tr>
                    <th scope="col">Worker</th>
                    <th scope="col">Host</th>
                    <th scope="col" class="num">
                      PID
                    </th>
                    <th scope="col">Version</th>
                    <th scope="col" class="num">
                      Concurrency
                    </th>
                    <th scope="col">Started</th>
                    <th scope="col">Last heartbeat</th>
                  </tr>
                </thead>
                <tbody>
                  <For each={w().workers}>
                    {(worker) => {
                      const quiet = () =>
                        worker.lastSeenTime === undefined ||
                        Date.now() - timestampDate(worker.lastSeenTime).getTime() > QUIET_AFTER_MS;
                      return (
                        <tr data-testid="worker" data-worker={worker.id} classList={{ muted: quiet() }}>
                          <td>
                            <code title={worker.id}>{worker.id.slice(0, 8)}</code>
                          </td>
                          <td>{worker.host}</td>
                          <td class="num">{worker.pid}</td>
                          <td>{worker.version}</td>
                          <td class="num">{worker.concurrency}</td>
                          <td>
                            <When time={worker.startTime} />
                          </td>
                          <td data-testid="worker-last-seen">
                            <When time={worker.lastSeenTime} />
                            <Show when={quiet()}> (silent)</Show>
                          </td>
                        </tr>
                      );
                    }}
                  </For>
                </tbody>
              </table>
            </div>
          </Show>
        )}
      </Async>

      <h2>Recent sweeps and batches</h2>
      <Async resource={firstPage} onRetry={() => void runsCtl.refetch()} what="runs">
        {() => (
          <Show when={runs().length > 0} fallback={<Empty>No sweep or batch has finished in the last 7 days.</Empty>}>
            <div class="table-wrap">
              <table data-testid="runs">
                <caption class="visually-hidden">Sweeps and batches, newest first</caption>
                <thead>
                  <tr>
                    <th scope="col">Finished</th>
                    <th scope="col">Kind</th>
                    <th scope="col">Worker</th>
                    <th scope="col" class="num">
                      Files
                    </th>
                    <th scope="col" class="num">
                      Bytes
                    </th>
                    <th scope="col" class="num">
                      Failures
                    </th>
                    <th scope="col" class="num">
                      Duration
                    </th>
                    <th scope="col">Note</th>
                  </tr>
                </thead>
                <tbody>
                  <For each={runs()}>
                    {(r) => (
                      <tr data-testid="run" data-kind={kindLabel(r.kind).toLowerCase()} data-job={r.jobId}>
                        <td>
                          <When time={r.finishTime} />
                        </td>
                        <td>
                          {kindLabel(r.kind)} <span class="muted">#{r.jobId}</span>
                        </td>
                        <td>
                          <code title={r.workerId}>{r.workerId.slice(0, 8)}</code>
                        </td>
                        <td class="num" data-testid="run-files">
                          {formatCount(r.fileCount)}
                          <Show when={r.kind === DeletionRunKind.SWEEP}> claimed</Show>
                          <Show when={r.reclaimedCount > 0n}> ({formatCount(r.reclaimedCount)} taken back)</Show>
                        </td>
                        <td class="num">{r.kind === DeletionRunKind.SWEEP ? "—" : formatBytes(r.sizeBytes)}</td>
                        <td class="num">{r.kind === DeletionRunKind.SWEEP ? "—" : formatCount(r.failureCount)}</td>
                        <td class="num">{formatDuration(r.durationMs)}</td>
                        <td>{r.note}</td>
                      </tr>
                    )}
                  </For>
                </tbody>
              </table>
            </div>
            <Show when={nextToken() !== ""}>
              <p>
                <button type="button" disabled={more.busy() || off()} onClick={() => void loadOlder()}>
                  Older runs
                </button>
              </p>
            </Show>
            <Show when={more.error()}>
              <p class="error" role="alert">
                {more.error()}
              </p>
            </Show>
          </Show>
        )}
      </Async>
    </>
  );
}
