import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { type ErasureReceipt, MediaEventType } from "@media/proto/media/v1/admin_service_pb";
import type { Media } from "@media/proto/media/v1/media_pb";
import { useParams } from "@solidjs/router";
import { createEffect, createMemo, createResource, createSignal, For, on, Show } from "solid-js";
import { adminClient, mediaClient } from "../api";
import { Async } from "../components/Async";
import { EraseMedia, ErasureReceiptView } from "../components/EraseMedia";
import { Empty } from "../components/Feedback";
import { LoadMore } from "../components/LoadMore";
import { MediaActions } from "../components/MediaActions";
import { Preview } from "../components/Preview";
import { StateBadge } from "../components/StateBadge";
import { Timeline } from "../components/Timeline";
import { At, When } from "../components/When";
import { isNotFound } from "../errors";
import { formatBytes, formatCount } from "../format";
import { createPagedList } from "../paged";

/** The route's id as an int64, or undefined when it is not a positive integer. */
function parseId(text: string | undefined): bigint | undefined {
  return text && /^[1-9][0-9]{0,18}$/.test(text) ? BigInt(text) : undefined;
}

export default function MediaDetail() {
  const params = useParams<{ id: string }>();
  const id = createMemo(() => parseId(params.id));

  // null means the row is gone: GetMedia answers NOT_FOUND once a media is deleted.
  const [media, ctl] = createResource(id, async (mediaId): Promise<Media | null> => {
    try {
      return (await mediaClient.getMedia({ id: mediaId })).media ?? null;
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  });

  // Where the kept events begin, once EVENTS_RETENTION has dropped older months.
  const [droppedBefore, setDroppedBefore] = createSignal<Timestamp>();
  const events = createPagedList(async (pageToken) => {
    const res = await adminClient.listMediaEvents({ mediaId: id() ?? 0n, pageToken });
    setDroppedBefore(res.droppedBeforeTime);
    return { items: res.events, nextPageToken: res.nextPageToken };
  });
  // A timeline that does not start with its CREATED event lost its beginning to the retention.
  const beginningDropped = () =>
    droppedBefore() !== undefined && events.loaded() && events.items()[0]?.type !== MediaEventType.CREATED;
  const references = createPagedList(async (pageToken) => {
    const res = await adminClient.listMediaReferences({ mediaId: id() ?? 0n, pageToken });
    return { items: res.references, nextPageToken: res.nextPageToken };
  });

  // The receipt of an erasure from this page: it stays once the media is gone.
  const [receipt, setReceipt] = createSignal<ErasureReceipt>();

  createEffect(
    on(id, (mediaId) => {
      setReceipt(undefined);
      if (mediaId === undefined) return;
      void events.reload(true);
      void references.reload(true);
    }),
  );

  function updated(next: Media) {
    ctl.mutate(next);
    void events.reload();
  }

  function erased(r: ErasureReceipt) {
    setReceipt(r);
    void ctl.refetch();
    void events.reload();
    void references.reload();
  }

  return (
    <Show when={id()} fallback={<p class="error">“{params.id}” is not a media id.</p>}>
      <h1>Media {params.id}</h1>
      <Show when={receipt()}>{(r) => <ErasureReceiptView receipt={r()} />}</Show>
      <Async resource={media} onRetry={() => void ctl.refetch()} what="media">
        {(m) => (
          <Show
            when={m()}
            fallback={<Gone id={params.id} eventsLoaded={events.loaded()} eventCount={events.items().length} />}
          >
            {(current) => (
              <>
                <div class="detail-grid">
                  <MediaFields media={current()} />
                  <Show when={current().contentType.startsWith("image/")}>
                    <Preview id={current().id} alt={`Preview of ${current().key}`} />
                  </Show>
                </div>
                <MediaActions media={current()} onUpdated={updated} />
                <section class="panel" aria-labelledby="erase-heading">
                  <h2 id="erase-heading">Erase</h2>
                  <EraseMedia id={current().id} onErased={erased} />
                </section>
                <section aria-labelledby="refs-heading">
                  <h2 id="refs-heading">References</h2>
                  <Show when={references.loaded() && references.items().length === 0}>
                    <Empty>No references.</Empty>
                  </Show>
                  <ul class="references" data-testid="references">
                    <For each={references.items()}>
                      {(r) => (
                        <li data-testid="reference">
                          <code>{r.owner}</code>{" "}
                          <span class="muted">
                            since <At time={r.createTime} />
                          </span>
                        </li>
                      )}
                    </For>
                  </ul>
                  <LoadMore list={references} what="references" />
                </section>
              </>
            )}
          </Show>
        )}
      </Async>
      <section aria-labelledby="timeline-heading">
        <h2 id="timeline-heading">Timeline</h2>
        <Show when={events.loaded() && events.items().length === 0}>
          <Empty>No events recorded for this media.</Empty>
        </Show>
        <Show when={beginningDropped() && droppedBefore()}>
          {(before) => (
            <p class="muted" data-testid="events-dropped">
              Events before <At time={before()} /> are no longer kept (<code>EVENTS_RETENTION</code>).
            </p>
          )}
        </Show>
        <Timeline events={events.items()} />
        <LoadMore list={events} what="events" />
      </section>
    </Show>
  );
}

/** GetMedia's NOT_FOUND: deleted media keep their events, ids that never existed have none. */
function Gone(props: { id: string; eventsLoaded: boolean; eventCount: number }) {
  return (
    <Show when={props.eventsLoaded}>
      <Show
        when={props.eventCount > 0}
        fallback={
          <p class="notice" data-testid="media-not-found">
            There is no media {props.id}, and no events about it.
          </p>
        }
      >
        <p class="notice" data-testid="media-deleted">
          This media has been deleted. Its events remain below.
        </p>
      </Show>
    </Show>
  );
}

function MediaFields(props: { media: Media }) {
  const m = () => props.media;
  const labels = () => Object.entries(m().labels);
  return (
    <dl class="fields">
      <dt>ID</dt>
      <dd data-testid="field-id">{m().id.toString()}</dd>
      <dt>State</dt>
      <dd>
        <StateBadge state={m().state} testId="media-state" />
      </dd>
      <dt>Store</dt>
      <dd data-testid="field-store">{m().store}</dd>
      <dt>Key</dt>
      <dd class="key" data-testid="field-key">
        {m().key}
      </dd>
      <dt>Content type</dt>
      <dd data-testid="field-content-type">{m().contentType || "—"}</dd>
      <dt>Size</dt>
      <dd data-testid="field-size">
        {formatBytes(m().sizeBytes)} ({formatCount(m().sizeBytes)} bytes)
      </dd>
      <dt>References</dt>
      <dd data-testid="field-reference-count">{formatCount(m().referenceCount)}</dd>
      <dt>Created</dt>
      <dd data-testid="field-create-time">
        <At time={m().createTime} />
      </dd>
      <dt>Updated</dt>
      <dd data-testid="field-update-time">
        <At time={m().updateTime} />
      </dd>
      <dt>Orphaned</dt>
      <dd data-testid="field-orphan-time">
        <At time={m().orphanTime} />
      </dd>
      <dt>Deletion scheduled</dt>
      <dd data-testid="field-delete-time">
        <At time={m().deleteTime} />
        <Show when={m().deleteTime}>
          {" "}
          (<When time={m().deleteTime} />)
        </Show>
      </dd>
      <Show when={m().trashTime || m().purgeTime}>
        <dt>Trashed</dt>
        <dd data-testid="field-trash-time">
          <At time={m().trashTime} />
        </dd>
        <dt>Purged for good</dt>
        <dd data-testid="field-purge-time">
          <At time={m().purgeTime} />
          <Show when={m().purgeTime}>
            {" "}
            (<When time={m().purgeTime} />)
          </Show>
        </dd>
      </Show>
      <Show when={m().fileMissingTime}>
        <dt>File missing</dt>
        <dd data-testid="field-file-missing-time">
          <strong class="badge badge-failed">missing</strong> since a reconciliation of{" "}
          <At time={m().fileMissingTime} />
        </dd>
      </Show>
      <dt>Hold</dt>
      <dd data-testid="field-hold-reason">{m().holdReason || "Not held"}</dd>
      <dt>Labels</dt>
      <dd data-testid="field-labels">
        <Show when={labels().length > 0} fallback="—">
          <ul class="labels">
            <For each={labels()}>
              {([k, v]) => (
                <li>
                  <code>
                    {k}={v}
                  </code>
                </li>
              )}
            </For>
          </ul>
        </Show>
      </dd>
      <dt>Failed deletion attempts</dt>
      <dd data-testid="field-delete-attempts">{m().deleteAttempts}</dd>
      <dt>Last error</dt>
      <dd class="wrap" data-testid="field-last-error">
        {m().lastError || "—"}
      </dd>
    </dl>
  );
}
