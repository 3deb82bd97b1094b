import { constants, realpathSync } from "node:fs";
import { open, realpath, unlink } from "node:fs/promises";
import path from "node:path";
import { assertSafeKey, forEachLimited, type ObjectStore, UnsafeKeyError } from "./object-store.ts";

export interface DiskStoreOptions {
  /** Unlinks in flight at once. */
  readonly concurrency?: number;
}

const isMissing = (error: unknown) => (error as NodeJS.ErrnoException).code === "ENOENT";

/**
 * Files under one root folder. A key is resolved lexically (it must stay under
 * the root) and then by real path (no symlinked folder may lead out of the
 * root) before anything is unlinked. A symlink at the key itself is unlinked,
 * never followed.
 */
export function createDiskStore(name: string, root: string, options: DiskStoreOptions = {}): ObjectStore {
  const concurrency = options.concurrency ?? 32;
  const absoluteRoot = path.resolve(root);
  let realRoot: string | undefined;

  /** The real root, resolved once it exists (a fresh store may not have it yet). */
  function rootReal(): string {
    realRoot ??= realpathSync(absoluteRoot);
    return realRoot;
  }

  function within(parent: string, child: string): boolean {
    const relative = path.relative(parent, child);
    return relative === "" || (!relative.startsWith("..") && !path.isAbsolute(relative));
  }

  /**
   * The file's path, or undefined when its folder does not exist (so the file
   * does not either). `folders` caches real paths within one call: a batch
   * usually has many files per folder.
   */
  async function resolveKey(key: string, folders: Map<string, Promise<string>>): Promise<string | undefined> {
    assertSafeKey(key);
    const lexical = path.join(absoluteRoot, ...key.split("/"));
    if (!within(absoluteRoot, lexical) || lexical === absoluteRoot) {
      throw new UnsafeKeyError(`key ${JSON.stringify(key)} resolves outside the store`);
    }
    const parent = path.dirname(lexical);
    let real = folders.get(parent);
    if (real === undefined) {
      real = realpath(parent);
      folders.set(parent, real);
    }
    let folder: string;
    try {
      folder = await real;
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
    if (!within(rootReal(), folder)) {
      throw new UnsafeKeyError(`key ${JSON.stringify(key)} leads outside the store through a symbolic link`);
    }
    return path.join(folder, path.basename(lexical));
  }

  return {
    name,
    async deleteMany(keys) {
      const failures = new Map<string, string>();
      const folders = new Map<string, Promise<string>>();
      await forEachLimited(keys, concurrency, async (key) => {
        try {
          const file = await resolveKey(key, folders);
          if (file !== undefined) await unlink(file);
        } catch (error) {
          if (isMissing(error)) return;
          failures.set(key, error instanceof Error ? error.message : String(error));
        }
      });
      return failures;
    },
    async open(key) {
      const file = await resolveKey(key, new Map());
      if (file === undefined) return undefined;
      // O_NOFOLLOW: a symlink at the key itself could point anywhere; never read through it.
      // O_NONBLOCK: opening a FIFO must not hold a thread of the pool until a writer appears.
      const handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK).catch(
        (error) => {
          if (isMissing(error)) return undefined;
          throw error;
        },
      );
      if (handle === undefined) return undefined;
      try {
        const stats = await handle.stat();
        if (!stats.isFile()) throw new UnsafeKeyError(`key ${JSON.stringify(key)} is not a regular file`);
        return { body: handle.createReadStream(), size: stats.size };
      } catch (error) {
        await handle.close();
        throw error;
      }
    },
  };
}
