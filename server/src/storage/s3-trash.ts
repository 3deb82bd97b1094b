import type { S3Client } from "@aws-sdk/client-s3";
import {
  assertSafeKey,
  checked,
  forEachLimited,
  type MediaObject,
  type ObjectPlaces,
  type ObjectStore,
  type StoreFailure,
  TRASH_FOLDER,
  UnsafeKeyError,
} from "./object-store.ts";
import { isBefore, type StorageWindow } from "./window.ts";

// The S3 store's trash: a media's object is trashed by CopyObject to
// `<prefix>.media-trash/<id>` and one DeleteObjects of the originals, placed
// back by HEAD and CopyObject, and dropped by DeleteObjects. Every request is
// sent only while the window is open (the store's guardWindow, inside the
// SDK's retry loop) and abandoned on the window's signal.
//
// CopyObject copies at most 5 GiB: a larger object is reported STORAGE_ERROR
// and stays at its key (multipart copy, UploadPartCopy, is not implemented).
// A copy keeps the object's metadata and tags, not its storage class (it is
// written as STANDARD).

/** Requests in flight at once for the per-object calls (CopyObject, HeadObject). */
const CONCURRENCY = 16;

/** The trashed copy's key under the store's prefix: `.media-trash/<id>`. */
export const trashedKey = (id: string): string => `${TRASH_FOLDER}/${id}`;

/** The object name of media `id`'s trashed copy in the bucket: `<prefix>.media-trash/<id>`. */
export const trashedName = (prefix: string, id: string): string => prefix + trashedKey(id);

/** Media ids are numbers; anything that could add a segment to the trashed name is refused. */
function assertSafeId(id: string): void {
  if (!/^[\w-]+$/.test(id)) throw new UnsafeKeyError(`media id ${JSON.stringify(id)} cannot name a trashed copy`);
}

/** A command of the SDK, as far as guardWindow needs it. */
export interface Guardable {
  readonly middlewareStack: {
    add(
      middleware: (next: (args: never) => Promise<unknown>) => (args: never) => Promise<unknown>,
      options: { step: "finalizeRequest"; priority: "low"; name: string },
    ): void;
  };
}

/** What the trash acts with: the store's client, bucket and prefix, and its request helpers (s3-store.ts). */
export interface S3Parts {
  readonly storeName: string;
  readonly bucket: string;
  readonly prefix: string;
  /** At most this many objects a call (DeleteObjects' 1000 keys). */
  readonly maxObjects: number;
  readonly sdk: () => Promise<typeof import("@aws-sdk/client-s3")>;
  readonly s3: () => Promise<S3Client>;
  /** Refuses every attempt of the command once the window has closed; `sent` counts the attempts let through. */
  readonly guardWindow: (command: Guardable, window: StorageWindow) => { readonly sent: number };
  readonly isWindowClosed: (error: unknown) => boolean;
  /** A failed request as a StoreFailure; `what` names the request. Messages never name a host or port. */
  readonly failure: (error: unknown, window: StorageWindow | undefined, what: string) => StoreFailure;
  /** One DeleteObjects of these keys (under the prefix), per-key Errors into failures; NoSuchKey is success. */
  readonly deleteChunk: (
    keys: readonly string[],
    window: StorageWindow,
    failures: Map<string, StoreFailure>,
  ) => Promise<void>;
}

/** The request was not sent: the window had closed before its first attempt. The object is untouched. */
class NotSent extends Error {}

