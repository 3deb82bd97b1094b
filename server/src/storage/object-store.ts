import type { Readable } from "node:stream";
import type { StorageWindow } from "./window.ts";

/** An object being read: its bytes as a stream, and their count when the store knows it. */
export interface StoredObject {
  readonly body: Readable;
  readonly size: number | undefined;
}

/**
 * What a store noted about objects before deleting them (disk: each file's
 * device, inode and change time; keys missing then are left out), so that it
 * can leave alone an object put in place since. Undefined where the store
 * cannot tell one object from another at the same key (S3): its deletions
 * rely on the lease alone.
 */
export type NotedObjects = ReadonlyMap<string, string> | undefined;

/**
 * Why a key's object could not be deleted, in a stable code. What is stored
 * (media.last_error, the DELETE_FAILED event) is formatStoreFailure's
 * `CODE: message`, readable by service tokens: the message names only the key
 * and what happened, never a server path, host or port. The detail (the
 * original error text, paths and addresses included) is for the logs only.
 */
export type StoreFailureCode =
  /** The key could resolve outside its store (symlink on the way, another file system, a bad key): never touched. */
  | "UNSAFE_KEY"
  /** What is at the key changed after its deletion began (replaced, appeared, its folder moved): left in place. */
  | "FILE_CHANGED"
  /** The store refused the deletion (EACCES/EPERM, S3 AccessDenied). */
  | "PERMISSION_DENIED"
  /** The store could not be reached or used at all (store root changed or unopenable, S3 network error). */
  | "STORE_UNAVAILABLE"
  /** The request was abandoned after STORAGE_TIMEOUT, or not sent because the lease's window had closed. */
  | "STORAGE_TIMEOUT"
  /** Any other error of the file system or the S3 API. */
  | "STORAGE_ERROR"
  /** The media's store is not configured on the worker that ran the batch. */
  | "STORE_NOT_CONFIGURED";

export interface StoreFailure {
  readonly code: StoreFailureCode;
  /** Names only the key and what happened: no server path, host or port. */
  readonly message: string;
  /** The full original error text, for the logs. */
  readonly detail: string;
}

/** What is stored for a failure: `CODE: message`. */
export const formatStoreFailure = (failure: StoreFailure): string => `${failure.code}: ${failure.message}`;

export interface DeleteResult {
  /** Keys whose objects could not be deleted, and why. Every other attempted key is gone. */
  readonly failed: Map<string, StoreFailure>;
  /** Keys left untried because the window closed first: confirm the lease again, or stop. */
  readonly notAttempted: readonly string[];
}

/**
 * The reserved first segment of every store's trash: a disk store's trash
 * folder inside its root, an S3 store's trash prefix under its own. No key may
 * start with it (assertSafeKey refuses such keys), so no media can ever name a
 * trashed object.
 */
export const TRASH_FOLDER = ".media-trash";

/**
 * True when a key's first segment names the trash, in any letter case: on a
 * file system that folds case (or a share of one), `.MEDIA-TRASH` is the trash too.
 */
export const startsInTrash = (key: string): boolean => key.split("/", 1)[0]?.toLowerCase() === TRASH_FOLDER;

/** A media's object, as the trash names it: by the media's id (its trashed copy's name) and its key. */
export interface MediaObject {
  readonly id: string;
  readonly key: string;
}

/** What a store did to media objects, by media id. */
export interface ObjectsResult {
  /** Ids whose objects could not be acted on, and why. Every other attempted id succeeded. */
  readonly failed: Map<string, StoreFailure>;
  /** Ids left untried because the window closed first: confirm the lease again, or stop. */
  readonly notAttempted: readonly string[];
}

/** What placing trashed copies back at their keys did, by media id. */
export interface PlaceResult extends ObjectsResult {
  /**
   * A copy of the trashed object is at the key: placed now, or by an earlier
   * attempt that was interrupted (the store recognises its own copy: the same
   * file on disk, the same ETag on S3). The trashed copy is still there.
   */
  readonly placed: ReadonlySet<string>;
  /** Something else is at the key: left alone, never overwritten. The value says what, for the caller. */
  readonly taken: ReadonlyMap<string, string>;
  /** No trashed copy exists (it was purged, or the file was already missing when trashed). */
  readonly gone: ReadonlySet<string>;
}

/** Where a media's object is, as a store sees it now. */
export interface ObjectPlaces {
  /** Something is at the key. */
  readonly atKey: boolean;
  /** Its trashed copy exists. */
  readonly inTrash: boolean;
}

/** One object a store listing found. */
export interface ListedObject {
  /** Its key in the store (without the S3 store's prefix). */
  readonly key: string;
  readonly sizeBytes: number;
  readonly modifyTime: Date;
}

/** One page of a store listing, in byte order of the keys (UTF-8, as S3 ListObjectsV2 lists). */
export interface ObjectListing {
  readonly objects: readonly ListedObject[];
  /**
   * The last key the listing went past, at or after the last object's (a
   * skipped trash key on S3): the next page starts after it. Undefined when it
   * went past none.
   */
  readonly last: string | undefined;
  /** Nothing is left after this page. */
  readonly done: boolean;
}

