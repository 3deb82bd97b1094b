import { type BigIntStats, closeSync, fstatSync, linkSync, renameSync, unlinkSync } from "node:fs";
import {
  type DiskRoot,
  entryOf,
  errnoOf,
  FolderChain,
  FolderChangedError,
  lstatIn,
  NotAFolderError,
  openFolderIn,
  RootChangedError,
} from "./disk-folder-chain.ts";
import { assertSafeKey, type MediaObject, type StoreFailure, TRASH_FOLDER, UnsafeKeyError } from "./object-store.ts";
import { type Instant, isBefore } from "./window.ts";

// A disk store's trash, synchronously (on the disk thread, disk-thread.ts,
// like disk-tree.ts). Media N's trashed copy is <root>/.media-trash/<shard>/N,
// the shard N mod 1000 (so no folder holds more than a thousandth of the
// trash). Trashing is one rename inside the root, of the file noted only;
// placing back is a hard link, which never overwrites what is at the key; the
// trashed copy stays until dropped. Keys and the trash are reached as in
// disk-tree.ts, through the symlink-refusing walk of disk-folder-chain.ts:
// every act is on an entry of a folder held open from the check to the act,
// and a symlink where the trash, a shard or a folder of a key should be is
// refused, never followed nor created through.

/** What a file is: device, inode and change time, as noteFiles (disk-tree.ts) notes it. */
const identityOf = (stats: BigIntStats) => `${stats.dev}:${stats.ino}:${stats.ctimeNs}`;

const sameFile = (a: BigIntStats, b: BigIntStats) => a.dev === b.dev && a.ino === b.ino;

/** Media ids are decimal integers written the one way (no sign, no leading zero): each names one trashed copy. */
const isMediaId = (id: string) => /^(0|[1-9][0-9]*)$/.test(id);

/** The shard of media `id`'s trashed copy: its id mod 1000, three digits. */
const shardOf = (id: string) => String(BigInt(id) % 1000n).padStart(3, "0");

/** Where media `id`'s trashed copy is, relative to the store root: `.media-trash/<id mod 1000, 3 digits>/<id>`. */
export function trashPathOf(id: string): string {
  if (!isMediaId(id)) throw new UnsafeKeyError(`media id ${JSON.stringify(id)} is not a decimal integer`);
  return `${TRASH_FOLDER}/${shardOf(id)}/${id}`;
}

/** Open shard folders held per call at most; past this, all are closed and reopened as needed. */
const MAX_OPEN_SHARDS = 64;

/**
 * The trash folder and the shards a call works in, held open. The trash
 * folder is reached through a FolderChain of its own (the root checked to be
 * the one resolved at start-up), the shards through it, each with
 * O_DIRECTORY | O_NOFOLLOW and checked to be on the root's file system.
 */
class TrashFolders {
  readonly #chain: FolderChain;
  readonly #shards = new Map<string, number>();

  constructor(root: DiskRoot) {
    this.#chain = new FolderChain(root);
  }

