import { For } from "solid-js";

/**
 * A storage key that line-breaks after its path separators rather than every few characters
 * (a segment wider than the line still breaks: see .key); its text stays the key itself.
 */
export function Key(props: { value: string }) {
  // Each part ends with its separator, so a break opportunity follows it.
  const parts = () => props.value.match(/[^/]*\/|[^/]+$/g) ?? [props.value];
  return (
    <For each={parts()}>
      {(part, i) => (
        <>
          {part}
          {i() < parts().length - 1 && <wbr />}
        </>
      )}
    </For>
  );
}
