import { Code, ConnectError } from "@connectrpc/connect";
import { ErrorInfoSchema } from "@media/proto/google/rpc/error_details_pb";
import {
  ReconciliationAction,
  type ReconciliationFinding,
  ReconciliationFindingKind,
  ReconciliationFindingResolution,
  ReconciliationState,
  type Reconciliation as Run,
} from "@media/proto/media/v1/admin_service_pb";
import { A, useSearchParams } from "@solidjs/router";
import { createEffect, createResource, createSignal, For, onCleanup, Show } from "solid-js";
import { createAction } from "../action";
import { adminClient } from "../api";
import { Async } from "../components/Async";
import { OfflineControlsNote } from "../components/Connection";
import { Empty } from "../components/Feedback";
import { At } from "../components/When";
import { offlineReason, online } from "../connection";
import { formatBytes, formatCount } from "../format";

// Storage reconciliation: start a run (store, key prefix, minimum age), follow the runs' progress,
// read a run's findings, and adopt or ignore its untracked objects, with the count shown first and
// the blast-radius confirmation when the server asks for it (as the bulk actions do).

/** How often the runs are read again while one is going. */
const POLL_MS = 1000;
const FINDINGS_PAGE = 100;

const STATE_LABEL: Record<ReconciliationState, string> = {
  [ReconciliationState.UNSPECIFIED]: "—",
  [ReconciliationState.QUEUED]: "QUEUED",
  [ReconciliationState.RUNNING]: "RUNNING",
  [ReconciliationState.SUCCEEDED]: "SUCCEEDED",
  [ReconciliationState.FAILED]: "FAILED",
};

const KIND_LABEL: Record<ReconciliationFindingKind, string> = {
  [ReconciliationFindingKind.UNSPECIFIED]: "All",
  [ReconciliationFindingKind.UNTRACKED]: "Untracked",
  [ReconciliationFindingKind.MISSING]: "Missing",
};

const RESOLUTION_LABEL: Record<ReconciliationFindingResolution, string> = {
  [ReconciliationFindingResolution.UNSPECIFIED]: "All",
  [ReconciliationFindingResolution.OPEN]: "Open",
  [ReconciliationFindingResolution.ADOPTED]: "Adopted",
  [ReconciliationFindingResolution.IGNORED]: "Ignored",
  [ReconciliationFindingResolution.FLAGGED]: "Flagged",
  [ReconciliationFindingResolution.SKIPPED]: "Skipped",
};

const going = (r: Run) => r.state === ReconciliationState.QUEUED || r.state === ReconciliationState.RUNNING;

/** ApplyReconciliation's FAILED_PRECONDITION when more findings are OPEN than the blast-radius limit. */
function needsBlastConfirmation(err: unknown): boolean {
  const e = ConnectError.from(err);
  return (
    e.code === Code.FailedPrecondition &&
    e.findDetails(ErrorInfoSchema).some((info) => info.reason === "BULK_CONFIRMATION_REQUIRED")
  );
}

