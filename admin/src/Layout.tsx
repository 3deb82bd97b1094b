import { A, type RouteSectionProps } from "@solidjs/router";
import { Suspense } from "solid-js";
import { Loading } from "./components/Feedback";

/** The header navigation around every page. */
export function Layout(props: RouteSectionProps) {
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
      <main id="main" tabindex="-1">
        <Suspense fallback={<Loading what="page" />}>{props.children}</Suspense>
      </main>
    </>
  );
}
