import { readFileSync } from "node:fs";
import path from "node:path";

// What this build is, for media_build_info and the start-up log line: read
// once, never by running git (the image and CI know the commit and say so in
// MEDIA_BUILD_COMMIT).

export interface BuildInfo {
  /** The root package.json's version, else server/package.json's; "unknown" when neither has one. */
  readonly version: string;
  /** process.version: "v24.11.0". */
  readonly node: string;
  /** MEDIA_BUILD_COMMIT (the Dockerfile's build argument of that name); undefined when unset or empty. */
  readonly commit: string | undefined;
}

const root = path.resolve(import.meta.dirname, "../..");

function packageVersion(file: string): string | undefined {
  try {
    const { version } = JSON.parse(readFileSync(file, "utf8")) as { version?: unknown };
    return typeof version === "string" && version !== "" ? version : undefined;
  } catch {
    return undefined;
  }
}

let cached: BuildInfo | undefined;

export function buildInfo(): BuildInfo {
  cached ??= Object.freeze({
    version:
      packageVersion(path.join(root, "package.json")) ??
      packageVersion(path.join(root, "server", "package.json")) ??
      "unknown",
    node: process.version,
    commit: process.env.MEDIA_BUILD_COMMIT?.trim() || undefined,
  });
  return cached;
}