export default function Reconciliation() {
  const [params, setParams] = useSearchParams<{ id?: string }>();
  const [runs, ctl] = createResource(
    async () => (await adminClient.listReconciliations({ pageSize: 50 })).reconciliations,
  );
  const selected = () => runs.latest?.find((r) => r.id.toString() === params.id);

  // While a run is going, read the runs again every second (not while the service is out of reach).
  createEffect(() => {
    const list = runs.latest;
    if (list === undefined || !list.some(going)) return;
    const timer = setTimeout(() => {
      if (online()) void ctl.refetch();
    }, POLL_MS);
    onCleanup(() => clearTimeout(timer));
  });

  return (
    <>
      <h1>Reconciliation</h1>
      <p class="muted">
        A reconciliation compares a store with its media: files nobody registered (untracked) and media whose file is
        gone (missing, flagged on the media). Nothing is deleted by it.
      </p>
      <StartForm
        onStarted={(run) => {
          void ctl.refetch();
          setParams({ id: run.id.toString() });
        }}
      />
      <Async resource={runs} onRetry={() => void ctl.refetch()} what="reconciliations">
        {(rows) => (
          <>
            <Show when={rows().length === 0}>
              <Empty>No reconciliations yet</Empty>
            </Show>
            <Show when={rows().length > 0}>
              <div class="table-wrap">
                <table>
                  <caption class="visually-hidden">Reconciliations, newest first</caption>
                  <thead>
                    <tr>
                      <th scope="col">Run</th>
                      <th scope="col">Store</th>
                      <th scope="col">Prefix</th>
                      <th scope="col">State</th>
                      <th scope="col">Started</th>
                      <th scope="col" class="num">
                        Objects
                      </th>
                      <th scope="col" class="num">
                        Untracked
                      </th>
                      <th scope="col" class="num">
                        Missing
                      </th>
                      <th scope="col" class="num">
                        Young
                      </th>
                      <th scope="col" class="num">
                        Ignored
                      </th>
                      <th scope="col" class="num">
                        Adopted
                      </th>
                    </tr>
                  </thead>
                  <tbody>
                    <For each={rows()}>
                      {(r) => (
                        <tr data-testid="reconciliation-row" data-id={r.id.toString()}>
                          <td class="lead">
                            <A
                              href={`/reconciliation?id=${r.id}`}
                              aria-current={params.id === r.id.toString() ? "true" : undefined}
                            >
                              #{r.id.toString()}
                            </A>
                          </td>
                          <td data-label="Store">{r.store}</td>
                          <td class="wrap" data-label="Prefix">
                            {r.keyPrefix || "—"}
                          </td>
                          <td data-label="State">
                            <span
                              class={`badge badge-${STATE_LABEL[r.state].toLowerCase()}`}
                              data-testid="reconciliation-state"
                            >
                              {STATE_LABEL[r.state]}
                            </span>
                            <Show when={r.lastError}>
                              <span class="error wrap"> {r.lastError}</span>
                            </Show>
                          </td>
                          <td data-label="Started">
                            <At time={r.createTime} />
                          </td>
                          <td class="num" data-label="Objects" data-testid="objects-scanned">
                            {formatCount(r.objectsScanned)}
                          </td>
                          <td class="num" data-label="Untracked" data-testid="untracked-count">
                            {formatCount(r.untrackedCount)} ({formatBytes(r.untrackedBytes)})
                          </td>
                          <td class="num" data-label="Missing" data-testid="missing-count">
                            {formatCount(r.missingCount)}
                          </td>
                          <td class="num" data-label="Young">
                            {formatCount(r.youngCount)}
                          </td>
                          <td class="num" data-label="Ignored">
                            {formatCount(r.ignoredCount)}
                          </td>
                          <td class="num" data-label="Adopted" data-testid="adopted-count">
                            {formatCount(r.adoptedCount)}
                          </td>
                        </tr>
                      )}
                    </For>
                  </tbody>
                </table>
              </div>
            </Show>
          </>
        )}
      </Async>
      <Show when={selected()}>{(run) => <RunFindings run={run()} onApplied={() => void ctl.refetch()} />}</Show>
    </>
  );
}

function StartForm(props: { onStarted: (run: Run) => void }) {
  const { busy, error, run } = createAction();
  const [stores] = createResource(async () => (await adminClient.listStores({})).stores.map((s) => s.name));
  async function start(e: SubmitEvent) {
    e.preventDefault();
    const data = new FormData(e.currentTarget as HTMLFormElement);
    const hours = Number(data.get("min-age") ?? "1");
    const res = await run(() =>
      adminClient.startReconciliation({
        store: String(data.get("store") ?? ""),
        keyPrefix: String(data.get("prefix") ?? "").trim(),
        minAge: { seconds: BigInt(Math.round(hours * 3600)), nanos: 0 },
      }),
    );
    if (res?.reconciliation) props.onStarted(res.reconciliation);
  }
  return (
    <section class="panel" aria-labelledby="start-title">
      <h2 id="start-title">Start a reconciliation</h2>
      <form class="inline-form" onSubmit={(e) => void start(e)}>
        <label>
          Store
          <select name="store" data-testid="rec-store">
            <For each={stores() ?? []}>{(name) => <option value={name}>{name}</option>}</For>
          </select>
        </label>
        <label>
          Key prefix
          <input name="prefix" placeholder="uploads/2026/" data-testid="rec-prefix" />
        </label>
        <label>
          Minimum age (hours)
          <input name="min-age" type="number" min="0" max="720" step="any" value="1" data-testid="rec-min-age" />
        </label>
        <button type="submit" disabled={busy() || offlineReason() !== undefined} data-testid="rec-start">
          Start
        </button>
      </form>
      <Show when={error()}>
        <p class="error" role="alert" data-testid="rec-error">
          {error()}
        </p>
      </Show>
      <OfflineControlsNote />
    </section>
  );
}

