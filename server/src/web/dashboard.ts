import { readFile } from "node:fs/promises";
import type http from "node:http";
import path from "node:path";
import { gzipSync } from "node:zlib";

// Serves the built dashboard (admin/dist) on the HTTP port, so one process and
// one URL give both the API and the UI. Files are read once and kept, with a
// gzip copy: the build is small and immutable while the process runs.

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".json": "application/json",
  ".txt": "text/plain; charset=utf-8",
  ".woff2": "font/woff2",
};

interface CachedFile {
  readonly type: string;
  readonly body: Buffer;
  readonly gzip: Buffer | undefined;
}

export type DashboardHandler = (req: http.IncomingMessage, res: http.ServerResponse, pathname: string) => Promise<void>;

/**
 * GET/HEAD handler for the dashboard under root. Paths without a file
 * extension are client-side routes and get index.html; hashed files under
 * /assets/ are cached by browsers for a year.
 */
export function createDashboardHandler(root: string): DashboardHandler {
  const cache = new Map<string, Promise<CachedFile | undefined>>();

  async function load(file: string): Promise<CachedFile | undefined> {
    const body = await readFile(file).catch(() => undefined);
    if (body === undefined) return undefined;
    const type = CONTENT_TYPES[path.extname(file)] ?? "application/octet-stream";
    const compressible = !type.startsWith("image/png") && body.length > 1024;
    return { type, body, gzip: compressible ? gzipSync(body) : undefined };
  }

  function cached(file: string): Promise<CachedFile | undefined> {
    let entry = cache.get(file);
    if (entry === undefined) {
      entry = load(file);
      cache.set(file, entry);
    }
    return entry;
  }

  return async (req, res, pathname) => {
    const isRoute = path.posix.extname(pathname) === "";
    const relative = isRoute ? "index.html" : path.posix.normalize(pathname).replace(/^\/+/, "");
    const file = path.join(root, relative);
    const found = relative.startsWith("..") ? undefined : await cached(file);
    if (found === undefined) {
      const missingBuild = isRoute;
      res.writeHead(missingBuild ? 503 : 404, { "content-type": "text/plain; charset=utf-8" });
      res.end(missingBuild ? `The dashboard is not built (no ${file}). Run: npm run build\n` : "not found\n");
      return;
    }
    const gzip = found.gzip !== undefined && /\bgzip\b/.test(req.headers["accept-encoding"] ?? "");
    const body = gzip ? (found.gzip as Buffer) : found.body;
    res.writeHead(200, {
      "content-type": found.type,
      "content-length": body.length,
      "cache-control": relative.startsWith("assets/") ? "public, max-age=31536000, immutable" : "no-cache",
      "x-content-type-options": "nosniff",
      vary: "accept-encoding",
      ...(gzip ? { "content-encoding": "gzip" } : {}),
    });
    res.end(req.method === "HEAD" ? undefined : body);
  };
}
