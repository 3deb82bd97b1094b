import type { DeletionStatus } from "@media/proto/media/v1/admin_service_pb";
import { A } from "@solidjs/router";
import { createSignal, Match, Show, Switch } from "solid-js";
import { createAction } from "../action";
import { adminClient } from "../api";
import { offlineReason } from "../connection";
import { formatCount, formatTime } from "../format";
import { OfflineControlsNote } from "./Connection";
import { At } from "./When";

/**
 * Whether deletions run, with Pause / Resume, the blast-radius confirmation and "Run sweep now".
 * Every change reports the server's new status through onChange.
 */
export function DeletionStatusPanel(props: { status: DeletionStatus; onChange: (status: DeletionStatus) => void }) {
  const { busy, error, run } = createAction();
  const [notice, setNotice] = createSignal("");
  const [reviewed, setReviewed] = createSignal(false);
  const tripped = () => props.status.guardTripTime !== undefined;
  // Out of reach, the controls stay on screen, disabled, saying why.
  const off = () => offlineReason() !== undefined;

  /** Runs one call and reports the new status; true when it succeeded. */
  async function act(call: () => Promise<{ status?: DeletionStatus }>, done: string): Promise<boolean> {
    setNotice("");
    const res = await run(call);
    if (res === undefined) return false;
    if (res.status) props.onChange(res.status);
    setNotice(done);
    setReviewed(false);
    return true;
  }

  function pause(e: SubmitEvent) {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const reason = String(new FormData(form).get("reason") ?? "").trim();
    void act(() => adminClient.pauseDeletions({ reason }), "Deletions paused.").then((ok) => ok && form.reset());
  }

  return (
    <section class="panel" aria-labelledby="deletion-status-heading">
      <h2 id="deletion-status-heading">Deletions</h2>
      <p class={props.status.paused ? "status status-paused" : "status status-running"} data-testid="deletion-status">
        {props.status.paused ? `Paused: ${props.status.pauseReason || "no reason given"}` : "Deletions running"}
      </p>
      <Switch>
        <Match when={tripped()}>
          <div class="warning" role="alert" data-testid="guard-warning">
            <p>
              <strong>Blast-radius guard tripped: {formatCount(props.status.guardDueCount)} files due</strong> (at{" "}
              <At time={props.status.guardTripTime} />
              ). Nothing is deleted until an admin confirms. <A href="/plan">Review the deletion plan</A>
            </p>
            <form
              onSubmit={(e) => {
                e.preventDefault();
                void act(() => adminClient.resumeDeletions({ confirmBlastRadius: true }), "Deletions resumed.");
              }}
            >
              <label class="check">
                <input
                  type="checkbox"
                  checked={reviewed()}
                  onChange={(e) => setReviewed(e.currentTarget.checked)}
                  data-testid="confirm-reviewed"
                />
                I have reviewed the deletion plan
              </label>
              <button type="submit" class="danger" disabled={!reviewed() || busy() || off()} title={offlineReason()}>
                Confirm and resume
              </button>
            </form>
          </div>
        </Match>
        <Match when={props.status.paused}>
          <button
            type="button"
            disabled={busy() || off()}
            title={offlineReason()}
            onClick={() => void act(() => adminClient.resumeDeletions({}), "Deletions resumed.")}
          >
            Resume deletions
          </button>
        </Match>
        <Match when={!props.status.paused}>
          <form class="inline-form" onSubmit={pause}>
            <label>
              Reason
              <input
                name="reason"
                required
                maxLength={512}
                placeholder="Why pause?"
                data-testid="pause-reason"
                disabled={off()}
                title={offlineReason()}
              />
            </label>
            <button type="submit" disabled={busy() || off()} title={offlineReason()}>
              Pause deletions
            </button>
          </form>
        </Match>
      </Switch>
      <p>
        <button
          type="button"
          disabled={busy() || off()}
          title={offlineReason()}
          onClick={() =>
            void (async () => {
              setNotice("");
              const queued = await run(() => adminClient.runSweep({}));
              if (queued === undefined) return;
              setNotice(
                `Sweep queued as job ${queued.jobId} at ${formatTime(queued.runTime)}: a worker runs it shortly. The Jobs page shows what it did.`,
              );
            })()
          }
        >
          Run sweep now
        </button>
      </p>
      <OfflineControlsNote />
      <Show when={error()}>
        <p class="error" role="alert" data-testid="deletion-error">
          {error()}
        </p>
      </Show>
      <Show when={notice()}>
        <p class="notice" role="status" data-testid="deletion-notice">
          {notice()}
        </p>
      </Show>
    </section>
  );
}
