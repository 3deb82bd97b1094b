import { existsSync, mkdirSync } from "node:fs";
import { ConfigError, type StoreConfig } from "../config.ts";
import { traceStore } from "../telemetry/storage-spans.ts";
import { createDiskStore, resolveDiskRoot } from "./disk-store.ts";
import type { DiskRoot } from "./disk-tree.ts";
import type { ObjectStore } from "./object-store.ts";
import { createS3Store } from "./s3-store.ts";
import { findOverlap, placeOf, readMounts } from "./store-identity.ts";

export { createDiskStore, resolveDiskRoot } from "./disk-store.ts";
export type { DiskRoot } from "./disk-tree.ts";
export type {
  DeleteResult,
  MediaObject,
  NotedObjects,
  ObjectPlaces,
  ObjectStore,
  ObjectsResult,
  PlaceResult,
  StoredObject,
  StoreFailure,
  StoreFailureCode,
} from "./object-store.ts";
export { forEachLimited, formatStoreFailure, groupByStore, TRASH_FOLDER, UnsafeKeyError } from "./object-store.ts";
export { createS3Store } from "./s3-store.ts";
export { fixedWindow, type StorageWindow } from "./window.ts";

/** A disk store's root, resolved once at start-up; the default store's folder is created when missing. */
function diskRootOf(config: Extract<StoreConfig, { kind: "disk" }>): DiskRoot {
  if (!existsSync("/proc/self/fd")) {
    throw new ConfigError(
      `STORES: disk store "${config.name}" needs Linux (/proc/self/fd) to act on files without following symlinks; use an S3 store (MinIO, say) elsewhere`,
    );
  }
  if (config.createRoot) mkdirSync(config.root, { recursive: true });
  try {
    return resolveDiskRoot(config.root);
  } catch (error) {
    const why = (error as NodeJS.ErrnoException).code === "ENOENT" ? "does not exist" : (error as Error).message;
    throw new ConfigError(`STORES: the folder of disk store "${config.name}", ${config.root}, ${why}`);
  }
}

/**
 * One ObjectStore per configured store, by name. Resolves disk roots (a root
 * may be a symlink: it is resolved here, once) and refuses stores that
 * overlap, naming both. Each store's calls are traced (traceStore).
 */
export function openStores(configs: ReadonlyMap<string, StoreConfig>): Map<string, ObjectStore> {
  const roots = new Map<string, DiskRoot>();
  for (const config of configs.values()) {
    switch (config.kind) {
      case "disk":
        roots.set(config.name, diskRootOf(config));
        break;
      case "s3":
        break;
      default: {
        const unhandled: never = config;
        throw new Error(`unknown store kind ${(unhandled as { kind: unknown }).kind}`);
      }
    }
  }
  const mounts = roots.size > 0 ? readMounts() : [];
  const places = [...configs.values()].map((config) => placeOf(config, roots.get(config.name), mounts));
  const overlapping = findOverlap(places);
  if (overlapping !== undefined) {
    const [a, b] = overlapping;
    throw new ConfigError(
      `STORES: stores "${a.name}" (${a.shown}) and "${b.name}" (${b.shown}) overlap; each file must belong to one store`,
    );
  }
  const stores = new Map<string, ObjectStore>();
  for (const config of configs.values()) {
    switch (config.kind) {
      case "disk":
        stores.set(config.name, traceStore(createDiskStore(config.name, roots.get(config.name) as DiskRoot), "disk"));
        break;
      case "s3":
        stores.set(
          config.name,
          traceStore(
            createS3Store(config.name, {
              bucket: config.bucket,
              prefix: config.prefix,
              region: config.region,
              endpoint: config.endpoint,
              forcePathStyle: config.forcePathStyle,
            }),
            "s3",
          ),
        );
        break;
      default: {
        const unhandled: never = config;
        throw new Error(`unknown store kind ${(unhandled as { kind: unknown }).kind}`);
      }
    }
  }
  return stores;
}
