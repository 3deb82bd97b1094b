import { useLocation } from "@solidjs/router";
import { createEffect, ErrorBoundary, type JSX, on } from "solid-js";
import { recoveries, reportFailure } from "../connection";

/** Whether an error is a page's code (a lazily loaded chunk) failing to load. */
function isChunkLoadError(err: unknown): boolean {
  const message = err instanceof Error ? err.message : String(err);
  return /dynamically imported module|Importing a module script failed|error loading dynamically|Loading chunk/i.test(
    message,
  );
}

/**
 * Around the lazily loaded pages: a page whose code does not load (the service is out of reach,
 * say) or that throws shows a message with a reload button instead of nothing. Navigating
 * elsewhere, or the service answering again, tries again. A page whose code failed to load is
 * tried again by reloading the tab once the service answers: browsers may keep a failed module
 * import failed for the page's life (Chromium 150 does), so rendering it again would fail again.
 */
export function PageBoundary(props: { children: JSX.Element }) {
  const location = useLocation();
  let reset: (() => void) | undefined;
  let codeMissing = false;
  createEffect(
    on(
      () => recoveries(),
      () => {
        if (codeMissing) window.location.reload();
      },
      { defer: true },
    ),
  );
  createEffect(
    on(
      () => [location.pathname, recoveries()],
      () => {
        reset?.();
        reset = undefined;
        codeMissing = false;
      },
      { defer: true },
    ),
  );
  return (
    <ErrorBoundary
      fallback={(err, retry) => {
        reset = retry;
        const chunk = isChunkLoadError(err);
        codeMissing = chunk;
        // A page's code that does not arrive most likely means the service is out of reach: the probe checks.
        if (chunk) reportFailure(new TypeError(String(err)));
        return (
          <div class="error" role="alert" data-testid="page-error">
            <p>
              {chunk
                ? "This page could not be loaded: the service did not answer. Reload once it is reachable again."
                : `This page failed: ${err instanceof Error ? err.message : String(err)}`}
            </p>
            <button type="button" onClick={() => window.location.reload()}>
              Reload
            </button>
          </div>
        );
      }}
    >
      {props.children}
    </ErrorBoundary>
  );
}
