import type { JSX } from "solid-js";
import { errorMessage } from "../errors";

export function Loading(props: { what?: string }) {
  return (
    <p class="muted" role="status" data-testid="loading">
      Loading{props.what ? ` ${props.what}` : ""}…
    </p>
  );
}

/** An error with the server's message and, when the caller can try again, a Retry button. */
export function ErrorBox(props: { error: unknown; onRetry?: () => void }) {
  return (
    <div class="error" role="alert" data-testid="error">
      <p>{errorMessage(props.error)}</p>
      {props.onRetry && (
        <button type="button" onClick={() => props.onRetry?.()}>
          Retry
        </button>
      )}
    </div>
  );
}

export function Empty(props: { children: JSX.Element }) {
  return (
    <p class="empty" data-testid="empty">
      {props.children}
    </p>
  );
}
