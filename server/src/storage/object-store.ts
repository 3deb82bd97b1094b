import type { Readable } from "node:stream";

/** An object being read: its bytes as a stream, and their count when the store knows it. */
export interface StoredObject {
  readonly body: Readable;
  readonly size: number | undefined;
}

/** Where media files live. One small interface; disk and S3 implement it. */
export interface ObjectStore {
  /** The configured store name (media.store). */
  readonly name: string;
  /**
   * Deletes the objects at these keys. A missing object counts as deleted.
   * Resolves with the keys that could not be deleted and why; every other key
   * is gone. Never rejects for a per-key problem.
   */
  deleteMany(keys: readonly string[]): Promise<Map<string, string>>;
  /** Opens the object for reading (dashboard previews); undefined when it does not exist. */
  open(key: string): Promise<StoredObject | undefined>;
}

/** Thrown for a key that could resolve outside its store. Such a key is never touched. */
export class UnsafeKeyError extends Error {
  override name = "UnsafeKeyError";
}

// The same rules the API applies at registration (server/src/api/validation.ts),
// checked again here because the store must be safe whatever wrote the row.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** Throws UnsafeKeyError unless the key is a relative "/"-path with no empty, "." or ".." segments. */
export function assertSafeKey(key: string): void {
  const problem =
    key === ""
      ? "is empty"
      : key.startsWith("/")
        ? "is absolute"
        : key.includes("\\")
          ? "contains a backslash"
          : CONTROL.test(key)
            ? "contains a control character"
            : key.split("/").some((s) => s === "" || s === "." || s === "..")
              ? 'has an empty, "." or ".." segment'
              : undefined;
  if (problem !== undefined) throw new UnsafeKeyError(`key ${JSON.stringify(key)} ${problem}`);
}

/** Runs fn over items with at most `limit` in flight. */
export async function forEachLimited<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await fn(items[next++] as T);
  });
  await Promise.all(lanes);
}
