import { type Attributes, context, type Span, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import type { ObjectStore, ObjectsResult } from "../storage/object-store.ts";
import { tracer } from "./tracer.ts";

// A span per storage call (note, deleteMany, open and the trash's trashMany,
// placeFromTrash, dropFromTrash, locate, and the listing, list) of the stores openStores opens, as a
// child of the job's or the call's span (a call outside any recorded span is
// not traced). Attributes: the store's name and kind and how many keys the
// call was for; the calls that act add how many failed and how many they left
// untried. Keys themselves are not recorded.

type Kind = "disk" | "s3";

async function inSpan<T>(
  name: string,
  attributes: Attributes,
  kind: Kind,
  run: () => Promise<T>,
  outcome?: (span: Span, result: T) => void,
): Promise<T> {
  if (trace.getSpan(context.active())?.isRecording() !== true) return run();
  const span = tracer.startSpan(name, { kind: kind === "s3" ? SpanKind.CLIENT : SpanKind.INTERNAL, attributes });
  try {
    const result = await run();
    outcome?.(span, result);
    return result;
  } catch (error) {
    const type = error instanceof Error ? error.name : "Error";
    span.setAttribute("error.type", type);
    span.setStatus({ code: SpanStatusCode.ERROR, message: type });
    throw error;
  } finally {
    span.end();
  }
}

/** What an acting call reports on its span. */
const actOutcome = (span: Span, result: ObjectsResult) =>
  span.setAttributes({
    "media.storage.failed_count": result.failed.size,
    "media.storage.not_attempted_count": result.notAttempted.length,
  });

/** The store, with each of its calls traced; anything else it has is passed through as it is. */
export function traceStore(store: ObjectStore, kind: Kind): ObjectStore {
  const base = { "media.store.name": store.name, "media.store.kind": kind };
  const count = (n: number) => ({ ...base, "media.storage.key_count": n });
  const traced: Omit<ObjectStore, "name" | "keysPerRequest"> = {
    trashMany: (objects, window, noted) =>
      inSpan(
        "storage trashMany",
        count(objects.length),
        kind,
        () => store.trashMany(objects, window, noted),
        actOutcome,
      ),
    placeFromTrash: (objects, window) =>
      inSpan(
        "storage placeFromTrash",
        count(objects.length),
        kind,
        () => store.placeFromTrash(objects, window),
        actOutcome,
      ),
    dropFromTrash: (ids, window) =>
      inSpan("storage dropFromTrash", count(ids.length), kind, () => store.dropFromTrash(ids, window), actOutcome),
    locate: (objects) => inSpan("storage locate", count(objects.length), kind, () => store.locate(objects)),
    list: (prefix, after, limit) =>
      inSpan(
        "storage list",
        count(limit),
        kind,
        () => store.list(prefix, after, limit),
        (span, listing) => span.setAttribute("media.storage.listed_count", listing.objects.length),
      ),
    note: (keys) =>
      inSpan("storage note", { ...base, "media.storage.key_count": keys.length }, kind, () => store.note(keys)),
    deleteMany: (keys, window, noted) =>
      inSpan(
        "storage deleteMany",
        { ...base, "media.storage.key_count": keys.length },
        kind,
        () => store.deleteMany(keys, window, noted),
        actOutcome,
      ),
    open: (key) =>
      inSpan(
        "storage open",
        { ...base, "media.storage.key_count": 1 },
        kind,
        () => store.open(key),
        (span, result) => span.setAttribute("media.storage.found", result !== undefined),
      ),
  };
  return new Proxy(store, {
    get(target, property) {
      if (Object.hasOwn(traced, property)) return traced[property as keyof typeof traced];
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}