/** Compares two keys in byte order of their UTF-8 (S3's order; JavaScript's `<` compares UTF-16 units). */
export const compareKeys = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));

/** Where media files live. Disk and S3 implement it. */
export interface ObjectStore {
  /** The configured store name (media.store). */
  readonly name: string;
  /** At most this many keys per deleteMany call: one storage request, one lease confirmation. */
  readonly keysPerRequest: number;
  /** Notes what is at these keys now, for deleteMany to compare. */
  note(keys: readonly string[]): Promise<NotedObjects>;
  /**
   * Deletes the objects at these keys (at most keysPerRequest), acting only
   * while the window is open and, where the store noted objects, only on the
   * object noted. A missing object counts as deleted. Never rejects for a
   * per-key problem.
   */
  deleteMany(keys: readonly string[], window: StorageWindow, noted: NotedObjects): Promise<DeleteResult>;
  /** Opens the object for reading (dashboard previews); undefined when it does not exist. */
  open(key: string): Promise<StoredObject | undefined>;
  /**
   * Moves each media's object from its key to its trashed copy's name (disk:
   * one rename inside the root, only of the file noted; S3: CopyObject to the
   * trash prefix, then DeleteObjects on the originals, reading per-key
   * errors), while the window is open. Nothing at the key counts as done (a
   * previous attempt moved it, or it was missing). At most keysPerRequest
   * objects a call. Never rejects for a per-object problem.
   */
  trashMany(objects: readonly MediaObject[], window: StorageWindow, noted: NotedObjects): Promise<ObjectsResult>;
  /**
   * Puts a copy of each media's trashed object back at its key, never
   * overwriting anything there (disk: a hard link, which fails if the key
   * exists; S3: HEAD, then CopyObject), while the window is open. The trashed
   * copy stays until dropFromTrash: the caller drops it once the restore is
   * recorded. At most keysPerRequest objects a call.
   */
  placeFromTrash(objects: readonly MediaObject[], window: StorageWindow): Promise<PlaceResult>;
  /** Deletes the trashed copies of these media (ids), while the window is open; a missing copy counts as deleted. */
  dropFromTrash(ids: readonly string[], window: StorageWindow): Promise<ObjectsResult>;
  /** Where each media's object is now (a read: stat on disk, HEAD on S3), by id; for erasure's check. */
  locate(objects: readonly MediaObject[]): Promise<Map<string, ObjectPlaces>>;
  /**
   * Up to `limit` (at most 1000) objects whose keys start with `prefix`, after
   * the key `after` ("" from the start), in byte order of the keys, skipping
   * the trash (disk: only regular files, never through a symlink). One page:
   * the caller pages on with `last`. Reconciliation's walk.
   */
  list(prefix: string, after: string, limit: number): Promise<ObjectListing>;
}

/** Thrown for a key that could resolve outside its store. Such a key is never touched. */
export class UnsafeKeyError extends Error {
  override name = "UnsafeKeyError";
}

// The path rules the API applies at registration (server/src/api/validation.ts),
// checked again here because the store must be safe whatever wrote the row. The
// API also refuses format characters (Cf), which only disguise a key on screen:
// here they are plain bytes of a path, so a row holding one is still deleted.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * Throws UnsafeKeyError unless the key is a relative "/"-path with no empty,
 * "." or ".." segments, outside the trash (its first segment is not TRASH_FOLDER).
 */
export function assertSafeKey(key: string): void {
  const problem =
    key === ""
      ? "is empty"
      : key.startsWith("/")
        ? "is absolute"
        : key.includes("\\")
          ? "contains a backslash"
          : CONTROL.test(key)
            ? "contains a control character"
            : key.split("/").some((s) => s === "" || s === "." || s === "..")
              ? 'has an empty, "." or ".." segment'
              : startsInTrash(key)
                ? `starts with ${JSON.stringify(TRASH_FOLDER)}, the store's trash`
                : undefined;
  if (problem !== undefined) throw new UnsafeKeyError(`key ${JSON.stringify(key)} ${problem}`);
}

/**
 * The items that pass `check` (assertSafeKey, or a store's id check); the
 * ones it refuses with UnsafeKeyError are failed as UNSAFE_KEY, by `id`.
 */
export function checked<T>(
  items: readonly T[],
  check: (item: T) => void,
  id: (item: T) => string,
  failed: Map<string, StoreFailure>,
): T[] {
  const safe: T[] = [];
  for (const item of items) {
    try {
      check(item);
      safe.push(item);
    } catch (error) {
      if (!(error instanceof UnsafeKeyError)) throw error;
      failed.set(id(item), { code: "UNSAFE_KEY", message: error.message, detail: error.message });
    }
  }
  return safe;
}

/** Items by the store they are in, in first-seen order: each store's work is done with its own ObjectStore. */
export function groupByStore<T extends { readonly store: string }>(items: readonly T[]): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const group = groups.get(item.store);
    if (group === undefined) groups.set(item.store, [item]);
    else group.push(item);
  }
  return groups;
}

/** Runs fn over items with at most `limit` in flight. */
export async function forEachLimited<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await fn(items[next++] as T);
  });
  await Promise.all(lanes);
}
