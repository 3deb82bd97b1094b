import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { ErrorInfoSchema } from "@media/proto/google/rpc/error_details_pb";
import { type BulkAction, BulkActionType, type MediaFilter } from "@media/proto/media/v1/admin_service_pb";
import { MediaState } from "@media/proto/media/v1/media_pb";
import { createEffect, createSignal, For, on, onCleanup, Show } from "solid-js";
import { createAction } from "../action";
import { adminClient } from "../api";
import { offlineReason, online } from "../connection";
import { errorMessage } from "../errors";
import type { MediaFilterInit } from "../filters";
import {
  bulkActionLabel,
  bulkFinished,
  bulkStateName,
  formatBytes,
  formatCount,
  formatDate,
  stateName,
} from "../format";
import { OfflineControlsNote } from "./Connection";
import { At } from "./When";

/** How often a running bulk action's progress is read again. */
const POLL_MS = 1000;

/** RunBulkAction's FAILED_PRECONDITION when more media match than the blast-radius limit. */
function needsBlastConfirmation(err: unknown): boolean {
  const e = ConnectError.from(err);
  return (
    e.code === Code.FailedPrecondition &&
    e.findDetails(ErrorInfoSchema).some((info) => info.reason === "BULK_CONFIRMATION_REQUIRED")
  );
}

interface Preview {
  count: bigint;
  bytes: bigint;
}

/**
 * One action on every media a filter matches: choose the action and a reason, count what matches
 * (validate_only), confirm (again, with confirm_blast_radius, when the server asks for it), then
 * follow the bulk action's progress until it ends. `filter` may throw (a bad label): its message shows.
 */
export function BulkActionPanel(props: {
  /** The filter to act on (may throw, saying why the filters are wrong). */
  filter: () => MediaFilterInit;
  /** Changes when other filters are applied (the URL's query, say): the count shown is dropped. */
  filterKey: string;
  actions: readonly BulkActionType[];
  title: string;
  previewLabel: string;
  onFinished?: (action: BulkAction) => void;
}) {
  const { busy, error, run } = createAction();
  const blocked = () => busy() || offlineReason() !== undefined;
  const [action, setAction] = createSignal<BulkActionType>(props.actions[0] ?? BulkActionType.UNSPECIFIED);
  const [reason, setReason] = createSignal("");
  const [preview, setPreview] = createSignal<Preview>();
  const [confirmLimit, setConfirmLimit] = createSignal(false);
  const [current, setCurrent] = createSignal<BulkAction>();
  const [pollError, setPollError] = createSignal("");

  // A count speaks of one filter and one action: other ones need counting again.
  createEffect(
    on(
      [() => props.filterKey, action],
      () => {
        setPreview(undefined);
        setConfirmLimit(false);
      },
      { defer: true },
    ),
  );

  // Follow the accepted action until it ends; not while the service is out of reach.
  createEffect(() => {
    const bulk = current();
    if (bulk === undefined) return;
    if (bulkFinished(bulk.state)) {
      props.onFinished?.(bulk);
      return;
    }
    const timer = setTimeout(async () => {
      if (!online()) {
        setCurrent({ ...bulk }); // try again at the next tick
        return;
      }
      try {
        const res = await adminClient.getBulkAction({ bulkActionId: bulk.id });
        setPollError("");
        if (res.bulkAction && current()?.id === bulk.id) setCurrent(res.bulkAction);
      } catch (err) {
        setPollError(errorMessage(err));
        if (current()?.id === bulk.id) setCurrent({ ...bulk });
      }
    }, POLL_MS);
    onCleanup(() => clearTimeout(timer));
  });

  function filterOrError(): MediaFilterInit | undefined {
    try {
      return props.filter();
    } catch (err) {
      void run(() => Promise.reject(err));
      return undefined;
    }
  }

  async function count(e: SubmitEvent) {
    e.preventDefault();
    const filter = filterOrError();
    if (filter === undefined) return;
    setPreview(undefined);
    setConfirmLimit(false);
    const res = await run(() =>
      adminClient.runBulkAction({ filter, action: action(), reason: reason().trim(), validateOnly: true }),
    );
    if (res !== undefined) setPreview({ count: res.matchedCount, bytes: res.matchedSizeBytes });
  }

  async function confirm() {
    const filter = filterOrError();
    if (filter === undefined) return;
    let limitHit = false;
    const res = await run(async () => {
      try {
        return await adminClient.runBulkAction({
          filter,
          action: action(),
          reason: reason().trim(),
          confirmBlastRadius: confirmLimit(),
        });
      } catch (err) {
        limitHit = needsBlastConfirmation(err);
        throw err;
      }
    });
    if (limitHit) setConfirmLimit(true);
    if (res?.bulkAction === undefined) return;
    setPreview(undefined);
    setConfirmLimit(false);
    setReason("");
    setPollError("");
    setCurrent(res.bulkAction);
  }

  const label = () => bulkActionLabel(action());
  const running = () => {
    const bulk = current();
    return bulk !== undefined && !bulkFinished(bulk.state);
  };

  return (
    <section class="panel" aria-label={props.title} data-testid="bulk-panel">
      <h2>{props.title}</h2>
      <form class="inline-form" onSubmit={(e) => void count(e)}>
        <Show when={props.actions.length > 1}>
          <label>
            Action
            <select
              data-testid="bulk-action"
              onChange={(e) => setAction(Number(e.currentTarget.value) as BulkActionType)}
            >
              <For each={props.actions}>
                {(a) => (
                  <option value={a} selected={a === action()}>
                    {bulkActionLabel(a)}
                  </option>
                )}
              </For>
            </select>
          </label>
        </Show>
        <label>
          {action() === BulkActionType.HOLD ? "Hold reason" : "Reason"}
          <input
            value={reason()}
            onInput={(e) => setReason(e.currentTarget.value)}
            required
            maxLength={512}
            placeholder="Ticket, why…"
            data-testid="bulk-reason"
          />
        </label>
        <button type="submit" disabled={blocked()} title={offlineReason()} data-testid="bulk-preview">
          {props.previewLabel}
        </button>
      </form>
      <Show when={error()}>
        <p class="error" role="alert" data-testid="bulk-error">
          {error()}
        </p>
      </Show>
      <OfflineControlsNote />
      <Show when={preview()}>
        {(p) => (
          <div class="danger-zone" data-testid="bulk-confirmation">
            <p role="status">
              <strong data-testid="bulk-preview-count">{formatCount(p().count)}</strong> media (
              <span data-testid="bulk-preview-bytes">{formatBytes(p().bytes)}</span>) match these filters now.
              <Show when={p().count > 0n}> {label()} acts on every one that matches when its job reaches it.</Show>
            </p>
            <Show when={confirmLimit()}>
              <p class="error" data-testid="bulk-limit">
                That is more than the blast-radius limit allows without a second confirmation.
              </p>
            </Show>
            <button
              type="button"
              class="danger"
              disabled={blocked() || p().count === 0n || reason().trim() === "" || running()}
              title={offlineReason()}
              data-testid="bulk-confirm"
              onClick={() => void confirm()}
            >
              {confirmLimit()
                ? `Yes, ${label().toLowerCase()} all ${formatCount(p().count)} media`
                : `${label()} ${formatCount(p().count)} media`}
            </button>
          </div>
        )}
      </Show>
      <Show when={current()}>{(bulk) => <BulkProgress bulk={bulk()} />}</Show>
      <Show when={pollError()}>
        <p class="muted" data-testid="bulk-poll-error">
          Progress could not be read: {pollError()}. Trying again.
        </p>
      </Show>
    </section>
  );
}

