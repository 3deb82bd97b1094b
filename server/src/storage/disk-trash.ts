import { type BigIntStats, closeSync, fstatSync, linkSync, renameSync, unlinkSync } from "node:fs";
import {
  type DiskRoot,
  entryOf,
  errnoOf,
  FolderChain,
  lstatIn,
  NotAFolderError,
  openFolderIn,
} from "./disk-folder-chain.ts";
import {
  changed,
  eachWhileOpen,
  inFolderOrder,
  notedFileAt,
  type SplitKey,
  split,
  failureOf as storeFailureOf,
  rootFailure as storeRootFailure,
} from "./disk-tree.ts";
import { type MediaObject, type StoreFailure, TRASH_FOLDER, UnsafeKeyError } from "./object-store.ts";
import type { Instant } from "./window.ts";

// A disk store's trash, synchronously (on the disk thread, disk-thread.ts,
// like disk-tree.ts). Media N's trashed copy is <root>/.media-trash/<shard>/N,
// the shard (N / 1000) mod 1000 (so no folder holds more than a thousandth of the
// trash). Trashing is one rename inside the root, of the file noted only;
// placing back is a hard link, which never overwrites what is at the key; the
// trashed copy stays until dropped. Keys and the trash are reached as in
// disk-tree.ts, through the symlink-refusing walk of disk-folder-chain.ts:
// every act is on an entry of a folder held open from the check to the act,
// and a symlink where the trash, a shard or a folder of a key should be is
// refused, never followed nor created through.
// A file's identity (as noteFiles notes it), the key order, the window loop,
// the check of a file against what was noted and the failures are
// disk-tree.ts's, shared with deleteFiles.

const sameFile = (a: BigIntStats, b: BigIntStats) => a.dev === b.dev && a.ino === b.ino;

/** Media ids are decimal integers written the one way (no sign, no leading zero): each names one trashed copy. */
const isMediaId = (id: string) => /^(0|[1-9][0-9]*)$/.test(id);

/**
 * The shard of media `id`'s trashed copy: its thousand (id / 1000) mod 1000,
 * three digits. Consecutive ids, which batches mostly hold, share a shard, so a
 * batch opens a few shard folders rather than one per file; over the id space
 * each shard still holds a thousandth of the trash.
 */
const shardOf = (id: string) => String((BigInt(id) / 1000n) % 1000n).padStart(3, "0");

/** Where media `id`'s trashed copy is, relative to the store root: `.media-trash/<(id / 1000) mod 1000, 3 digits>/<id>`. */
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

interface Target extends SplitKey {
  readonly id: string;
}

/**
 * The objects with safe ids and keys, in key order (each folder opened once
 * per call) from a random place, as disk-tree.ts orders keys (inFolderOrder);
 * the others go to failed as UNSAFE_KEY.
 */
function targetsOf(objects: readonly MediaObject[], failed: Map<string, StoreFailure>): Target[] {
  const safe: Target[] = [];
  for (const { id, key } of objects) {
    try {
      trashPathOf(id);
      safe.push({ id, ...split(key) });
    } catch (error) {
      failed.set(id, failureOf(error, id, key));
    }
  }
  return inFolderOrder(safe);
}

/** `media 12 (key "a/b.jpg")`, or `media 12` when no key is involved: how messages name an object. */
const nameOf = (id: string, key: string | undefined) =>
  key === undefined ? `media ${JSON.stringify(id)}` : `media ${JSON.stringify(id)} (key ${JSON.stringify(key)})`;

/**
 * Why an act on a media's object failed: as in disk-tree.ts (failureOf), the
 * message names the media and its key, never the /proc path or the root's
 * path (those stay in the detail); UnsafeKeyError messages name only keys and
 * folders inside the store.
 */
const failureOf = (error: unknown, id: string, key: string | undefined): StoreFailure =>
  storeFailureOf(error, nameOf(id, key), (message) => `${nameOf(id, key)}: ${message}`);

/** Why no object could be acted on: the store root could not be opened as the folder it was. */
const rootFailure = (error: unknown, id: string, key: string | undefined): StoreFailure =>
  storeRootFailure(error, nameOf(id, key), "not acted on");

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

/** The folders a call that reaches keys holds open: a FolderChain to the keys, and the trash's. */
interface KeysAndTrash {
  readonly chain: FolderChain;
  readonly trash: TrashFolders;
  close(): void;
}

function openKeysAndTrash(root: DiskRoot): KeysAndTrash {
  const chain = new FolderChain(root);
  try {
    const trash = new TrashFolders(root);
    return {
      chain,
      trash,
      close() {
        chain.close();
        trash.close();
      },
    };
  } catch (error) {
    chain.close();
    throw error;
  }
}

/**
 * The frame of a call on objects: opens its folders (`open`), runs `act` on
 * each item in turn while the window is open (eachWhileOpen; the rest go to
 * notAttempted), an error thrown by `act` failing that item (failureOf), and
 * closes the folders. When they cannot be opened (the store root is not the
 * folder it was), every item fails with rootFailure. `id` and `key` name an
 * item (its key undefined when none is involved).
 */