function RunFindings(props: { run: Run; onApplied: () => void }) {
  const [kind, setKind] = createSignal(ReconciliationFindingKind.UNSPECIFIED);
  const [resolution, setResolution] = createSignal(ReconciliationFindingResolution.UNSPECIFIED);
  const [prefix, setPrefix] = createSignal("");
  const [findings, ctl] = createResource(
    () => ({ id: props.run.id, kind: kind(), resolution: resolution(), keyPrefix: prefix(), at: props.run.updateTime }),
    async (q) =>
      (
        await adminClient.listReconciliationFindings({
          reconciliationId: q.id,
          kind: q.kind,
          resolution: q.resolution,
          keyPrefix: q.keyPrefix,
          pageSize: FINDINGS_PAGE,
        })
      ).findings,
  );
  return (
    <section class="panel" data-testid="findings" aria-labelledby="findings-title">
      <h2 id="findings-title">Findings of reconciliation #{props.run.id.toString()}</h2>
      <form
        class="inline-form"
        aria-label="Filter findings"
        onSubmit={(e) => {
          e.preventDefault();
          const data = new FormData(e.currentTarget);
          setKind(Number(data.get("kind")) as ReconciliationFindingKind);
          setResolution(Number(data.get("resolution")) as ReconciliationFindingResolution);
          setPrefix(String(data.get("prefix") ?? "").trim());
        }}
      >
        <label>
          Kind
          <select name="kind" data-testid="finding-kind">
            <For
              each={[
                ReconciliationFindingKind.UNSPECIFIED,
                ReconciliationFindingKind.UNTRACKED,
                ReconciliationFindingKind.MISSING,
              ]}
            >
              {(k) => (
                <option value={k} selected={k === kind()}>
                  {KIND_LABEL[k]}
                </option>
              )}
            </For>
          </select>
        </label>
        <label>
          Resolution
          <select name="resolution" data-testid="finding-resolution">
            <For each={Object.values(ReconciliationFindingResolution).filter((v) => typeof v === "number")}>
              {(r) => (
                <option value={r} selected={r === resolution()}>
                  {RESOLUTION_LABEL[r as ReconciliationFindingResolution]}
                </option>
              )}
            </For>
          </select>
        </label>
        <label>
          Key prefix
          <input name="prefix" value={prefix()} data-testid="finding-prefix" />
        </label>
        <button type="submit">Apply</button>
      </form>
      <Async resource={findings} onRetry={() => void ctl.refetch()} what="findings">
        {(rows) => (
          <Show when={rows().length > 0} fallback={<Empty>No findings match</Empty>}>
            <Show when={rows().length === FINDINGS_PAGE}>
              <p class="muted">The first {FINDINGS_PAGE} by key; narrow the prefix to see others.</p>
            </Show>
            <div class="table-wrap">
              <table>
                <caption class="visually-hidden">Findings by key</caption>
                <thead>
                  <tr>
                    <th scope="col">Key</th>
                    <th scope="col">Kind</th>
                    <th scope="col">Resolution</th>
                    <th scope="col" class="num">
                      Size
                    </th>
                    <th scope="col">Modified</th>
                    <th scope="col">Media</th>
                  </tr>
                </thead>
                <tbody>
                  <For each={rows()}>
                    {(f: ReconciliationFinding) => (
                      <tr data-testid="finding-row" data-key={f.key}>
                        <td class="lead wrap">{f.key}</td>
                        <td data-label="Kind">{KIND_LABEL[f.kind]}</td>
                        <td data-label="Resolution" data-testid="finding-resolution-cell">
                          {RESOLUTION_LABEL[f.resolution]}
                        </td>
                        <td class="num" data-label="Size">
                          {formatBytes(f.sizeBytes)}
                        </td>
                        <td data-label="Modified">
                          <At time={f.modifyTime} />
                        </td>
                        <td data-label="Media">
                          <Show when={f.mediaId > 0n} fallback="—">
                            <A href={`/media/${f.mediaId}`}>{f.mediaId.toString()}</A>
                          </Show>
                        </td>
                      </tr>
                    )}
                  </For>
                </tbody>
              </table>
            </div>
          </Show>
        )}
      </Async>
      <Show when={props.run.state === ReconciliationState.SUCCEEDED}>
        <ApplyPanel
          run={props.run}
          onApplied={() => {
            void ctl.refetch();
            props.onApplied();
          }}
        />
      </Show>
    </section>
  );
}

