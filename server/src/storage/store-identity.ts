import { readFileSync, statSync } from "node:fs";
import path from "node:path";
import type { StoreConfig } from "../config.ts";
import type { DiskRoot } from "./disk-tree.ts";

// Stores must not overlap: a file reachable through two stores could get two
// rows, and deleting the orphaned one would remove a file the other still
// references. Overlap is judged by identity, not by how a store is spelled:
// a disk root by where it lies on its file system (whatever symlink or bind
// mount reaches it), an S3 store by bucket and prefix alone (whatever the
// region, endpoint or its spelling: the same bucket name is assumed to be the
// same bucket).

/** A store's place, as compared for overlap. */
type StorePlace =
  | {
      readonly name: string;
      readonly kind: "disk";
      /** The root's real path; st_dev of its file system, and its path within that file system. */
      readonly realPath: string;
      readonly device: string;
      readonly fsPath: string;
      readonly inode: string;
      readonly shown: string;
    }
  | {
      readonly name: string;
      readonly kind: "s3";
      readonly bucket: string;
      readonly prefix: string;
      readonly shown: string;
    };

interface Mount {
  /** Where the mount is attached, and which folder of its file system appears there. */
  readonly point: string;
  readonly root: string;
}

/** /proc/self/mountinfo's fields 4 (root) and 5 (mount point), octal escapes decoded. */
export function readMounts(): Mount[] {
  const decode = (field: string) =>
    field.replace(/\\([0-7]{3})/g, (_, octal) => String.fromCharCode(Number.parseInt(octal, 8)));
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => {
      const fields = line.split(" ");
      return { root: decode(fields[3] ?? "/"), point: decode(fields[4] ?? "/") };
    });
}

/** True when child is parent or below it ("..cache" is a name below it, ".." is not). */
const within = (parent: string, child: string) => {
  const relative = path.relative(parent, child);
  return relative === "" || (relative !== ".." && !relative.startsWith(`..${path.sep}`) && !path.isAbsolute(relative));
};

/**
 * The path of a real folder within its file system: below the deepest mount
 * that contains it (of mounts stacked on one point, the last listed is the
 * one visible).
 */
function fileSystemPath(real: string, mounts: readonly Mount[]): string {
  const mount = mounts
    .filter((m) => within(m.point, real))
    .reduce<Mount | undefined>(
      (best, m) => (best === undefined || m.point.length >= best.point.length ? m : best),
      undefined,
    );
  return mount === undefined ? real : path.join(mount.root, path.relative(mount.point, real));
}

export function placeOf(config: StoreConfig, diskRoot: DiskRoot | undefined, mounts: readonly Mount[]): StorePlace {
  switch (config.kind) {
    case "disk": {
      const root = diskRoot as DiskRoot;
      const stats = statSync(root.path, { bigint: true });
      return {
        name: config.name,
        kind: "disk",
        realPath: root.path,
        device: `${stats.dev}`,
        fsPath: fileSystemPath(root.path, mounts),
        inode: `${stats.dev}:${stats.ino}`,
        shown: root.path,
      };
    }
    case "s3":
      return {
        name: config.name,
        kind: "s3",
        bucket: config.bucket.toLowerCase(),
        prefix: config.prefix,
        shown: `s3://${config.bucket}/${config.prefix}`,
      };
    default: {
      const unhandled: never = config;
      throw new Error(`unknown store kind ${(unhandled as { kind: unknown }).kind}`);
    }
  }
}

/** Stores of different kinds never overlap. */
export function overlap(a: StorePlace, b: StorePlace): boolean {
  switch (a.kind) {
    case "disk": {
      if (b.kind !== "disk") return false;
      // Real paths nest whatever the devices (a folder mounted inside another store); the file
      // system paths catch a bind mount of one store's folder elsewhere.
      const nested = (x: string, y: string) => within(x, y) || within(y, x);
      return (
        a.inode === b.inode || nested(a.realPath, b.realPath) || (a.device === b.device && nested(a.fsPath, b.fsPath))
      );
    }
    case "s3":
      if (b.kind !== "s3") return false;
      return a.bucket === b.bucket && (a.prefix.startsWith(b.prefix) || b.prefix.startsWith(a.prefix));
    default: {
      const unhandled: never = a;
      throw new Error(`unknown store kind ${(unhandled as { kind: unknown }).kind}`);
    }
  }
}

/** The first pair of places that overlap, or undefined. */
export function findOverlap(places: readonly StorePlace[]): [StorePlace, StorePlace] | undefined {
  for (const [i, a] of places.entries()) {
    for (const b of places.slice(i + 1)) if (overlap(a, b)) return [a, b];
  }
  return undefined;
}
