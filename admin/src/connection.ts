import { Code, ConnectError } from "@connectrpc/connect";
import { createSignal } from "solid-js";

// Whether the dashboard can reach the service, in one place. Every call's outcome feeds it (the
// transport's interceptor in api.ts): a network error or Unavailable means the service is out of
// reach, any answer means it is back. While it is out of reach a probe retries with a backoff, and
// every section keeps its last data on screen, marked stale, until the service answers again. While
// it answers, a heartbeat asks it something when nothing else did for a while, so an outage shows
// even on a page that is only being looked at.

export type Connection =
  | { readonly online: true }
  | {
      readonly online: false;
      /** When the first call failed. */
      readonly since: Date;
      /** When the probe tries again. */
      readonly nextRetry: Date;
      /** Probes failed since `since`. */
      readonly attempts: number;
    };

// 1 s, 2 s, 4 s, 8 s, then every 10 s: quick to notice a restart, gentle on a long outage.
const BACKOFF_MS = [1_000, 2_000, 4_000, 8_000, 10_000];
/** How long a visible tab goes without an answer before the heartbeat asks. */
const HEARTBEAT_MS = 10_000;

const [connection, setConnection] = createSignal<Connection>({ online: true });
/** Counts the recoveries: sections refetch when it changes. */
const [recoveries, setRecoveries] = createSignal(0);

export { connection, recoveries };

export const online = () => connection().online;

/** When the connection was lost, while it is. */
export const offlineSince = (): Date | undefined => {
  const c = connection();
  return c.online ? undefined : c.since;
};

/** Why a control is disabled, while the service is out of reach: for its title and a visible note. */
export const offlineReason = (): string | undefined =>
  online() ? undefined : "Unavailable while the connection to the service is lost";

/** Whether a call failed because the service could not be reached (rather than answering no). */
export function isConnectionError(err: unknown): boolean {
  if (err instanceof TypeError) return true; // fetch itself failed: nothing answered
  if (!(err instanceof ConnectError)) return false;
  return err.code === Code.Unavailable || err.cause instanceof TypeError;
}

let probe: (() => Promise<unknown>) | undefined;
let timer: ReturnType<typeof setTimeout> | undefined;
let probing = false;
let lastAnswer = Date.now();

/**
 * The call the backoff and the heartbeat make (api.ts sets it: a cheap admin call), and when the
 * heartbeat may make it (signed in).
 */
export function setProbe(call: () => Promise<unknown>, heartbeatWhen: () => boolean): void {
  probe = call;
  setInterval(() => {
    if (!connection().online || Date.now() - lastAnswer < HEARTBEAT_MS) return;
    if (document.visibilityState !== "visible" || !heartbeatWhen()) return;
    lastAnswer = Date.now(); // one heartbeat at a time
    call().catch(() => {}); // its outcome reaches reportReachable or reportFailure through the interceptor
  }, HEARTBEAT_MS / 2);
}

/** Any answer from the service: it is reachable. */
export function reportReachable(): void {
  lastAnswer = Date.now();
  if (connection().online) return;
  clearTimeout(timer);
  timer = undefined;
  setConnection({ online: true });
  setRecoveries((n) => n + 1);
}

/** A call failed: when the service could not be reached, the dashboard goes offline and probes. */
export function reportFailure(err: unknown): void {
  if (isConnectionError(err)) {
    if (connection().online) schedule(new Date(), 0);
  } else if (!unanswered(err)) {
    reportReachable(); // the service answered, if only with an error
  }
}

/** A call given up on by the dashboard itself (cancelled, out of time): it says nothing either way. */
function unanswered(err: unknown): boolean {
  if (err instanceof Error && (err.name === "AbortError" || err.name === "TimeoutError")) return true;
  return err instanceof ConnectError && (err.code === Code.Canceled || err.code === Code.DeadlineExceeded);
}

function schedule(since: Date, attempts: number): void {
  const delay = BACKOFF_MS[Math.min(attempts, BACKOFF_MS.length - 1)] ?? 10_000;
  clearTimeout(timer);
  setConnection({ online: false, since, nextRetry: new Date(Date.now() + delay), attempts });
  timer = setTimeout(() => void retryNow(), delay);
}

/** Probes at once (the banner's "Retry now", and the backoff's timer). */
export async function retryNow(): Promise<void> {
  const c = connection();
  if (c.online || probing || probe === undefined) return;
  probing = true;
  clearTimeout(timer);
  try {
    await probe();
    reportReachable();
  } catch (err) {
    if (isConnectionError(err) || unanswered(err)) schedule(c.since, c.attempts + 1);
    else reportReachable();
  } finally {
    probing = false;
  }
}
