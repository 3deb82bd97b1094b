import { A, type RouteSectionProps, useLocation } from "@solidjs/router";
import { createEffect, on, Suspense } from "solid-js";
import { Loading } from "./components/Feedback";

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
              : "Not found";
  return `${page} · Media lifecycle`;
}

/** The header navigation around every page. */
export function Layout(props: RouteSectionProps) {
  let main: HTMLElement | undefined;
  const location = useLocation();
  createEffect(() => {
    document.title = titleOf(location.pathname);
  });
  // After a navigation (not on the first load) focus moves to the new page, as on a full page
  // load, so keyboard and screen-reader users start at its content.
  createEffect(
    on(
      () => location.pathname,
      () => main?.focus(),
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
        <nav aria-label="Main">
          <A href="/" end>
            Overview
          </A>
          <A href="/media">Media</A>
          <A href="/failures">Failures</A>
          <A href="/plan">Deletion plan</A>
        </nav>
      </header>
      <main id="main" tabindex="-1" ref={main}>
        <Suspense fallback={<Loading what="page" />}>{props.children}</Suspense>
      </main>
    </>
  );
}
