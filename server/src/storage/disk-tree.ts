import { type BigIntStats, closeSync, constants, fstatSync, lstatSync, openSync, unlinkSync } from "node:fs";
import path from "node:path";
import {
  type DiskRoot,
  entryOf,
  errnoOf,
  FolderChain,
  FolderChangedError,
  lstatIn,
  RootChangedError,
} from "./disk-folder-chain.ts";
import { assertSafeKey, type StoreFailure, UnsafeKeyError } from "./object-store.ts";
import { type Instant, isBefore } from "./window.ts";

export type { DiskRoot } from "./disk-folder-chain.ts";

// What a disk store does to files, synchronously (it runs on the disk
// thread, disk-thread.ts). A key is resolved from the store root one
// component at a time, each folder opened with O_DIRECTORY | O_NOFOLLOW
// through the folder above it (/proc/self/fd/<fd>/<name> names an entry of
// the open folder itself, not of whatever its path leads to now), and the file
// is acted on the same way. So no symlink is ever followed, inside the store
// or out, and no rename after a check can redirect the act: the folders are
// held open from the check to the act. Linux only (/proc). The walk through
// the folders is disk-folder-chain.ts; this module notes, deletes and opens
// the files it reaches and says why an act failed. What disk-trash.ts does
// the same way is defined here once and used there: a file's identity, the
// key order, the window loop, the check of a file against what was noted and
// the failures.

/** Opening for a preview: never through a symlink, never blocking on a FIFO. */
const READ_FILE = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/**
 * What a file is: device, inode and change time. A file put in its place has
 * another. The one definition: what noteFiles notes is what deleteFiles and
 * disk-trash.ts's trashFiles compare with.
 */
export const identityOf = (stats: BigIntStats) => `${stats.dev}:${stats.ino}:${stats.ctimeNs}`;

/** A key checked (assertSafeKey) and split into its folders and its file's name. */
export interface SplitKey {
  readonly key: string;
  readonly folders: readonly string[];
  readonly name: string;
}

export function split(key: string): SplitKey {
  assertSafeKey(key);
  const parts = key.split("/");
  const name = parts.pop() as string;
  return { key, folders: parts, name };
}

/**
 * Keys in folder order, so that each folder is opened once per call, starting
 * at a random place: two threads working at once then rarely queue on the same
 * folder's lock.
 */
export function inFolderOrder<T extends { readonly key: string }>(items: T[]): T[] {
  items.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const start = Math.floor(Math.random() * items.length);
  return [...items.slice(start), ...items.slice(0, start)];
}

/** The safe keys in folder order (inFolderOrder); unsafe keys go to failed. */
function byFolder(keys: readonly string[], failed: Map<string, StoreFailure>): SplitKey[] {
  const safe: SplitKey[] = [];
  for (const key of keys) {
    try {
      safe.push(split(key));
    } catch (error) {
      failed.set(key, failureOf(error, `key ${JSON.stringify(key)}`));
    }
  }
  return inFolderOrder(safe);
}

export const textOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** Why the store root could not be used: it is not the folder it was, or it could not be opened. */
export const rootWhy = (error: unknown) =>
  error instanceof RootChangedError
    ? "the store root is no longer the folder it was at start-up; restart the service"
    : `the store root could not be opened (${errnoOf(error) ?? "error"})`;

/**
 * Why an act failed; `who` names what it was on (`key "a/b.jpg"` here, a
 * media and its key in disk-trash.ts), and `told` writes the messages of
 * FolderChangedError, UnsafeKeyError and RootChangedError (as they are here;
 * disk-trash.ts puts `who` first). The message names the key rather than the
 * /proc path it went through (that, and the root's path, stay in the detail).
 * UnsafeKeyError messages name only the key and folders inside the store.
 */
export function failureOf(
  error: unknown,
  who: string,
  told: (message: string) => string = (message) => message,
): StoreFailure {
  const detail = textOf(error);
  if (error instanceof FolderChangedError) return { code: "FILE_CHANGED", message: told(error.message), detail };
  if (error instanceof UnsafeKeyError) return { code: "UNSAFE_KEY", message: told(error.message), detail };
  if (error instanceof RootChangedError) return { code: "STORE_UNAVAILABLE", message: told(rootWhy(error)), detail };
  const errno = errnoOf(error);
  const what = `${(error as NodeJS.ErrnoException).syscall ?? "acting on"} ${who} failed`;
  if (errno === "EACCES" || errno === "EPERM")
    return { code: "PERMISSION_DENIED", message: `${errno}: ${what}`, detail };
  return { code: "STORAGE_ERROR", message: errno === undefined ? what : `${errno}: ${what}`, detail };
}

/** A FILE_CHANGED failure with this message. */
export const changed = (message: string): StoreFailure => ({ code: "FILE_CHANGED", message, detail: message });

/**
 * Why nothing could be acted on: the store root could not be opened as the
 * folder it was. `who` names the key (or media), `done` what was not done.
 */
export const rootFailure = (error: unknown, who: string, done: string): StoreFailure => ({
  code: "STORE_UNAVAILABLE",
  message: `${who} ${done}: ${rootWhy(error)}`,
  detail: textOf(error),
});

/**
 * Runs `act` on each item in turn while the window is open; once it has
 * closed, the rest (by `idOf`) go to notAttempted, untried.
 */
