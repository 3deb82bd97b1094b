import { type Media, MediaState } from "@media/proto/media/v1/media_pb";
import { createEffect, createSignal, on, Show } from "solid-js";
import { createAction } from "../action";
import { adminClient } from "../api";
import { offlineReason } from "../connection";
import { OfflineControlsNote } from "./Connection";

/**
 * Hold / Release, Delete now (typed confirmation), Retry and, from the trash, Restore for one media;
 * reports the updated media.
 */
export function MediaActions(props: { media: Media; onUpdated: (media: Media) => void }) {
  const { busy, error, run } = createAction();
  // Out of reach, the actions stay on screen, disabled, saying why.
  const blocked = () => busy() || offlineReason() !== undefined;
  const [notice, setNotice] = createSignal("");
  // A notice speaks of one media: another one's page starts without it.
  createEffect(
    on(
      () => props.media.id,
      () => setNotice(""),
      { defer: true },
    ),
  );
  const [confirmText, setConfirmText] = createSignal("");
  const held = () => props.media.holdReason !== "";
  const deletable = () =>
    !held() && (props.media.state === MediaState.PENDING || props.media.state === MediaState.ORPHANED);
  // Typing the id (or the key) proves the admin means this very media.
  const confirmed = () => {
    const typed = confirmText().trim();
    return typed !== "" && (typed === props.media.id.toString() || typed === props.media.key);
  };

  /** Runs one call, reports the updated media and, once it succeeded, says so; true when it did. */
  async function act(call: () => Promise<{ media?: Media }>, done: string): Promise<boolean> {
    setNotice("");
    const res = await run(call);
    if (res === undefined) return false;
    if (res.media) props.onUpdated(res.media);
    setNotice(done);
    return true;
  }

  function hold(e: SubmitEvent) {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const reason = String(new FormData(form).get("reason") ?? "").trim();
    void act(
      () => adminClient.holdMedia({ mediaId: props.media.id, reason }),
      "Held: this media is not deleted until it is released.",
    ).then((ok) => ok && form.reset());
  }

  function restore(e: SubmitEvent) {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const owner = String(new FormData(form).get("owner") ?? "").trim();
    void act(
      () => adminClient.restoreMedia({ mediaId: props.media.id, owner }),
      owner
        ? `Restored: its file is back at its key and it is linked to ${owner}.`
        : "Restored: its file is back at its key; it is orphaned with a fresh grace period.",
    ).then((ok) => ok && form.reset());
  }

  function deleteNow(e: SubmitEvent) {
    e.preventDefault();
    if (!confirmed()) return;
    void act(
      () => adminClient.deleteMediaNow({ mediaId: props.media.id }),
      "Deletion requested: a worker deletes the file at its next sweep.",
    ).then((ok) => ok && setConfirmText(""));
  }

  return (
    <section class="panel" aria-labelledby="actions-heading">
      <h2 id="actions-heading">Actions</h2>
      <Show when={error()}>
        <p class="error" role="alert" data-testid="action-error">
          {error()}
        </p>
      </Show>
      {/* Always in the page, so screen readers announce the text that appears in it. */}
      <div role="status" data-testid="action-notice" classList={{ notice: notice() !== "" }}>
        {notice()}
      </div>

      <Show
        when={held()}
        fallback={
          <form class="inline-form" onSubmit={hold}>
            <label>
              Hold reason
              <input
                name="reason"
                required
                maxLength={512}
                placeholder="Legal hold, ticket…"
                data-testid="hold-reason"
              />
            </label>
            <button type="submit" disabled={blocked()} title={offlineReason()}>
              Hold
            </button>
          </form>
        }
      >
        <p>
          Held: <span data-testid="action-hold-reason">{props.media.holdReason}</span>{" "}
          <button
            type="button"
            disabled={blocked()}
            title={offlineReason()}
            onClick={() =>
              void act(
                () => adminClient.releaseMedia({ mediaId: props.media.id }),
                "Released: this media follows its lifecycle again.",
              )
            }
          >
            Release
          </button>
        </p>
      </Show>

      <Show when={props.media.state === MediaState.FAILED}>
        <p>
          Deletion failed {props.media.deleteAttempts} times.{" "}
          <button
            type="button"
            disabled={blocked()}
            title={offlineReason()}
            onClick={() =>
              void act(
                () => adminClient.retryMedia({ mediaId: props.media.id }),
                "Sent back for deletion with a fresh retry budget.",
              )
            }
          >
            Retry
          </button>
        </p>
      </Show>

      <Show when={props.media.state === MediaState.TRASHED}>
        <form class="inline-form" onSubmit={restore} aria-label="Restore from the trash">
          <label>
            Link to owner (optional)
            <input name="owner" maxLength={512} placeholder="blog/posts/42#cover" data-testid="restore-owner" />
          </label>
          <button type="submit" disabled={blocked()} title={offlineReason()} data-testid="restore">
            Restore
          </button>
        </form>
      </Show>

      <OfflineControlsNote />

      <Show
        when={deletable()}
        fallback={<p class="muted">Delete now is possible only for pending or orphaned media that are not held.</p>}
      >
        <form class="danger-zone" onSubmit={deleteNow}>
          <p>
            <strong>Delete now</strong> moves this media's deletion time to now. The file is not removed at once: a
            worker deletes it at its next sweep, unless it is linked again first.
          </p>
          <label>
            Type the media id ({props.media.id.toString()}) or its key to confirm
            <input
              value={confirmText()}
              onInput={(e) => setConfirmText(e.currentTarget.value)}
              autocomplete="off"
              data-testid="delete-confirm"
            />
          </label>
          <button type="submit" class="danger" disabled={!confirmed() || blocked()} title={offlineReason()}>
            Delete now
          </button>
        </form>
      </Show>
    </section>
  );
}
