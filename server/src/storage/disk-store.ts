import { createReadStream, realpathSync, statSync } from "node:fs";
import { Worker } from "node:worker_threads";
import type { DiskReply, DiskRequest } from "./disk-thread.ts";
import type { DiskObjectsResult, DiskPlaceResult, DiskPlaces } from "./disk-trash.ts";
import type { DiskDeleteResult, DiskRoot, OpenedFile } from "./disk-tree.ts";
import { type ObjectListing, type ObjectStore, UnsafeKeyError } from "./object-store.ts";

/** Files per deleteMany call: a chunk a thread deletes in milliseconds, with a lease confirmed before each. */
const KEYS_PER_REQUEST = 1000;
/**
 * Threads doing file work; each is an isolate of its own (25–30 MiB of RSS, measured).
 * More threads than a small machine has cores still pay: a thread waits in the
 * kernel (directory locks, the journal) as much as it computes. Measured on two
 * cores, 400,000 files (docs/performance.md): three threads purged 26% and
 * deleted 21% more files a second than two; a fourth added RSS, not speed.
 */
const DISK_THREADS = 3;

/**
 * The store root's real path and identity, resolved once (the root may itself
 * be a symlink; nothing below it may). Throws when it is not a folder.
 */
export function resolveDiskRoot(root: string): DiskRoot {
  const real = realpathSync(root);
  const stats = statSync(real, { bigint: true });
  if (!stats.isDirectory()) throw new Error(`${root} is not a folder`);
  return { path: real, dev: `${stats.dev}`, ino: `${stats.ino}` };
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** One thread doing a disk store's file work, started on first use and again if it ever dies. */
class DiskThread {
  #worker: Worker | undefined;
  #next = 0;
  readonly #pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();

  get load(): number {
    return this.#pending.size;
  }

  call<T>(request: DistributiveOmit<DiskRequest, "id">): Promise<T> {
    const worker = this.#start();
    const id = this.#next++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      // Kept alive only while it has work: an idle thread never holds the process open.
      if (this.#pending.size === 1) worker.ref();
      worker.postMessage({ ...request, id });
    });
  }

  #start(): Worker {
    if (this.#worker !== undefined) return this.#worker;
    const worker = new Worker(new URL("./disk-thread.ts", import.meta.url), {
      // It hands opened files to this thread (previews): it must not track, or close, them itself.
      trackUnmanagedFds: false,
      // A call holds at most a request's worth of keys; V8's default young generation per
      // isolate (tens of MiB) would make each thread cost more memory than the work needs.
      // Node lets the process's own heap flags override these (nodejs/node#43991): under `npm
      // run worker`'s --max-old-space-size=96 a thread's heap limit is 108 MiB, not 26; the
      // threads' live sets stay small either way (docs/operations.md, "Worker memory").
      resourceLimits: { maxYoungGenerationSizeMb: 2, maxOldGenerationSizeMb: 24 },
    });
    worker.unref();
    worker.on("message", (reply: DiskReply) => {
      const call = this.#pending.get(reply.id);
      this.#pending.delete(reply.id);
      if (this.#pending.size === 0) worker.unref();
      if (reply.ok) call?.resolve(reply.value);
      else call?.reject(reply.name === "UnsafeKeyError" ? new UnsafeKeyError(reply.message) : new Error(reply.message));
    });
    const fail = (error: Error) => {
      this.#worker = undefined;
      for (const call of this.#pending.values()) call.reject(error);
      this.#pending.clear();
    };
    worker.on("error", fail);
    worker.on("exit", (exitCode) => fail(new Error(`the disk thread exited (code ${exitCode})`)));
    this.#worker = worker;
    return worker;
  }
}

/**
 * The process's disk threads, shared by its disk stores. Each call (up to a
 * request's worth of keys) goes to the least busy one, so concurrent batches
 * overlap their waits on the disk, as libuv's thread pool would.
 */
const threads = Array.from({ length: DISK_THREADS }, () => new DiskThread());
const leastBusy = () => threads.reduce((a, b) => (b.load < a.load ? b : a));

/**
 * Files under one root folder (see disk-folder-chain.ts for how keys are resolved
 * without following symlinks or racing renames), with its trash in the root's
 * `.media-trash` folder (disk-trash.ts). The file work runs on the process's
 * disk threads.
 */
export function createDiskStore(name: string, root: DiskRoot): ObjectStore {
  const atMost = (count: number, call: string) => {
    if (count > KEYS_PER_REQUEST)
      throw new Error(`disk store ${name}: ${call} takes at most ${KEYS_PER_REQUEST} a call`);
  };
  return {
    name,
    keysPerRequest: KEYS_PER_REQUEST,
    note: (keys) => leastBusy().call<Map<string, string>>({ op: "note", root, keys }),
    async deleteMany(keys, window, noted) {
      if (noted === undefined) throw new Error(`disk store ${name}: deleteMany needs the files noted first`);
      return leastBusy().call<DiskDeleteResult>({ op: "delete", root, keys, closes: window.closes, noted });
    },
    async open(key) {
      const file = await leastBusy().call<OpenedFile | undefined>({ op: "open", root, key });
      if (file === undefined) return undefined;
      return { body: createReadStream("", { fd: file.fd }), size: file.size };
    },
    async trashMany(objects, window, noted) {
      if (noted === undefined) throw new Error(`disk store ${name}: trashMany needs the files noted first`);
      atMost(objects.length, "trashMany");
      return leastBusy().call<DiskObjectsResult>({ op: "trash", root, objects, closes: window.closes, noted });
    },
    async placeFromTrash(objects, window) {
      atMost(objects.length, "placeFromTrash");
      return leastBusy().call<DiskPlaceResult>({ op: "place", root, objects, closes: window.closes });
    },
    async dropFromTrash(ids, window) {
      atMost(ids.length, "dropFromTrash");
      return leastBusy().call<DiskObjectsResult>({ op: "drop", root, ids, closes: window.closes });
    },
    locate: (objects) => leastBusy().call<Map<string, DiskPlaces>>({ op: "locate", root, objects }),
    async list(prefix, after, limit) {
      atMost(limit, "list");
      return leastBusy().call<ObjectListing>({ op: "list", root, prefix, after, limit });
    },
  };
}