  /** Media `id`'s shard folder, or undefined when it (or the trash) does not exist and `create` is false. */
  shard(id: string, create: boolean): number | undefined {
    const shard = shardOf(id);
    const open = this.#shards.get(shard);
    if (open !== undefined) return open;
    const label = trashPathOf(id);
    const trash = this.#chain.enter(label, [TRASH_FOLDER], create);
    if (trash === undefined) return undefined;
    if (this.#shards.size >= MAX_OPEN_SHARDS) this.#closeShards();
    const fd = openFolderIn(trash, shard, label, () => JSON.stringify(`${TRASH_FOLDER}/${shard}`), create);
    if (fd === undefined) return undefined;
    try {
      // Before anything is linked from it or moved into it (a mount there would fail EXDEV anyway).
      this.#chain.assertSameFileSystem(label, fstatSync(trash, { bigint: true }));
      this.#chain.assertSameFileSystem(label, fstatSync(fd, { bigint: true }));
    } catch (error) {
      closeSync(fd);
      throw error;
    }
    this.#shards.set(shard, fd);
    return fd;
  }

  #closeShards(): void {
    for (const fd of this.#shards.values()) closeSync(fd);
    this.#shards.clear();
  }

  close(): void {
    this.#closeShards();
    this.#chain.close();
  }
}

interface Target {
  readonly id: string;
  readonly key: string;
  readonly folders: readonly string[];
  readonly name: string;
}

/**
 * The objects with safe ids and keys, in key order (each folder opened once
 * per call) from a random place, as disk-tree.ts orders keys; the others go
 * to failed as UNSAFE_KEY.
 */
function targetsOf(objects: readonly MediaObject[], failed: Map<string, StoreFailure>): Target[] {
  const safe: Target[] = [];
  for (const { id, key } of objects) {
    try {
      trashPathOf(id);
      assertSafeKey(key);
      const parts = key.split("/");
      const name = parts.pop() as string;
      safe.push({ id, key, folders: parts, name });
    } catch (error) {
      failed.set(id, failureOf(error, id, key));
    }
  }
  safe.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const start = Math.floor(Math.random() * safe.length);
  return [...safe.slice(start), ...safe.slice(0, start)];
}

const textOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** `media 12 (key "a/b.jpg")`, or `media 12` when no key is involved: how messages name an object. */
const nameOf = (id: string, key: string | undefined) =>
  key === undefined ? `media ${JSON.stringify(id)}` : `media ${JSON.stringify(id)} (key ${JSON.stringify(key)})`;

const changed = (message: string): StoreFailure => ({ code: "FILE_CHANGED", message, detail: message });

/**
 * Why an act on a media's object failed. As in disk-tree.ts, the message names
 * the media and its key, never the /proc path or the root's path (those stay
 * in the detail); UnsafeKeyError messages name only keys and folders inside
 * the store.
 */
function failureOf(error: unknown, id: string, key: string | undefined): StoreFailure {
  const detail = textOf(error);
  const who = nameOf(id, key);
  if (error instanceof FolderChangedError) return { code: "FILE_CHANGED", message: `${who}: ${error.message}`, detail };
  if (error instanceof UnsafeKeyError) return { code: "UNSAFE_KEY", message: `${who}: ${error.message}`, detail };
  if (error instanceof RootChangedError)
    return { code: "STORE_UNAVAILABLE", message: `${who}: ${rootWhy(error)}`, detail };
  const errno = errnoOf(error);
  const what = `${(error as NodeJS.ErrnoException).syscall ?? "acting on"} ${who} failed`;
  if (errno === "EACCES" || errno === "EPERM")
    return { code: "PERMISSION_DENIED", message: `${errno}: ${what}`, detail };
  return { code: "STORAGE_ERROR", message: errno === undefined ? what : `${errno}: ${what}`, detail };
}

const rootWhy = (error: unknown) =>
  error instanceof RootChangedError
    ? "the store root is no longer the folder it was at start-up; restart the service"
    : `the store root could not be opened (${errnoOf(error) ?? "error"})`;

/** Why no object could be acted on: the store root could not be opened as the folder it was. */
const rootFailure = (error: unknown, id: string, key: string | undefined): StoreFailure => ({
  code: "STORE_UNAVAILABLE",
  message: `${nameOf(id, key)} not acted on: ${rootWhy(error)}`,
  detail: textOf(error),
});

/** Why the trash could not be used: something other than a folder is where it, or a shard, should be. */
const trashFailure = (error: NotAFolderError, id: string, key: string | undefined): StoreFailure => ({
  code: "STORE_UNAVAILABLE",
  message: `${nameOf(id, key)} not acted on: the store's trash is unusable, ${error.at} is not a folder`,
  detail: error.message,
});

export interface DiskObjectsResult {
  readonly failed: Map<string, StoreFailure>;
  readonly notAttempted: string[];
}

/**
 * Moves each media's file from its key to its trashed copy's name, with one
 * rename inside the root, if it is still the regular file noted (a key noted
 * missing must still be missing), while the window is open. The trash folder
 * and its shards are made when missing. Nothing at the key counts as done (an
 * earlier attempt moved it, or it was missing); so does a key whose file is
 * already the trashed copy (an interrupted restore left it at both: the key's
 * name is unlinked). Another file already in the trash under the media's name
 * (a copy an interrupted restore left) is replaced.
 */
export function trashFiles(
  root: DiskRoot,
  objects: readonly MediaObject[],
  closes: Instant,
  noted: ReadonlyMap<string, string>,
): DiskObjectsResult {
  const failed = new Map<string, StoreFailure>();
  const notAttempted: string[] = [];
  const targets = targetsOf(objects, failed);
  if (targets.length === 0) return { failed, notAttempted };
  let chain: FolderChain | undefined;
  let trash: TrashFolders | undefined;
  try {
    chain = new FolderChain(root);
    trash = new TrashFolders(root);
  } catch (error) {
    chain?.close();
    for (const t of targets) failed.set(t.id, rootFailure(error, t.id, t.key));
    return { failed, notAttempted };
  }
  try {
    for (const [i, t] of targets.entries()) {
      if (!isBefore(closes)) {
        notAttempted.push(...targets.slice(i).map((s) => s.id));
        break;
      }
      try {
        const was = noted.get(t.key);
        const folder = chain.enter(t.key, t.folders);
        if (folder === undefined) {
          // As in deleteFiles: its folder moved away, perhaps for a moment; not "done".
          if (was !== undefined) {
            failed.set(
              t.id,
              changed(`the folder of ${nameOf(t.id, t.key)} vanished after its trashing began; retried`),
            );
          }
          continue;
        }
        const stats = lstatIn(folder, t.name);
        if (stats === undefined) continue;
        chain.assertSameFileSystem(t.key, stats);
        if (identityOf(stats) !== was) {
          failed.set(
            t.id,
            changed(
              was === undefined
                ? `a file appeared at ${nameOf(t.id, t.key)} after its trashing began; left in place`
                : `the file at ${nameOf(t.id, t.key)} was replaced after its trashing began; left in place`,
            ),
          );
          continue;
        }
        // A folder would take a tree of other media with it; a symlink could never be placed back.
        if (!stats.isFile()) {
          const what = stats.isSymbolicLink()
            ? "a symbolic link"
            : stats.isDirectory()
              ? "a folder"
              : "not a regular file";
          throw new UnsafeKeyError(`key ${JSON.stringify(t.key)} is ${what}; only regular files are trashed`);
        }
        let shard: number;
        try {
          shard = trash.shard(t.id, true) as number;
        } catch (error) {
          if (error instanceof NotAFolderError) {
            failed.set(t.id, trashFailure(error, t.id, t.key));
            continue;
          }
          throw error;
        }
        // rename(2) onto another name of the same file does nothing: the key's name must go by unlink.
        // Another file there is a copy a restore left behind after it was recorded (the media is being
        // deleted, so no tombstone of it exists): the rename replaces it with the file now at the key.
        const there = lstatIn(shard, t.id);
        if (there !== undefined && sameFile(there, stats)) {
          unlinkSync(entryOf(folder, t.name));
          continue;
        }
        try {
          renameSync(entryOf(folder, t.name), entryOf(shard, t.id));
        } catch (error) {
          // Gone from the key meanwhile (moved by another attempt): done. Still there: the shard went.
          if (errnoOf(error) === "ENOENT" && lstatIn(folder, t.name) === undefined) continue;
          throw error;
        }
      } catch (error) {
        failed.set(t.id, failureOf(error, t.id, t.key));
      }
    }
  } finally {
    chain.close();
    trash.close();
  }
  return { failed, notAttempted };
}

export interface DiskPlaceResult extends DiskObjectsResult {
  readonly placed: Set<string>;
  readonly taken: Map<string, string>;
  readonly gone: Set<string>;
}

/** What is at a key, for `taken`. */
function describe(stats: BigIntStats): string {
  if (stats.isSymbolicLink()) return "a symbolic link is at the key";
  if (stats.isDirectory()) return "a folder is at the key";
  if (stats.isFile()) return "a file is at the key";
  return "something other than a file is at the key";
}

/**
 * Puts each media's trashed copy back at its key with a hard link (which
 * fails rather than overwrite anything at the key), making the key's missing
 * folders, while the window is open. A copy already at the key (the same
 * file: an earlier restore was interrupted) counts as placed; anything else
 * there is `taken` and left alone; no trashed copy is `gone`. The trashed copy
 * stays: dropTrashFiles removes it. A trashed copy that is not a regular file
 * is never linked.
 */
export function placeFiles(root: DiskRoot, objects: readonly MediaObject[], closes: Instant): DiskPlaceResult {
  const failed = new Map<string, StoreFailure>();
  const notAttempted: string[] = [];
  const placed = new Set<string>();
  const taken = new Map<string, string>();
  const gone = new Set<string>();
  const targets = targetsOf(objects, failed);
  if (targets.length === 0) return { failed, notAttempted, placed, taken, gone };
  let chain: FolderChain | undefined;
  let trash: TrashFolders | undefined;
  try {
    chain = new FolderChain(root);
    trash = new TrashFolders(root);
  } catch (error) {
    chain?.close();
    for (const t of targets) failed.set(t.id, rootFailure(error, t.id, t.key));
    return { failed, notAttempted, placed, taken, gone };
  }
  try {
    for (const [i, t] of targets.entries()) {
      if (!isBefore(closes)) {
        notAttempted.push(...targets.slice(i).map((s) => s.id));
        break;
      }
      try {
        const shard = trash.shard(t.id, false);
        const copy = shard === undefined ? undefined : lstatIn(shard, t.id);
        if (shard === undefined || copy === undefined) {
          gone.add(t.id);
          continue;
        }
        if (!copy.isFile()) {
          throw new UnsafeKeyError(
            `the trashed copy ${JSON.stringify(trashPathOf(t.id))} is not a regular file; it is never placed`,
          );
        }
        let folder: number;
        try {
          folder = chain.enter(t.key, t.folders, true) as number;
        } catch (error) {
          if (error instanceof NotAFolderError) {
            taken.set(t.id, `something other than a folder is at ${error.at}, on the key's way`);
            continue;
          }
          throw error;
        }
        try {
          linkSync(entryOf(shard, t.id), entryOf(folder, t.name));
        } catch (error) {
          if (errnoOf(error) === "EEXIST") {
            const at = lstatIn(folder, t.name);
            if (at === undefined) {
              failed.set(
                t.id,
                changed(`what was at ${nameOf(t.id, t.key)} vanished while its copy was placed; retried`),
              );
            } else if (sameFile(at, copy)) placed.add(t.id);
            else taken.set(t.id, describe(at));
            continue;
          }
          if (errnoOf(error) === "ENOENT" && lstatIn(shard, t.id) === undefined) {
            gone.add(t.id);
            continue;
          }
          throw error;
        }
        // The trashed copy was swapped for a symlink between its check and the link (link(2) links
        // the symlink itself, never its target): take that back off the key.
        const made = lstatIn(folder, t.name);
        if (made?.isSymbolicLink()) {
          unlinkSync(entryOf(folder, t.name));
          throw new UnsafeKeyError(
            `the trashed copy ${JSON.stringify(trashPathOf(t.id))} became a symbolic link; it is never placed`,
          );
        }
        placed.add(t.id);
      } catch (error) {
        failed.set(t.id, failureOf(error, t.id, t.key));
      }
    }
  } finally {
    chain.close();
    trash.close();
  }
  return { failed, notAttempted, placed, taken, gone };
}

/**
 * Unlinks the trashed copies of these media, while the window is open. A
 * missing copy counts as deleted; a symlink planted there is unlinked itself,
 * its target untouched.
 */
export function dropTrashFiles(root: DiskRoot, ids: readonly string[], closes: Instant): DiskObjectsResult {
  const failed = new Map<string, StoreFailure>();
  const notAttempted: string[] = [];
  const safe: string[] = [];
  for (const id of ids) {
    if (isMediaId(id)) safe.push(id);
    else
      failed.set(
        id,
        failureOf(new UnsafeKeyError(`media id ${JSON.stringify(id)} is not a decimal integer`), id, undefined),
      );
  }
  // By shard: each shard opened once per call.
  safe.sort((a, b) => shardOf(a).localeCompare(shardOf(b)));
  if (safe.length === 0) return { failed, notAttempted };
  let trash: TrashFolders;
  try {
    trash = new TrashFolders(root);
  } catch (error) {
    for (const id of safe) failed.set(id, rootFailure(error, id, undefined));
    return { failed, notAttempted };
  }
  try {
    for (const [i, id] of safe.entries()) {
      if (!isBefore(closes)) {
        notAttempted.push(...safe.slice(i));
        break;
      }
      try {
        const shard = trash.shard(id, false);
        if (shard === undefined) continue;
        unlinkSync(entryOf(shard, id));
      } catch (error) {
        if (errnoOf(error) !== "ENOENT") failed.set(id, failureOf(error, id, undefined));
      }
    }
  } finally {
    trash.close();
  }
  return { failed, notAttempted };
}

export interface DiskPlaces {
  readonly atKey: boolean;
  readonly inTrash: boolean;
}

/**
 * Where each media's object is now, by id (only reads). Whatever cannot be
 * told for sure (an unsafe key or id, a symlink or a swap on the way, an
 * error) counts as there, so that nothing is ever taken for gone that might
 * not be. Throws when the store root cannot be opened as the folder it was.
 */
export function locateFiles(root: DiskRoot, objects: readonly MediaObject[]): Map<string, DiskPlaces> {
  const places = new Map<string, DiskPlaces>();
  const chain = new FolderChain(root);
  let trash: TrashFolders;
  try {
    trash = new TrashFolders(root);
  } catch (error) {
    chain.close();
    throw error;
  }
  try {
    for (const { id, key } of objects) {
      let atKey = true;
      try {
        assertSafeKey(key);
        const parts = key.split("/");
        const name = parts.pop() as string;
        const folder = chain.enter(key, parts);
        atKey = folder !== undefined && lstatIn(folder, name) !== undefined;
      } catch {
        // Unsafe, changing or unreadable: not known to be gone.
      }
      let inTrash = true;
      try {
        trashPathOf(id);
        const shard = trash.shard(id, false);
        inTrash = shard !== undefined && lstatIn(shard, id) !== undefined;
      } catch {
        // As above.
      }
      places.set(id, { atKey, inTrash });
    }
  } finally {
    chain.close();
    trash.close();
  }
  return places;
}
