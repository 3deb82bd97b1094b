import { A, type RouteSectionProps, useLocation } from "@solidjs/router";
import { createEffect, on, Show, Suspense } from "solid-js";
import { signedIn, signOut } from "./api";
import { ConnectionBanner } from "./components/Connection";
import { Loading } from "./components/Feedback";
import { PageBoundary } from "./components/PageBoundary";
import { SignIn } from "./SignIn";

/** The tab title for a path: the page's name first, so tabs and history read well. */
function titleOf(pathname: string): string {
  const page =
    pathname === "/"
      ? "Overview"
      : pathname === "/media"
        ? "Media"
        : pathname.startsWith("/media/")
          ? `Media ${decodeURIComponent(pathname.slice("/media/".length))}`
          : pathname === "/failures"
            ? "Failed deletions"
            : pathname === "/plan"
              ? "Deletion plan"
              : pathname === "/jobs"
                ? "Jobs"
                : pathname === "/trash"
                  ? "Trash"
                  : pathname === "/audit"
                    ? "Audit log"
                    : "Not found";
  return `${page} · Media lifecycle`;
}

/**
 * The header navigation around every page. Without an accepted API token the sign-in screen
 * stands in for the page, at the same URL, so signing in (again) lands where the user was.
 */
export function Layout(props: RouteSectionProps) {
  let main: HTMLElement | undefined;
  const location = useLocation();
  createEffect(() => {
    document.title = signedIn() ? titleOf(location.pathname) : "Sign in · Media lifecycle";
  });
  // After a navigation (not on the first load) focus moves to the new page, as on a full page
  // load, so keyboard and screen-reader users start at its content.
  createEffect(
    on(
      () => location.pathname,
      () => {
        if (signedIn()) main?.focus();
      },
      { defer: true },
    ),
  );
  // After signing in, focus moves to the page that replaced the form, as after a navigation.
  createEffect(
    on(
      signedIn,
      (yes) => {
        if (yes) main?.focus();
      },
      { defer: true },
    ),
  );
  return (
    <>
      <a class="skip-link" href="#main">
        Skip to content
      </a>
      <header class="site-header">
        <span class="brand">Media lifecycle</span>
        <Show when={signedIn()}>
          <nav aria-label="Main">
            <A href="/" end>
              Overview
            </A>
            <A href="/media">Media</A>
            <A href="/failures">Failures</A>
            <A href="/plan">Deletion plan</A>
            <A href="/trash">Trash</A>
            <A href="/audit">Audit</A>
            <A href="/attestations">Attestations</A>
            <A href="/reconciliation">Reconciliation</A>
            <A href="/jobs">Jobs</A>
          </nav>
          <button type="button" class="sign-out" onClick={signOut}>
            Sign out
          </button>
        </Show>
      </header>
      <ConnectionBanner />
      <main id="main" tabindex="-1" ref={main}>
        <Show when={signedIn()} fallback={<SignIn />}>
          <PageBoundary>
            <Suspense fallback={<Loading what="page" />}>{props.children}</Suspense>
          </PageBoundary>
        </Show>
      </main>
    </>
  );
}
