import { createSignal, Show } from "solid-js";

/** The server's /preview of an image, with a text fallback when it cannot be shown. */
export function Preview(props: { id: bigint; alt: string }) {
  const [failed, setFailed] = createSignal(false);
  return (
    <Show when={!failed()} fallback={<p class="muted">Preview unavailable.</p>}>
      <img
        class="preview"
        src={`/preview/${props.id}`}
        alt={props.alt}
        loading="lazy"
        onError={() => setFailed(true)}
        data-testid="preview"
      />
    </Show>
  );
}
