import { createEffect, createSignal, onCleanup, Show } from "solid-js";
import { connection, offlineReason, retryNow } from "../connection";

const clock = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const clockSeconds = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });

/** "HH:MM", how the stale marks name the moment the connection was lost. */
export const formatClock = (d: Date) => clock.format(d);

/**
 * The one banner while the service is out of reach: since when, and when the next retry is,
 * with a button to retry at once. It goes away by itself when the service answers again.
 */
export function ConnectionBanner() {
  const [now, setNow] = createSignal(Date.now());
  const lost = () => {
    const c = connection();
    return c.online ? undefined : c;
  };
  // The countdown ticks only while the connection is lost.
  createEffect(() => {
    if (connection().online) return;
    setNow(Date.now());
    const tick = setInterval(() => setNow(Date.now()), 1000);
    onCleanup(() => clearInterval(tick));
  });
  return (
    <Show when={lost()}>
      {(c) => {
        const seconds = () => Math.max(0, Math.ceil((c().nextRetry.getTime() - now()) / 1000));
        return (
          <div class="connection-banner" role="alert" data-testid="connection-banner">
            <p>
              <strong>Connection to the service lost, retrying.</strong>{" "}
              <span data-testid="connection-lost-at">Lost at {clockSeconds.format(c().since)}</span>;{" "}
              <span data-testid="connection-next-retry">
                {seconds() > 0 ? `next retry in ${seconds()} s` : "retrying now…"}
              </span>
              . What is shown is the last data received.
            </p>
            <button type="button" onClick={() => void retryNow()}>
              Retry now
            </button>
          </div>
        );
      }}
    </Show>
  );
}

/** The mark on a section whose data is from before the connection was lost. */
export function StaleNote(props: { since: Date }) {
  return (
    <p class="stale-note" data-testid="stale">
      Stale since {formatClock(props.since)}
    </p>
  );
}

/** A section that has no data yet and cannot get any until the service answers. */
export function WaitingForService(props: { what?: string }) {
  return (
    <p class="muted" role="status" data-testid="waiting-for-service">
      Waiting for the service{props.what ? ` to load the ${props.what}` : ""}…
    </p>
  );
}

/** Why the controls beside it are disabled, while the service is out of reach. */
export function OfflineControlsNote() {
  return (
    <Show when={offlineReason()}>
      {(reason) => (
        <p class="muted offline-note" data-testid="controls-offline">
          {reason()}.
        </p>
      )}
    </Show>
  );
}
