import { ErasureOutcome, type ErasureReceipt } from "@media/proto/media/v1/admin_service_pb";
import { createSignal, Show } from "solid-js";
import { createAction } from "../action";
import { adminClient } from "../api";
import { offlineReason } from "../connection";
import { erasureOutcomeName } from "../format";
import { At } from "./When";

/**
 * "Erase now (legal request)": a reason and the media id typed out, then EraseMedia, which deletes the
 * files at once (the trashed copy too) and its references; reports the receipt.
 */
export function EraseMedia(props: { id: bigint; onErased: (receipt: ErasureReceipt) => void }) {
  const { busy, error, run } = createAction();
  const [reason, setReason] = createSignal("");
  const [typed, setTyped] = createSignal("");
  const confirmed = () => typed().trim() === props.id.toString() && reason().trim() !== "";

  async function erase(e: SubmitEvent) {
    e.preventDefault();
    if (!confirmed()) return;
    const res = await run(() => adminClient.eraseMedia({ mediaIds: [props.id], reason: reason().trim() }));
    const receipt = res?.receipts.find((r) => r.mediaId === props.id) ?? res?.receipts[0];
    if (receipt === undefined) return;
    setTyped("");
    props.onErased(receipt);
  }

  return (
    <form class="danger-zone" onSubmit={(e) => void erase(e)} aria-label="Erase now">
      <p>
        <strong>Erase now (legal request)</strong> deletes this media's file at once, bypassing the grace period and the
        trash (a copy in the trash is deleted too), and removes its references. It cannot be undone. A held media is
        refused.
      </p>
      <Show when={error()}>
        <p class="error" role="alert" data-testid="erase-error">
          {error()}
        </p>
      </Show>
      <label>
        Reason (ticket, request)
        <input
          value={reason()}
          onInput={(e) => setReason(e.currentTarget.value)}
          required
          maxLength={512}
          data-testid="erase-reason"
        />
      </label>
      <label>
        Type the media id ({props.id.toString()}) to confirm
        <input
          value={typed()}
          onInput={(e) => setTyped(e.currentTarget.value)}
          autocomplete="off"
          data-testid="erase-confirm"
        />
      </label>
      <button type="submit" class="danger" disabled={!confirmed() || busy() || offlineReason() !== undefined}>
        Erase now
      </button>
    </form>
  );
}

/** What EraseMedia did to one media, as its receipt says. */
export function ErasureReceiptView(props: { receipt: ErasureReceipt }) {
  const r = () => props.receipt;
  const outcome = () => erasureOutcomeName(r().outcome);
  return (
    <section
      class="panel"
      classList={{ error: r().outcome !== ErasureOutcome.ERASED }}
      aria-label="Erasure receipt"
      role="status"
      data-testid="erase-receipt"
    >
      <h2>Erasure receipt</h2>
      <dl class="fields">
        <dt>Media</dt>
        <dd>{r().mediaId.toString()}</dd>
        <dt>Outcome</dt>
        <dd data-testid="receipt-outcome">{outcome()}</dd>
        <dt>Detail</dt>
        <dd class="wrap" data-testid="receipt-detail">
          {r().detail || "—"}
        </dd>
        <dt>Store and key</dt>
        <dd class="key">{r().store ? `${r().store}: ${r().key}` : "—"}</dd>
        <dt>Verified gone</dt>
        <dd data-testid="receipt-verified">{r().verifiedGone ? "Yes: the store no longer has the file" : "No"}</dd>
        <dt>Erased</dt>
        <dd data-testid="receipt-time">
          <At time={r().eraseTime} />
        </dd>
      </dl>
    </section>
  );
}
