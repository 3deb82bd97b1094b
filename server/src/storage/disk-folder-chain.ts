import { type BigIntStats, closeSync, constants, fstatSync, lstatSync, mkdirSync, openSync } from "node:fs";
import { UnsafeKeyError } from "./object-store.ts";

// The symlink-refusing resolver under a disk store's file operations
// (disk-tree.ts): it walks from the store root to a key's folder one
// component at a time, each folder opened with O_DIRECTORY | O_NOFOLLOW
// through the folder above it, and holds the folders open until the act.
// Separate because it is the security boundary: how a key is reached safely,
// apart from what is then done at it (note, delete, open, trash, place) and
// how that is reported. Folders missing on the way may be created (a restore
// from the trash puts a file back where its folders were removed): each
// through the folder above it too, then opened the same way, so a symlink
// planted on the way is refused, never created through. Linux only (/proc).

/** The store root as resolved at start-up: its real path and what it was (device, inode). */
export interface DiskRoot {
  readonly path: string;
  readonly dev: string;
  readonly ino: string;
}

const DIRECTORY = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;

/**
 * An entry of the open folder `fd`, resolved by the kernel from that folder.
 * /proc/<pid> rather than /proc/self: one lookup fewer per call (the threads share the pid).
 */
export const entryOf = (fd: number, name: string) => `/proc/${process.pid}/fd/${fd}/${name}`;

/** The errno code of a failed file system call ("ENOENT"), if it has one. */
export const errnoOf = (error: unknown) => (error as NodeJS.ErrnoException).code;

/** What is at `name` in the open folder `fd`, without following a symlink; undefined when nothing is. */
export function lstatIn(fd: number, name: string): BigIntStats | undefined {
  try {
    return lstatSync(entryOf(fd, name), { bigint: true });
  } catch (error) {
    if (errnoOf(error) === "ENOENT") return undefined;
    throw error;
  }
}

/** A folder on a key's way changed while it was resolved (still an UnsafeKeyError to callers of openFile). */
export class FolderChangedError extends UnsafeKeyError {}

/** The store root is not the folder resolved at start-up (moved away, replaced). */
export class RootChangedError extends Error {}

/** Something other than a folder (a file, a FIFO) is where a folder on the way is to be created. */
export class NotAFolderError extends Error {
  /** The folder's path inside the store, as JSON ("a/b"). */
  readonly at: string;
  constructor(key: string, at: string) {
    super(`something other than a folder is at ${at}, on the way to key ${JSON.stringify(key)}`);
    this.at = at;
  }
}

/**
 * Opens the folder `name` of the open folder `parent` (O_DIRECTORY |
 * O_NOFOLLOW), or returns undefined when nothing, or something other than a
 * folder, is there. With `create`, a missing folder is made first (mkdir
 * through the parent's entry: mkdir never follows a symlink at its name,
 * dangling or not, it fails EEXIST) and something other than a folder throws
 * NotAFolderError. A symlink throws UnsafeKeyError either way. `key` and `at`
 * (the folder's path inside the store, as JSON, built only for a message)
 * only name things in messages.
 */
export function openFolderIn(
  parent: number,
  name: string,
  key: string,
  at: () => string,
  create = false,
): number | undefined {
  let made = false;
  for (;;) {
    try {
      return openSync(entryOf(parent, name), DIRECTORY);
    } catch (error) {
      if (errnoOf(error) === "ENOENT") {
        if (!create) return undefined;
        // Made and gone again before it could be opened: something is removing it.
        if (made)
          throw new FolderChangedError(`the folder ${at()} vanished while key ${JSON.stringify(key)} was resolved`);
        try {
          mkdirSync(entryOf(parent, name));
        } catch (mkdirError) {
          // EEXIST: made by another call meanwhile, or a symlink (the open says which).
          if (errnoOf(mkdirError) !== "EEXIST") throw mkdirError;
        }
        made = true;
        continue;
      }
      // ENOTDIR: a symlink (O_NOFOLLOW) or a file where a folder would be.
      if (errnoOf(error) !== "ENOTDIR" && errnoOf(error) !== "ELOOP") throw error;
      const found = lstatIn(parent, name);
      if (found?.isSymbolicLink()) {
        throw new UnsafeKeyError(
          `key ${JSON.stringify(key)} passes through a symbolic link at ${at()}; links inside a store are never followed`,
        );
      }
      // A folder again by now: something is swapping it. Not "missing": that would drop a live file's row.
      if (found?.isDirectory())
        throw new FolderChangedError(`the folder ${at()} changed while key ${JSON.stringify(key)} was resolved`);
      if (create && found !== undefined) throw new NotAFolderError(key, at());
      if (create)
        throw new FolderChangedError(`the folder ${at()} vanished while key ${JSON.stringify(key)} was resolved`);
      return undefined;
    }
  }
}

/**
 * The open folders from the root to the folder being worked in. Keys in the
 * same folder reuse the chain; moving to another folder closes what is no
 * longer on the way, so a batch holds at most its depth of descriptors.
 */
export class FolderChain {
  readonly #fds: number[];
  readonly #names: string[] = [];
  readonly #device: bigint;

  constructor(root: DiskRoot) {
    const fd = openSync(root.path, constants.O_RDONLY | constants.O_DIRECTORY);
    const stats = fstatSync(fd, { bigint: true });
    if (`${stats.dev}` !== root.dev || `${stats.ino}` !== root.ino) {
      closeSync(fd);
      throw new RootChangedError(
        `the store root ${root.path} is no longer the folder it was at start-up; restart the service`,
      );
    }
    this.#fds = [fd];
    this.#device = stats.dev;
  }

  /**
   * The folder holding the key's file, or undefined when a folder on the way
   * does not exist. With `create`, missing folders are made instead (each
   * checked to be on the root's file system before anything is made inside
   * it), and it never returns undefined: see openFolderIn.
   */
  enter(key: string, folders: readonly string[], create = false): number | undefined {
    let same = 0;
    while (same < folders.length && same < this.#names.length && folders[same] === this.#names[same]) same++;
    while (this.#names.length > same) {
      this.#names.pop();
      closeSync(this.#fds.pop() as number);
    }
    for (let i = same; i < folders.length; i++) {
      const parent = this.#fds.at(-1) as number;
      const name = folders[i] as string;
      const at = () => JSON.stringify(folders.slice(0, i + 1).join("/"));
      const fd = openFolderIn(parent, name, key, at, create);
      if (fd === undefined) return undefined;
      this.#fds.push(fd);
      this.#names.push(name);
      // Another file system mounted on the way (another store's): nothing is created in it.
      if (create) this.assertSameFileSystem(key, fstatSync(fd, { bigint: true }));
    }
    return this.#fds.at(-1);
  }

  /**
   * Throws unless a file found in the chain is on the root's file system:
   * another file system mounted inside the store (another store's, say) is
   * never acted on.
   */
  assertSameFileSystem(key: string, stats: BigIntStats): void {
    if (stats.dev !== this.#device) {
      throw new UnsafeKeyError(`key ${JSON.stringify(key)} lies on another file system mounted inside the store`);
    }
  }

  close(): void {
    for (const fd of this.#fds.splice(0)) closeSync(fd);
    this.#names.length = 0;
  }
}