function eachHeld<T, H extends { close(): void }>(
  items: readonly T[],
  open: () => H,
  closes: Instant,
  result: DiskObjectsResult,
  id: (item: T) => string,
  key: (item: T) => string | undefined,
  act: (item: T, held: H) => void,
): void {
  if (items.length === 0) return;
  let held: H;
  try {
    held = open();
  } catch (error) {
    for (const item of items) result.failed.set(id(item), rootFailure(error, id(item), key(item)));
    return;
  }
  try {
    eachWhileOpen(items, closes, result.notAttempted, id, (item) => {
      try {
        act(item, held);
      } catch (error) {
        result.failed.set(id(item), failureOf(error, id(item), key(item)));
      }
    });
  } finally {
    held.close();
  }
}

/** eachHeld over the objects with safe ids and keys (targetsOf), the keys' and the trash's folders held open. */
function eachTarget(
  root: DiskRoot,
  objects: readonly MediaObject[],
  closes: Instant,
  result: DiskObjectsResult,
  act: (target: Target, held: KeysAndTrash) => void,
): void {
  const targets = targetsOf(objects, result.failed);
  eachHeld(
    targets,
    () => openKeysAndTrash(root),
    closes,
    result,
    (t) => t.id,
    (t) => t.key,
    act,
  );
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
  const result: DiskObjectsResult = { failed: new Map(), notAttempted: [] };
  const { failed } = result;
  eachTarget(root, objects, closes, result, (t, { chain, trash }) => {
    const found = notedFileAt(chain, t, noted.get(t.key), nameOf(t.id, t.key), "trashing");
    if (found === undefined) return;
    if (!("folder" in found)) {
      failed.set(t.id, found);
      return;
    }
    const { folder, stats } = found;
    // A folder would take a tree of other media with it; a symlink could never be placed back.
    if (!stats.isFile()) {
      const what = stats.isSymbolicLink() ? "a symbolic link" : stats.isDirectory() ? "a folder" : "not a regular file";
      throw new UnsafeKeyError(`key ${JSON.stringify(t.key)} is ${what}; only regular files are trashed`);
    }
    let shard: number;
    try {
      shard = trash.shard(t.id, true) as number;
    } catch (error) {
      if (error instanceof NotAFolderError) {
        failed.set(t.id, trashFailure(error, t.id, t.key));
        return;
      }
      throw error;
    }
    // rename(2) onto another name of the same file does nothing: the key's name must go by unlink.
    // Another file there is a copy a restore left behind after it was recorded (the media is being
    // deleted, so no tombstone of it exists): the rename replaces it with the file now at the key.
    const there = lstatIn(shard, t.id);
    if (there !== undefined && sameFile(there, stats)) {
      unlinkSync(entryOf(folder, t.name));
      return;
    }
    try {
      renameSync(entryOf(folder, t.name), entryOf(shard, t.id));
    } catch (error) {
      // Gone from the key meanwhile (moved by another attempt): done. Still there: the shard went.
      if (errnoOf(error) === "ENOENT" && lstatIn(folder, t.name) === undefined) return;
      throw error;
    }
  });
  return result;
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
  const result: DiskPlaceResult = {
    failed: new Map(),
    notAttempted: [],
    placed: new Set(),
    taken: new Map(),
    gone: new Set(),
  };
  const { failed, placed, taken, gone } = result;
  eachTarget(root, objects, closes, result, (t, { chain, trash }) => {
    const shard = trash.shard(t.id, false);
    const copy = shard === undefined ? undefined : lstatIn(shard, t.id);
    if (shard === undefined || copy === undefined) {
      gone.add(t.id);
      return;
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
        return;
      }
      throw error;
    }
    try {
      linkSync(entryOf(shard, t.id), entryOf(folder, t.name));
    } catch (error) {
      if (errnoOf(error) === "EEXIST") {
        const at = lstatIn(folder, t.name);
        if (at === undefined) {
          failed.set(t.id, changed(`what was at ${nameOf(t.id, t.key)} vanished while its copy was placed; retried`));
        } else if (sameFile(at, copy)) placed.add(t.id);
        else taken.set(t.id, describe(at));
        return;
      }
      if (errnoOf(error) === "ENOENT" && lstatIn(shard, t.id) === undefined) {
        gone.add(t.id);
        return;
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
  });
  return result;
}

/**
 * Unlinks the trashed copies of these media, while the window is open. A
 * missing copy counts as deleted; a symlink planted there is unlinked itself,
 * its target untouched.
 */
export function dropTrashFiles(root: DiskRoot, ids: readonly string[], closes: Instant): DiskObjectsResult {
  const result: DiskObjectsResult = { failed: new Map(), notAttempted: [] };
  const safe: string[] = [];
  for (const id of ids) {
    if (isMediaId(id)) safe.push(id);
    else
      result.failed.set(
        id,
        failureOf(new UnsafeKeyError(`media id ${JSON.stringify(id)} is not a decimal integer`), id, undefined),
      );
  }
  // By shard: each shard opened once per call.
  safe.sort((a, b) => shardOf(a).localeCompare(shardOf(b)));
  eachHeld(
    safe,
    () => new TrashFolders(root),
    closes,
    result,
    (id) => id,
    () => undefined,
    (id, trash) => {
      try {
        const shard = trash.shard(id, false);
        if (shard === undefined) return;
        unlinkSync(entryOf(shard, id));
      } catch (error) {
        if (errnoOf(error) !== "ENOENT") throw error;
      }
    },
  );
  return result;
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
  const { chain, trash, close } = openKeysAndTrash(root);
  try {
    for (const { id, key } of objects) {
      let atKey = true;
      try {
        const k = split(key);
        const folder = chain.enter(key, k.folders);
        atKey = folder !== undefined && lstatIn(folder, k.name) !== undefined;
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
    close();
  }
  return places;
}
