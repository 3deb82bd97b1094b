import { createSignal, onMount, Show } from "solid-js";
import { signIn, signOutReason, verifyToken } from "./api";

/**
 * Asks for an API token once per browser session. It stands in for the page at the current URL,
 * so after signing in the user is where they were heading.
 */
export function SignIn() {
  let input: HTMLInputElement | undefined;
  const [error, setError] = createSignal("");
  const [busy, setBusy] = createSignal(false);
  onMount(() => input?.focus());

  async function submit(e: SubmitEvent) {
    e.preventDefault();
    const secret = input?.value.trim() ?? "";
    if (secret === "") {
      setError("Enter an API token.");
      input?.focus();
      return;
    }
    setBusy(true);
    setError("");
    const problem = await verifyToken(secret);
    setBusy(false);
    if (problem !== undefined) {
      setError(problem);
      input?.focus();
      input?.select();
      return;
    }
    signIn(secret);
  }

  return (
    <section class="sign-in" aria-labelledby="sign-in-heading">
      <h1 id="sign-in-heading">Sign in</h1>
      <Show when={signOutReason() === "expired"}>
        <p class="notice" role="status" data-testid="sign-in-expired">
          The server no longer accepts the token this tab used. Sign in again to continue.
        </p>
      </Show>
      <form class="sign-in-form" onSubmit={(e) => void submit(e)} data-testid="sign-in">
        <label>
          API token
          <input
            ref={input}
            type="password"
            name="token"
            autocomplete="current-password"
            spellcheck={false}
            required
            aria-describedby="sign-in-help"
            aria-invalid={error() !== ""}
            aria-errormessage={error() !== "" ? "sign-in-error" : undefined}
            data-testid="sign-in-token"
          />
        </label>
        <button type="submit" disabled={busy()}>
          {busy() ? "Checking…" : "Sign in"}
        </button>
      </form>
      <Show when={error()}>
        <p class="error" id="sign-in-error" role="alert" data-testid="sign-in-error">
          {error()}
        </p>
      </Show>
      <p class="muted" id="sign-in-help">
        The dashboard needs an API token with the admin scope; it is kept for this browser tab until you sign out or
        close it. On a laptop the service creates a default admin token in the file <code>admin-token</code> in its data
        folder (<code>.data/admin-token</code> unless <code>DATA_DIR</code> is set) and prints where it is at start-up.
      </p>
    </section>
  );
}