/** Where one bulk action is: its state and counts, and its last error. */
export function BulkProgress(props: { bulk: BulkAction }) {
  const b = () => props.bulk;
  const name = () => bulkStateName(b().state);
  return (
    <div class="bulk-progress" role="status" data-testid="bulk-progress" data-id={b().id.toString()}>
      <p>
        {bulkActionLabel(b().action)} #{b().id.toString()}:{" "}
        <span class={`badge badge-${name().toLowerCase()}`} data-testid="bulk-state">
          {name()}
        </span>{" "}
        <span data-testid="bulk-done">{formatCount(b().doneCount)}</span> of {formatCount(b().matchedCount)} done,{" "}
        <span data-testid="bulk-skipped">{formatCount(b().skippedCount)}</span> skipped,{" "}
        <span data-testid="bulk-failed">{formatCount(b().failedCount)}</span> failed
        <Show when={b().finishTime}>
          {" "}
          (ended <At time={b().finishTime} />)
        </Show>
        .
      </p>
      <Show when={b().lastError}>
        <p class="error wrap" data-testid="bulk-last-error">
          {b().lastError}
        </p>
      </Show>
    </div>
  );
}

/** "state TRASHED, store default, key prefix a/": the filter a bulk action acts on, in words. */
export function describeFilter(filter: MediaFilter | undefined): string {
  if (filter === undefined) return "every media";
  const parts: string[] = [];
  if (filter.state !== MediaState.UNSPECIFIED) parts.push(`state ${stateName(filter.state)}`);
  if (filter.store) parts.push(`store ${filter.store}`);
  if (filter.owner) parts.push(`owner ${filter.owner}`);
  if (filter.keyPrefix) parts.push(`key prefix ${filter.keyPrefix}`);
  for (const [k, v] of Object.entries(filter.labels)) parts.push(`${k}=${v}`);
  if (filter.trashedAfter) parts.push(`trashed after ${formatDate(timestampDate(filter.trashedAfter))}`);
  if (filter.trashedBefore) parts.push(`trashed before ${formatDate(timestampDate(filter.trashedBefore))}`);
  return parts.length > 0 ? parts.join(", ") : "every media";
}