const statusOf = (error: unknown) => (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
const nameOf = (error: unknown) => (error as { name?: unknown }).name;
/** 404 from HEAD (NotFound, no body) or NoSuchKey from any other request. */
const isMissing = (error: unknown) => nameOf(error) === "NoSuchKey" || nameOf(error) === "NotFound";

/** x-amz-copy-source: the bucket and the object's name, each segment URL-encoded. */
const copySource = (bucket: string, name: string) => `${bucket}/${name.split("/").map(encodeURIComponent).join("/")}`;

export function createS3Trash(
  parts: S3Parts,
): Pick<ObjectStore, "trashMany" | "placeFromTrash" | "dropFromTrash" | "locate"> {
  const { bucket, prefix } = parts;
  const checkObject = (object: MediaObject) => {
    assertSafeKey(object.key);
    assertSafeId(object.id);
  };
  /**
   * The start of each call: more objects than a call takes are refused; the
   * safe items (by `check`) are kept, the others failed as UNSAFE_KEY.
   */
  const admit = <T>(items: readonly T[], check: (item: T) => void, id: (item: T) => string) => {
    if (items.length > parts.maxObjects)
      throw new Error(`S3 store ${parts.storeName}: at most ${parts.maxObjects} objects a call`);
    const failed = new Map<string, StoreFailure>();
    return { failed, safe: checked(items, check, id, failed) };
  };
  /** The safe objects whose requests were not sent, by id. */
  const untriedOf = (safe: readonly MediaObject[], untried: ReadonlySet<string>) =>
    safe.filter((o) => untried.has(o.id)).map((o) => o.id);

  /**
   * Sends a command while the window is open, abandoned on its signal. Rejects NotSent when the
   * window closed before the first attempt; a retry refused rejects the WindowClosedError itself.
   */
  async function send<T>(
    command: Guardable,
    window: StorageWindow,
    run: (client: S3Client, options: { abortSignal: AbortSignal }) => Promise<T>,
  ): Promise<T> {
    const client = await parts.s3();
    if (!isBefore(window.closes)) throw new NotSent();
    const attempts = parts.guardWindow(command, window);
    try {
      return await run(client, { abortSignal: window.signal });
    } catch (error) {
      if (attempts.sent === 0 && parts.isWindowClosed(error)) throw new NotSent();
      throw error;
    }
  }

  /** The object's ETag ("" when the store gave none), or undefined when nothing is there. */
  async function head(name: string, window: StorageWindow | undefined): Promise<string | undefined> {
    const { HeadObjectCommand } = await parts.sdk();
    const command = new HeadObjectCommand({ Bucket: bucket, Key: name });
    try {
      const answer =
        window === undefined
          ? await (await parts.s3()).send(command)
          : await send(command, window, (client, options) => client.send(command, options));
      return answer.ETag ?? "";
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  /** A copy that failed: too large for CopyObject gets its own message. */
  function copyFailure(error: unknown, window: StorageWindow, what: string): StoreFailure {
    const failure = parts.failure(error, window, what);
    const name = nameOf(error);
    const message = (error as Error).message ?? "";
    const tooLarge = name === "EntityTooLarge" || (name === "InvalidRequest" && /larger|size|5\s?GB/i.test(message));
    if (!tooLarge) return failure;
    return {
      code: "STORAGE_ERROR",
      message: `${what} failed: the object is larger than CopyObject can copy (5 GiB), and multipart copy is not implemented`,
      detail: failure.detail,
    };
  }

  return {
    async trashMany(objects, window) {
      const { failed, safe } = admit(objects, checkObject, (o) => o.id);
      const untried = new Set<string>();
      const copied = new Set<MediaObject>();
      const { CopyObjectCommand } = await parts.sdk();
      await forEachLimited(safe, CONCURRENCY, async (object) => {
        const what = `CopyObject of key ${JSON.stringify(object.key)} to the trash`;
        if (window.signal.aborted) {
          failed.set(object.id, parts.failure(window.signal.reason, window, what));
          return;
        }
        const command = new CopyObjectCommand({
          Bucket: bucket,
          Key: trashedName(prefix, object.id),
          CopySource: copySource(bucket, prefix + object.key),
        });
        try {
          await send(command, window, (client, options) => client.send(command, options));
          copied.add(object);
        } catch (error) {
          if (error instanceof NotSent) untried.add(object.id);
          // Nothing at the key: a previous attempt trashed it, or it was missing. Done.
          else if (nameOf(error) !== "NoSuchKey") failed.set(object.id, copyFailure(error, window, what));
        }
      });
      const originals = safe.filter((o) => copied.has(o));
      if (originals.length > 0) {
        await parts.s3();
        if (!isBefore(window.closes)) {
          // The copies stay in the trash; a retry copies again over them, then deletes.
          for (const o of originals) untried.add(o.id);
        } else {
          const keyFailures = new Map<string, StoreFailure>();
          await parts.deleteChunk(
            originals.map((o) => o.key),
            window,
            keyFailures,
          );
          for (const o of originals) {
            const failure = keyFailures.get(o.key);
            if (failure !== undefined) failed.set(o.id, failure);
          }
        }
      }
      return { failed, notAttempted: untriedOf(safe, untried) };
    },

    async placeFromTrash(objects, window) {
      const { failed, safe } = admit(objects, checkObject, (o) => o.id);
      const untried = new Set<string>();
      const placed = new Set<string>();
      const taken = new Map<string, string>();
      const gone = new Set<string>();
      const { CopyObjectCommand } = await parts.sdk();
      const TAKEN = "an object is at the key";
      await forEachLimited(safe, CONCURRENCY, async ({ id, key }) => {
        const trashed = trashedName(prefix, id);
        let what = `HeadObject of the trashed copy of media ${id}`;
        try {
          const trashedTag = await head(trashed, window);
          if (trashedTag === undefined) {
            gone.add(id);
            return;
          }
          what = `HeadObject of key ${JSON.stringify(key)}`;
          const atKey = await head(prefix + key, window);
          // The same ETag: our own copy, from an earlier attempt that was interrupted. (A copy's
          // ETag is the MD5 of its bytes, or of its parts' for a multipart object; under SSE-KMS
          // or SSE-C it is not, and our own copy would be reported taken: safe, never overwritten.)
          const ours = (tag: string) => tag !== "" && tag === trashedTag;
          if (atKey !== undefined) {
            if (ours(atKey)) placed.add(id);
            else taken.set(id, TAKEN);
            return;
          }
          what = `CopyObject of the trashed copy of media ${id} to key ${JSON.stringify(key)}`;
          // HEAD, then copy: something written at the key between the two would be overwritten
          // by a store that ignores If-None-Match (s3rver, older S3-compatible stores). S3 honours
          // it, answering 412 (or 409 for a concurrent write), and then the key is looked at again.
          const command = new CopyObjectCommand({
            Bucket: bucket,
            Key: prefix + key,
            CopySource: copySource(bucket, trashed),
            IfNoneMatch: "*",
          });
          try {
            await send(command, window, (client, options) => client.send(command, options));
            placed.add(id);
          } catch (error) {
            if (nameOf(error) === "NoSuchKey") {
              gone.add(id); // the trashed copy was dropped since the HEAD
              return;
            }
            const status = statusOf(error);
            if (status !== 412 && status !== 409) throw error;
            what = `HeadObject of key ${JSON.stringify(key)}`;
            const now = await head(prefix + key, window);
            if (now !== undefined && ours(now)) placed.add(id);
            else if (now !== undefined) taken.set(id, TAKEN);
            else {
              what = `CopyObject of the trashed copy of media ${id} to key ${JSON.stringify(key)}`;
              throw error; // 409 with nothing there yet: a retry decides
            }
          }
        } catch (error) {
          if (error instanceof NotSent) untried.add(id);
          else failed.set(id, copyFailure(error, window, what));
        }
      });
      return { failed, notAttempted: untriedOf(safe, untried), placed, taken, gone };
    },

    async dropFromTrash(ids, window) {
      const { failed, safe } = admit(ids, assertSafeId, (id) => id);
      if (safe.length === 0) return { failed, notAttempted: [] };
      await parts.s3();
      if (!isBefore(window.closes)) return { failed, notAttempted: safe };
      const keyFailures = new Map<string, StoreFailure>();
      await parts.deleteChunk(safe.map(trashedKey), window, keyFailures);
      for (const id of safe) {
        const failure = keyFailures.get(trashedKey(id));
        if (failure !== undefined) failed.set(id, failure);
      }
      return { failed, notAttempted: [] };
    },

    async locate(objects) {
      const places = new Map<string, ObjectPlaces>();
      // Anything but a clear "not there" counts as there: erasure must never claim "gone" wrongly.
      const present = async (name: string, check: () => void) => {
        try {
          check();
          return (await head(name, undefined)) !== undefined;
        } catch {
          return true;
        }
      };
      await forEachLimited(objects, CONCURRENCY, async ({ id, key }) => {
        const [atKey, inTrash] = await Promise.all([
          present(prefix + key, () => assertSafeKey(key)),
          present(trashedName(prefix, id), () => assertSafeId(id)),
        ]);
        places.set(id, { atKey, inTrash });
      });
      return places;
    },
  };
}
