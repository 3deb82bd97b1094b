import { createEffect, createMemo, createSignal, Match, on, onCleanup, Switch } from "solid-js";
import { fetchPreview } from "../api";

/**
 * The server's /preview of an image, with a text fallback when it cannot be shown. The preview
 * needs the API token in a header, so it is fetched and shown from an object URL.
 */
export function Preview(props: { id: bigint; alt: string }) {
  const [src, setSrc] = createSignal<string>();
  const [failed, setFailed] = createSignal(false);
  // A memo, so an update of the same media (hold, release) does not fetch the preview again.
  const id = createMemo(() => props.id);

  createEffect(
    on(id, (mediaId) => {
      const abort = new AbortController();
      let url: string | undefined;
      setSrc(undefined);
      setFailed(false);
      fetchPreview(mediaId, abort.signal).then(
        (blob) => {
          if (abort.signal.aborted) return;
          url = URL.createObjectURL(blob);
          setSrc(url);
        },
        () => {
          if (!abort.signal.aborted) setFailed(true);
        },
      );
      onCleanup(() => {
        abort.abort();
        if (url !== undefined) URL.revokeObjectURL(url);
      });
    }),
  );

  return (
    <Switch fallback={<p class="muted">Loading preview…</p>}>
      <Match when={failed()}>
        <p class="muted">Preview unavailable.</p>
      </Match>
      <Match when={src()}>
        {(url) => (
          <img class="preview" src={url()} alt={props.alt} onError={() => setFailed(true)} data-testid="preview" />
        )}
      </Match>
    </Switch>
  );
}