/** Adopt or ignore a run's OPEN untracked findings under a prefix: count first, then confirm. */
function ApplyPanel(props: { run: Run; onApplied: () => void }) {
  const { busy, error, run } = createAction();
  const [action, setAction] = createSignal(ReconciliationAction.ADOPT);
  const [prefix, setPrefix] = createSignal("");
  const [open, setOpen] = createSignal<number>();
  const [confirmLimit, setConfirmLimit] = createSignal(false);
  const [result, setResult] = createSignal("");
  const blocked = () => busy() || offlineReason() !== undefined;

  async function countOpen(e: SubmitEvent) {
    e.preventDefault();
    setOpen(undefined);
    setConfirmLimit(false);
    setResult("");
    // The OPEN untracked findings under the prefix, counted page by page (at most 10 pages shown as "1000+").
    const n = await run(async () => {
      let total = 0;
      let pageToken = "";
      for (let i = 0; i < 10; i++) {
        const page = await adminClient.listReconciliationFindings({
          reconciliationId: props.run.id,
          kind: ReconciliationFindingKind.UNTRACKED,
          resolution: ReconciliationFindingResolution.OPEN,
          keyPrefix: prefix().trim(),
          pageSize: 1000,
          pageToken,
        });
        total += page.findings.length;
        pageToken = page.nextPageToken;
        if (pageToken === "") break;
      }
      return total;
    });
    if (n !== undefined) setOpen(n);
  }

  async function apply() {
    let limitHit = false;
    const res = await run(async () => {
      try {
        return await adminClient.applyReconciliation({
          reconciliationId: props.run.id,
          action: action(),
          keyPrefix: prefix().trim(),
          confirmBlastRadius: confirmLimit(),
        });
      } catch (err) {
        limitHit = needsBlastConfirmation(err);
        throw err;
      }
    });
    if (limitHit) setConfirmLimit(true);
    if (res === undefined) return;
    setOpen(undefined);
    setConfirmLimit(false);
    const verb = action() === ReconciliationAction.ADOPT ? "adopted" : "ignored";
    setResult(
      `${formatCount(res.appliedCount)} ${verb}, ${formatCount(res.skippedCount)} skipped` +
        (res.remainingCount > 0n ? `, ${formatCount(res.remainingCount)} left: apply again` : "."),
    );
    props.onApplied();
  }

  const verb = () => (action() === ReconciliationAction.ADOPT ? "Adopt" : "Ignore");
  return (
    <div class="danger-zone" data-testid="apply-panel">
      <h3>Untracked objects</h3>
      <p class="muted">
        Adopting registers each as a PENDING media: unless someone links it, it expires through the trash. Ignoring
        leaves the prefix out of later runs of this store.
      </p>
      <form class="inline-form" onSubmit={(e) => void countOpen(e)}>
        <label>
          Action
          <select
            data-testid="apply-action"
            onChange={(e) => {
              setAction(Number(e.currentTarget.value) as ReconciliationAction);
              setOpen(undefined);
              setConfirmLimit(false);
            }}
          >
            <option value={ReconciliationAction.ADOPT}>Adopt</option>
            <option value={ReconciliationAction.IGNORE}>Ignore</option>
          </select>
        </label>
        <label>
          Key prefix
          <input
            value={prefix()}
            onInput={(e) => {
              setPrefix(e.currentTarget.value);
              setOpen(undefined);
              setConfirmLimit(false);
            }}
            data-testid="apply-prefix"
          />
        </label>
        <button type="submit" disabled={blocked()} data-testid="apply-count">
          Count
        </button>
      </form>
      <Show when={open() !== undefined}>
        <p role="status">
          <strong data-testid="apply-open-count">{formatCount(BigInt(open() ?? 0))}</strong> untracked objects are open
          under this prefix.
        </p>
        <Show when={confirmLimit()}>
          <p class="error" data-testid="apply-limit">
            That is more than the blast-radius limit allows without a second confirmation.
          </p>
        </Show>
        <button
          type="button"
          class="danger"
          disabled={blocked() || open() === 0}
          data-testid="apply-confirm"
          onClick={() => void apply()}
        >
          {confirmLimit()
            ? `Yes, ${verb().toLowerCase()} all of them`
            : `${verb()} ${formatCount(BigInt(open() ?? 0))}`}
        </button>
      </Show>
      <Show when={error()}>
        <p class="error" role="alert" data-testid="apply-error">
          {error()}
        </p>
      </Show>
      <Show when={result()}>
        <p role="status" data-testid="apply-result">
          {result()}
        </p>
      </Show>
    </div>
  );
}