export function eachWhileOpen<T>(
  items: readonly T[],
  closes: Instant,
  notAttempted: string[],
  idOf: (item: T) => string,
  act: (item: T) => void,
): void {
  for (const [i, item] of items.entries()) {
    if (!isBefore(closes)) {
      notAttempted.push(...items.slice(i).map(idOf));
      break;
    }
    act(item);
  }
}

/** The file at a key, found still the one noted: the folder it is in (held open by the chain) and its stats. */
export interface NotedFile {
  readonly folder: number;
  readonly stats: BigIntStats;
}

/**
 * The key's file if it is still the one noted (`was`; a key noted missing
 * must still be missing), reached through the chain and checked to be on the
 * root's file system; undefined when nothing is at the key (done); a
 * FILE_CHANGED failure when its folder vanished although the file was noted,
 * or another file is there. `who` names the key (or media) in messages, `act`
 * the act that began ("deletion", "trashing").
 */
export function notedFileAt(
  chain: FolderChain,
  k: SplitKey,
  was: string | undefined,
  who: string,
  act: string,
): NotedFile | StoreFailure | undefined {
  const folder = chain.enter(k.key, k.folders);
  if (folder === undefined) {
    // Its folder is gone although the file was there when noted: moved away, perhaps for a
    // moment. Counting it done could drop the row of a file that still exists.
    return was === undefined ? undefined : changed(`the folder of ${who} vanished after its ${act} began; retried`);
  }
  const stats = lstatIn(folder, k.name);
  if (stats === undefined) return undefined;
  chain.assertSameFileSystem(k.key, stats);
  if (identityOf(stats) !== was) {
    return changed(
      was === undefined
        ? `a file appeared at ${who} after its ${act} began; left in place`
        : `the file at ${who} was replaced after its ${act} began; left in place`,
    );
  }
  return { folder, stats };
}

/**
 * What is at each key now; missing keys are left out. Noting only reads, so it
 * goes by path (one lstat per file, no folders opened): whatever a symlink or
 * a swap makes it see, deleteFiles resolves the key safely and leaves alone
 * any file that is not the one noted.
 */
export function noteFiles(root: DiskRoot, keys: readonly string[]): Map<string, string> {
  const noted = new Map<string, string>();
  for (const key of keys) {
    try {
      assertSafeKey(key);
      noted.set(key, identityOf(lstatSync(path.join(root.path, key), { bigint: true })));
    } catch {
      // Missing, unsafe or unreadable: deleteFiles says which.
    }
  }
  return noted;
}

export interface DiskDeleteResult {
  readonly failed: Map<string, StoreFailure>;
  readonly notAttempted: string[];
}

/**
 * Unlinks each key's file if it is still the one noted (a key noted missing
 * must still be missing), while the window is open. A missing file counts as
 * deleted; a symlink at the key is unlinked itself, its target untouched.
 */
export function deleteFiles(
  root: DiskRoot,
  keys: readonly string[],
  closes: Instant,
  noted: ReadonlyMap<string, string>,
): DiskDeleteResult {
  const failed = new Map<string, StoreFailure>();
  const notAttempted: string[] = [];
  const sorted = byFolder(keys, failed);
  let chain: FolderChain;
  try {
    chain = new FolderChain(root);
  } catch (error) {
    for (const k of sorted) failed.set(k.key, rootFailure(error, `key ${JSON.stringify(k.key)}`, "not deleted"));
    return { failed, notAttempted };
  }
  try {
    eachWhileOpen(
      sorted,
      closes,
      notAttempted,
      (k) => k.key,
      (k) => {
        try {
          const found = notedFileAt(chain, k, noted.get(k.key), `key ${JSON.stringify(k.key)}`, "deletion");
          if (found === undefined) return;
          if (!("folder" in found)) {
            failed.set(k.key, found);
            return;
          }
          unlinkSync(entryOf(found.folder, k.name));
        } catch (error) {
          if (errnoOf(error) !== "ENOENT") failed.set(k.key, failureOf(error, `key ${JSON.stringify(k.key)}`));
        }
      },
    );
  } finally {
    chain.close();
  }
  return { failed, notAttempted };
}

export interface OpenedFile {
  readonly fd: number;
  readonly size: number;
}

/** Opens the key's regular file for reading (the caller closes fd), or undefined when it does not exist. */
export function openFile(root: DiskRoot, key: string): OpenedFile | undefined {
  const k = split(key);
  const chain = new FolderChain(root);
  try {
    const folder = chain.enter(k.key, k.folders);
    if (folder === undefined) return undefined;
    let fd: number;
    try {
      fd = openSync(entryOf(folder, k.name), READ_FILE);
    } catch (error) {
      if (errnoOf(error) === "ENOENT") return undefined;
      if (errnoOf(error) === "ELOOP") throw new UnsafeKeyError(`key ${JSON.stringify(key)} is a symbolic link`);
      throw error;
    }
    try {
      const stats = fstatSync(fd, { bigint: true });
      if (!stats.isFile()) throw new UnsafeKeyError(`key ${JSON.stringify(key)} is not a regular file`);
      chain.assertSameFileSystem(key, stats);
      return { fd, size: Number(stats.size) };
    } catch (error) {
      closeSync(fd);
      throw error;
    }
  } finally {
    chain.close();
  }
}
