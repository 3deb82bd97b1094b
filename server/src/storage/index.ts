import type { StoreConfig } from "../config.ts";
import { createDiskStore } from "./disk-store.ts";
import type { ObjectStore } from "./object-store.ts";
import { createS3Store } from "./s3-store.ts";

export { createDiskStore } from "./disk-store.ts";
export type { ObjectStore, StoredObject } from "./object-store.ts";
export { forEachLimited } from "./object-store.ts";
export { createS3Client, createS3Store } from "./s3-store.ts";

/** One ObjectStore per configured store, by name. */
export function createStores(configs: ReadonlyMap<string, StoreConfig>): Map<string, ObjectStore> {
  const stores = new Map<string, ObjectStore>();
  for (const config of configs.values()) {
    stores.set(
      config.name,
      config.kind === "disk"
        ? createDiskStore(config.name, config.root)
        : createS3Store(config.name, {
            bucket: config.bucket,
            prefix: config.prefix,
            region: config.region,
            endpoint: config.endpoint,
            forcePathStyle: config.forcePathStyle,
          }),
    );
  }
  return stores;
}
