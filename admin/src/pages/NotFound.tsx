import { A } from "@solidjs/router";

export default function NotFound() {
  return (
    <section>
      <h1>Page not found</h1>
      <p>
        There is no page at this address. Go to the <A href="/">overview</A>.
      </p>
    </section>
  );
}
