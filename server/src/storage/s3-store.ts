import type { Readable } from "node:stream";
import type { S3Client, S3ClientConfig } from "@aws-sdk/client-s3";
import {
  assertSafeKey,
  checked,
  type ListedObject,
  type ObjectStore,
  type StoreFailure,
  startsInTrash,
} from "./object-store.ts";
import { createS3Trash, type Guardable, type S3Parts } from "./s3-trash.ts";
import { isBefore, type StorageWindow } from "./window.ts";

export interface S3StoreOptions {
  readonly bucket: string;
  /** Key prefix inside the bucket, "" or ending in "/". */
  readonly prefix: string;
  readonly region: string;
  readonly endpoint?: string | undefined;
  readonly forcePathStyle?: boolean;
  /** Explicit credentials; otherwise the usual AWS chain (env, profile, instance role). */
  readonly credentials?: S3ClientConfig["credentials"];
  /** Attempts per request, including the first (SDK retries throttling and 5xx with backoff and jitter). */
  readonly maxAttempts?: number;
}

/** S3 allows at most 1000 keys per DeleteObjects request. */
const MAX_KEYS_PER_REQUEST = 1000;

/** The AWS SDK, loaded on first use: a process with only disk stores never pays its 30-odd MiB. */
let sdk: Promise<typeof import("@aws-sdk/client-s3")> | undefined;
const loadSdk = () => {
  sdk ??= import("@aws-sdk/client-s3");
  return sdk;
};

/** Thrown (inside the SDK's retry loop) instead of sending an attempt once the window has closed. */
class WindowClosedError extends Error {}

/**
 * Checks the window inside the SDK's retry loop, so every attempt of the command (a retry after
 * a 503 included) is sent only while the window is open: a process stopped during a retry's
 * backoff sends nothing after. `sent` counts the attempts let through.
 */
function guardWindow(command: Guardable, window: StorageWindow): { readonly sent: number } {
  const attempts = { sent: 0 };
  command.middlewareStack.add(
    (next) => async (args) => {
      if (!isBefore(window.closes)) throw new WindowClosedError("not sent: the lease's storage window had closed");
      attempts.sent++;
      return next(args);
    },
    { step: "finalizeRequest", priority: "low", name: "mediaStorageWindow" },
  );
  return attempts;
}

/** Node's codes for a connection that could not be made or was lost: the endpoint is unreachable. */
const NETWORK_ERRORS = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EHOSTDOWN",
  "ENETDOWN",
  "EPIPE",
]);

/** Text that could name where the endpoint is: a URL, an IPv4 address, a host:port, an AWS host name. */
const LOOKS_LIKE_A_PLACE = /:\/\/|\b\d{1,3}(\.\d{1,3}){3}\b|[\w\].-]:\d{2,5}\b|amazonaws\.com/i;

const textOf = (error: unknown) => (error instanceof Error ? `${error.name}: ${error.message}` : String(error));

/**
 * What a request that failed as a whole means for each of its keys; `what` names the request in
 * the message ("DeleteObjects", `CopyObject of key "a/b"`).
 */
