// The STORES grammar: a comma-separated list of NAME=URL (file:PATH[?trashRetention=D] or
// s3://BUCKET[/PREFIX]?options) read into the named store configs, or the default disk store under
// DATA_DIR when unset.
import path from "node:path";
import type { StoreConfig } from "../config.ts";
import { ConfigError, parseDurationSeconds } from "./values.ts";

const STORE_NAME = /^[a-z][a-z0-9_-]{0,62}$/;
const STORES_FORM =
  'STORES is a comma-separated list of NAME=URL, for example "default=file:./media,photos=s3://bucket/prefix?region=eu-west-1&endpoint=http://localhost:9000&forcePathStyle=true"';

/** The trashRetention option of a store's URL, in seconds; undefined when absent. */
function trashRetentionOption(name: string, options: URLSearchParams): number | undefined {
  const raw = options.get("trashRetention");
  if (raw === null) return undefined;
  const seconds = parseDurationSeconds(raw);
  if (seconds === undefined || seconds > MAX_TRASH_RETENTION_SECONDS) {
    throw new ConfigError(
      `STORES: store "${name}" trashRetention="${raw}" is not a duration up to 3650d (forms like 0, 12h, 7d, 30d)`,
    );
  }
  return seconds;
}

const MAX_TRASH_RETENTION_SECONDS = 3650 * 86400;

/** Refuses any option of a store URL but the known ones. */
function checkOptions(name: string, options: URLSearchParams, allowed: readonly string[]): void {
  for (const key of options.keys()) {
    if (!allowed.includes(key)) {
      throw new ConfigError(`STORES: store "${name}" has unknown option "${key}" (known: ${allowed.join(", ")})`);
    }
  }
}

/**
 * Parses one store URL: file:PATH[?trashRetention=D] (PATH absolute or relative
 * to cwd; a "?" starts the options, so a folder name cannot hold one) or
 * s3://BUCKET[/PREFIX]?options.
 */
function parseStore(name: string, url: string, cwd: string): StoreConfig {
  if (url.startsWith("file:")) {
    const [rest = "", query] = url.slice("file:".length).split(/\?(.*)/s, 2);
    const root = rest.replace(/^\/\/(?=\/)/, "");
    if (root === "") throw new ConfigError(`STORES: store "${name}" needs a folder after file:`);
    const options = new URLSearchParams(query ?? "");
    checkOptions(name, options, ["trashRetention"]);
    return Object.freeze({
      name,
      kind: "disk",
      root: path.resolve(cwd, root),
      createRoot: false,
      trashRetentionSeconds: trashRetentionOption(name, options),
    });
  }
  if (url.startsWith("s3://")) {
    if (!URL.canParse(url)) throw new ConfigError(`STORES: store "${name}" URL "${url}" is not a valid URL`);
    const parsed = new URL(url);
    checkOptions(name, parsed.searchParams, ["region", "endpoint", "forcePathStyle", "trashRetention"]);
    const endpoint = parsed.searchParams.get("endpoint") ?? undefined;
    if (endpoint !== undefined && !URL.canParse(endpoint)) {
      throw new ConfigError(`STORES: store "${name}" endpoint "${endpoint}" is not a URL`);
    }
    const pathStyle = parsed.searchParams.get("forcePathStyle") ?? "false";
    if (pathStyle !== "true" && pathStyle !== "false") {
      throw new ConfigError(`STORES: store "${name}" forcePathStyle must be true or false`);
    }
    if (parsed.hostname === "") throw new ConfigError(`STORES: store "${name}" needs a bucket: s3://BUCKET[/PREFIX]`);
    let prefix: string;
    try {
      prefix = decodeURIComponent(parsed.pathname.replace(/^\/+/, ""));
    } catch {
      throw new ConfigError(`STORES: store "${name}" prefix "${parsed.pathname}" is not valid percent-encoding`);
    }
    return Object.freeze({
      name,
      kind: "s3",
      bucket: parsed.hostname,
      prefix: prefix === "" || prefix.endsWith("/") ? prefix : `${prefix}/`,
      region: parsed.searchParams.get("region") ?? "us-east-1",
      endpoint,
      forcePathStyle: pathStyle === "true",
      trashRetentionSeconds: trashRetentionOption(name, parsed.searchParams),
    });
  }
  throw new ConfigError(`STORES: store "${name}" URL "${url}" must start with file: or s3://. ${STORES_FORM}`);
}

/** STORES, by name; unset or blank, the one "default" disk store in DATA_DIR/files (created when missing). */
export function parseStores(raw: string | undefined, dataDir: string, cwd: string): ReadonlyMap<string, StoreConfig> {
  const stores = new Map<string, StoreConfig>();
  if (raw === undefined || raw.trim() === "") {
    stores.set(
      "default",
      Object.freeze({
        name: "default",
        kind: "disk",
        root: path.join(dataDir, "files"),
        createRoot: true,
        trashRetentionSeconds: undefined,
      }),
    );
    return stores;
  }
  for (const entry of raw.split(",")) {
    const eq = entry.indexOf("=");
    const name = entry.slice(0, eq).trim();
    if (eq < 0 || !STORE_NAME.test(name)) {
      throw new ConfigError(
        `STORES entry "${entry.trim()}" needs a name of lowercase letters, digits, _ or - before "=". ${STORES_FORM}`,
      );
    }
    if (stores.has(name)) throw new ConfigError(`STORES names "${name}" twice`);
    stores.set(name, parseStore(name, entry.slice(eq + 1).trim(), cwd));
  }
  // Overlapping stores are refused when the stores are opened (storage/index.ts): by identity, which needs the file system.
  return stores;
}
