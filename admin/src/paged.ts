import { createEffect, createSignal, on } from "solid-js";
import { recoveries } from "./connection";

export interface Page<T> {
  items: T[];
  nextPageToken: string;
}

/**
 * A list read page by page with "Load more": keeps the items, the next token, loading and error;
 * a page that failed because the service was out of reach is read again when it is back.
 */
export function createPagedList<T>(fetchPage: (pageToken: string) => Promise<Page<T>>) {
  const [items, setItems] = createSignal<T[]>([]);
  const [nextToken, setNextToken] = createSignal("");
  const [loaded, setLoaded] = createSignal(false);
  const [loading, setLoading] = createSignal(false);
  const [error, setError] = createSignal<unknown>();
  let lastToken = "";
  // Answers to requests made before the latest reload are dropped, so a slow old page never lands.
  let generation = 0;

  async function load(token: string) {
    const gen = generation;
    lastToken = token;
    setLoading(true);
    setError(undefined);
    try {
      const page = await fetchPage(token);
      if (gen !== generation) return;
      setItems((prev) => (token ? [...prev, ...page.items] : page.items));
      setNextToken(page.nextPageToken);
      setLoaded(true);
    } catch (err) {
      if (gen === generation) setError(err);
    } finally {
      if (gen === generation) setLoading(false);
    }
  }

  // The service is back after an outage: a page that failed for it is read again.
  createEffect(
    on(
      recoveries,
      () => {
        if (error() !== undefined) void load(lastToken);
      },
      { defer: true },
    ),
  );

  return {
    items,
    loaded,
    loading,
    error,
    hasMore: () => nextToken() !== "",
    loadMore: () => load(nextToken()),
    retry: () => load(lastToken),
    /** Reads the first page again; `clear` hides the old items at once (another media's, say). */
    reload: (clear = false) => {
      generation++;
      if (clear) {
        setItems([]);
        setLoaded(false);
      }
      return load("");
    },
  };
}

export type PagedList<T> = ReturnType<typeof createPagedList<T>>;