function requestFailure(
  error: unknown,
  aborted: boolean,
  safeText: (t: string | undefined) => string,
  what = "DeleteObjects",
): StoreFailure {
  const detail = textOf(error);
  if (aborted) return { code: "STORAGE_TIMEOUT", message: `${what} abandoned after STORAGE_TIMEOUT`, detail };
  if (error instanceof WindowClosedError) return { code: "STORAGE_TIMEOUT", message: error.message, detail };
  const e = error as { name?: string; code?: unknown; errors?: unknown; $metadata?: { httpStatusCode?: number } };
  // Node's connect errors (an AggregateError when several addresses were tried) carry the code.
  const errno = typeof e.code === "string" ? e.code : (e.errors as { code?: unknown }[] | undefined)?.[0]?.code;
  if (typeof errno === "string" && NETWORK_ERRORS.has(errno)) {
    return { code: "STORE_UNAVAILABLE", message: `${what} could not reach the S3 endpoint (${errno})`, detail };
  }
  const status = e.$metadata?.httpStatusCode;
  if (status !== undefined && e.name === "Unknown") {
    // An answer without a body (HEAD's) has no error code: the SDK names it "Unknown".
    return {
      code: status === 403 ? "PERMISSION_DENIED" : "STORAGE_ERROR",
      message: `${what} failed: HTTP ${status}`,
      detail,
    };
  }
  if (status !== undefined && e.name !== undefined) {
    const message = `${what} failed: ${e.name}${safeText((error as Error).message)}`;
    return { code: e.name === "AccessDenied" ? "PERMISSION_DENIED" : "STORAGE_ERROR", message, detail };
  }
  return { code: "STORAGE_ERROR", message: `${what} failed (${e.name ?? "error"})`, detail };
}

