import { readdirSync } from "node:fs";
import { type DiskRoot, FolderChain, lstatIn } from "./disk-folder-chain.ts";
import { type ListedObject, type ObjectListing, TRASH_FOLDER, UnsafeKeyError } from "./object-store.ts";

// A disk store's listing (ObjectStore.list), on the disk thread: a walk of the
// folders under the store root through the symlink-refusing FolderChain (a
// symlink is never followed, to a folder or to a file; only regular files on
// the root's file system are listed; the trash folder is skipped), in byte
// order of the full keys. Each folder's entries are sorted with a folder's
// name compared as name + "/", so that "a-b" < "a/x" < "a0", as S3 lists
// them. A page resumes after a key by going down that key's folders only,
// never re-walking what is before it. One page (its folders' entries, up to
// `limit` objects) is in memory at a time. Names that are not UTF-8 cannot be
// keys and are skipped.

/** An entry of a folder, with the bytes it sorts by (name, plus "/" for a folder). */
interface Entry {
  readonly name: string;
  readonly sortKey: Buffer;
  readonly folder: boolean;
}

/** A folder being walked: its path from the root, its sorted entries and the next one to look at. */
interface Frame {
  readonly folders: readonly string[];
  readonly entries: readonly Entry[];
  index: number;
}

const SLASH = Buffer.from("/");

/** The folder's regular files and folders (no symlinks, nothing else), by sort key; only names starting with `only`. */
function entriesOf(fd: number, atRoot: boolean, only: string): Entry[] {
  const entries: Entry[] = [];
  for (const dirent of readdirSync(`/proc/${process.pid}/fd/${fd}`, { withFileTypes: true, encoding: "buffer" })) {
    const folder = dirent.isDirectory();
    if (!folder && !dirent.isFile()) continue;
    const raw = dirent.name;
    const name = raw.toString("utf8");
    if (!Buffer.from(name, "utf8").equals(raw)) continue;
    if (atRoot && name.toLowerCase() === TRASH_FOLDER) continue;
    if (!name.startsWith(only)) continue;
    entries.push({ name, folder, sortKey: folder ? Buffer.concat([raw, SLASH]) : raw });
  }
  return entries.sort((a, b) => Buffer.compare(a.sortKey, b.sortKey));
}

/** The index of the first entry sorting after `target`. */
function firstAfter(entries: readonly Entry[], target: Buffer): number {
  let lo = 0;
  let hi = entries.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (Buffer.compare((entries[mid] as Entry).sortKey, target) <= 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** `prefix` as the folders it names in full and the start of a name in the last of them. */
function splitPrefix(prefix: string): { folders: string[]; partial: string } | undefined {
  const parts = prefix.split("/");
  const partial = parts.pop() as string;
  if (parts.some((p) => p === "" || p === "." || p === "..")) return undefined;
  if (parts.length > 0 && (parts[0] as string).toLowerCase() === TRASH_FOLDER) return undefined;
  return { folders: parts, partial };
}

/** Lists up to `limit` regular files under `prefix`, after the key `after` ("" from the start), in byte order. */
export function listFiles(root: DiskRoot, prefix: string, after: string, limit: number): ObjectListing {
  const split = splitPrefix(prefix);
  if (split === undefined) return { objects: [], last: undefined, done: true };
  const chain = new FolderChain(root);
  try {
    /** The folder's frame, or undefined when it is gone, a symlink or on another file system. */
    const frameOf = (folders: readonly string[], partial: string): Frame | undefined => {
      let fd: number | undefined;
      try {
        fd = chain.enter(folders.join("/"), folders);
      } catch (error) {
        if (error instanceof UnsafeKeyError) return undefined;
        throw error;
      }
      if (fd === undefined) return undefined;
      return { folders, entries: entriesOf(fd, folders.length === 0, partial), index: 0 };
    };

    const stack: Frame[] = [];
    const start = frameOf(split.folders, split.partial);
    if (start === undefined) return { objects: [], last: undefined, done: true };
    stack.push(start);
    // Down the folders of `after`, skipping in each what sorts before its way.
    if (after !== "") {
      const parts = after.split("/");
      const within = split.folders.every((f, i) => parts[i] === f) && parts.length > split.folders.length;
      for (let level = split.folders.length; within && level < parts.length; level++) {
        const frame = stack.at(-1) as Frame;
        const last = level === parts.length - 1;
        const target = Buffer.from(last ? (parts[level] as string) : `${parts[level]}/`);
        const i = firstAfter(frame.entries, target);
        frame.index = i;
        const on = frame.entries[i - 1];
        if (last || on === undefined || !on.folder || !on.sortKey.equals(target)) break;
        const child = frameOf([...frame.folders, on.name], "");
        if (child === undefined) break;
        stack.push(child);
      }
    }

    const objects: ListedObject[] = [];
    while (stack.length > 0 && objects.length < limit) {
      const frame = stack.at(-1) as Frame;
      const entry = frame.entries[frame.index++];
      if (entry === undefined) {
        stack.pop();
        continue;
      }
      const folders = [...frame.folders, entry.name];
      if (entry.folder) {
        const child = frameOf(folders, "");
        if (child !== undefined) stack.push(child);
        continue;
      }
      const key = folders.join("/");
      const fd = chain.enter(key, frame.folders);
      if (fd === undefined) continue;
      const stats = lstatIn(fd, entry.name);
      // Replaced by a symlink or something else since the folder was read, or gone: not listed.
      if (stats === undefined || !stats.isFile()) continue;
      try {
        chain.assertSameFileSystem(key, stats);
      } catch {
        continue;
      }
      objects.push({
        key,
        sizeBytes: Number(stats.size),
        modifyTime: new Date(Number((stats.mtimeNs + 500_000n) / 1_000_000n)),
      });
    }
    return { objects, last: objects.at(-1)?.key, done: stack.length === 0 };
  } finally {
    chain.close();
  }
}