/** The client as we configure it for S3 and S3-compatible stores. */
async function createS3Client(options: S3StoreOptions): Promise<S3Client> {
  const { S3Client } = await loadSdk();
  return new S3Client({
    region: options.region,
    endpoint: options.endpoint,
    forcePathStyle: options.forcePathStyle ?? false,
    credentials: options.credentials,
    maxAttempts: options.maxAttempts ?? 5,
    retryMode: "standard",
    // SDK >= 3.729 adds CRC32 checksums to every request it can, which several
    // S3-compatible stores reject. Send checksums only where an operation requires
    // one; DeleteObjects picks MD5 explicitly (see deleteChunk).
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
}

/**
 * Objects in one bucket under one prefix, deleted with DeleteObjects, up to
 * 1000 keys a request. A 200 answer can still carry per-key Errors: those keys
 * are reported as failed, never as deleted. The trash (trashMany and the rest)
 * is in s3-trash.ts.
 */
export function createS3Store(name: string, options: S3StoreOptions): ObjectStore {
  const prefix = options.prefix;
  if (prefix !== "" && !prefix.endsWith("/")) throw new Error(`S3 store ${name}: prefix must end with "/"`);
  const endpointHost = options.endpoint === undefined ? undefined : URL.parse(options.endpoint)?.hostname;
  /** ": text" when the S3 API's text names no place (host, address, port), else "". */
  const safeText = (text: string | undefined) =>
    text === undefined ||
    text === "" ||
    LOOKS_LIKE_A_PLACE.test(text) ||
    (endpointHost !== undefined && endpointHost !== "" && text.toLowerCase().includes(endpointHost.toLowerCase()))
      ? ""
      : `: ${text}`;
  let client: Promise<S3Client> | undefined;
  const s3 = () => {
    client ??= createS3Client(options);
    return client;
  };

  async function deleteChunk(
    keys: readonly string[],
    window: StorageWindow,
    failures: Map<string, StoreFailure>,
  ): Promise<void> {
    const { DeleteObjectsCommand } = await loadSdk();
    const command = new DeleteObjectsCommand({
      Bucket: options.bucket,
      Delete: { Objects: keys.map((key) => ({ Key: prefix + key })), Quiet: true },
      // DeleteObjects requires a body checksum. Content-MD5 is what the S3 API
      // documents and what every S3-compatible store accepts (older MinIO, for
      // one, answers MissingContentMD5 to the SDK's default CRC32).
      ChecksumAlgorithm: "MD5",
    });
    guardWindow(command, window);
    try {
      // STORAGE_TIMEOUT, retries included: past it the lease may be running out.
      const response = await (await s3()).send(command, { abortSignal: window.signal });
      const sent = new Set(keys);
      for (const error of response.Errors ?? []) {
        const key = error.Key?.startsWith(prefix) ? error.Key.slice(prefix.length) : error.Key;
        if (key === undefined || !sent.has(key)) {
          // An error we cannot pin on a key we sent: no key of the request is known deleted.
          const message = `DeleteObjects answered an error for an unknown key: ${error.Code ?? "Error"}`;
          const detail = `${message} (key ${JSON.stringify(error.Key)}: ${error.Message ?? "no message"})`;
          for (const k of keys) failures.set(k, { code: "STORAGE_ERROR", message, detail });
          return;
        }
        // NoSuchKey means already gone: that is success.
        if (error.Code !== "NoSuchKey") {
          const code = error.Code ?? "Error";
          failures.set(key, {
            code: code === "AccessDenied" ? "PERMISSION_DENIED" : "STORAGE_ERROR",
            message: `deleting key ${JSON.stringify(key)} failed: ${code}${safeText(error.Message)}`,
            detail: `${code}: ${error.Message ?? "no message"}`,
          });
        }
      }
    } catch (error) {
      const failure = requestFailure(error, window.signal.aborted, safeText);
      for (const key of keys) failures.set(key, failure);
    }
  }

  const parts: S3Parts = {
    storeName: name,
    bucket: options.bucket,
    prefix,
    maxObjects: MAX_KEYS_PER_REQUEST,
    sdk: loadSdk,
    s3,
    guardWindow,
    isWindowClosed: (error) => error instanceof WindowClosedError,
    failure: (error, window, what) => requestFailure(error, window?.signal.aborted ?? false, safeText, what),
    deleteChunk,
  };

  return {
    name,
    keysPerRequest: MAX_KEYS_PER_REQUEST,
    ...createS3Trash(parts),
    // S3 cannot tell two objects at one key apart without a request per key: the lease is the fence.
    note: async () => undefined,
    async deleteMany(keys, window) {
      if (keys.length > MAX_KEYS_PER_REQUEST)
        throw new Error(`S3 store ${name}: at most ${MAX_KEYS_PER_REQUEST} keys a call`);
      const failed = new Map<string, StoreFailure>();
      const safe = checked(keys, assertSafeKey, (key) => key, failed);
      if (safe.length === 0) return { failed, notAttempted: [] };
      // The SDK and the client (credentials) first, so the window check is the last thing before sending.
      await s3();
      if (!isBefore(window.closes)) return { failed, notAttempted: safe };
      await deleteChunk(safe, window, failed);
      return { failed, notAttempted: [] };
    },
    async list(keyPrefix, after, limit) {
      if (limit > MAX_KEYS_PER_REQUEST) throw new Error(`S3 store ${name}: list takes at most ${MAX_KEYS_PER_REQUEST}`);
      const { ListObjectsV2Command } = await loadSdk();
      // One ListObjectsV2 page, in S3's byte order of the keys, after the store's prefix + `after`.
      const response = await (await s3()).send(
        new ListObjectsV2Command({
          Bucket: options.bucket,
          Prefix: prefix + keyPrefix,
          StartAfter: after === "" ? undefined : prefix + after,
          MaxKeys: limit,
        }),
      );
      const objects: ListedObject[] = [];
      let last: string | undefined;
      for (const item of response.Contents ?? []) {
        if (item.Key === undefined || !item.Key.startsWith(prefix)) continue;
        const key = item.Key.slice(prefix.length);
        last = key;
        // The trash's copies are no media's objects.
        if (startsInTrash(key)) continue;
        objects.push({ key, sizeBytes: item.Size ?? 0, modifyTime: item.LastModified ?? new Date(0) });
      }
      return { objects, last, done: response.IsTruncated !== true };
    },
    async open(key) {
      assertSafeKey(key);
      const { GetObjectCommand } = await loadSdk();
      try {
        const response = await (await s3()).send(new GetObjectCommand({ Bucket: options.bucket, Key: prefix + key }));
        // In Node the SDK's body is an http.IncomingMessage, a Readable.
        return { body: response.Body as Readable, size: response.ContentLength };
      } catch (error) {
        if ((error as Error).name === "NoSuchKey") return undefined;
        throw error;
      }
    },
  };
}
