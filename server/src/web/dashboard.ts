import { readFile } from "node:fs/promises";
import type http from "node:http";
import path from "node:path";
import { gzipSync } from "node:zlib";
import type { Logger } from "../logger.ts";

// Serves the built dashboard (admin/dist) on the HTTP port, so one process and
// one URL give both the API and the UI. Assets are read once and kept, with a
// gzip copy (their names change with their content); index.html is read on
// every request, so a rebuild while the service runs takes effect at once.

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
const COMPRESSIBLE = new Set([".html", ".js", ".css", ".svg", ".json", ".txt"]);

// The dashboard's buttons change what gets deleted: no other site may frame it.
// Scripts come only from its own files: an SVG preview shown from a blob: URL
// (which inherits this policy), opened in a tab of its own, runs nothing.
const HTML_HEADERS = {
  "x-frame-options": "DENY",
  "content-security-policy":
    "default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; img-src 'self' blob: data:; " +
    "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
};

interface CachedFile {
  readonly type: string;
  readonly body: Buffer;
  readonly gzip: Buffer | undefined;
}

export type DashboardHandler = (req: http.IncomingMessage, res: http.ServerResponse, pathname: string) => Promise<void>;

const isMissing = (error: unknown) => ["ENOENT", "ENOTDIR"].includes((error as NodeJS.ErrnoException).code ?? "");

/**
 * GET/HEAD handler for the dashboard under root. Paths without a file
 * extension are client-side routes and get index.html; hashed files under
 * /assets/ are cached by browsers for a year. Only files found are kept in
 * memory, so the cache is bounded by the build and a build made after start-up
 * is picked up.
 */
export function createDashboardHandler(root: string, log: Logger): DashboardHandler {
  const cache = new Map<string, CachedFile>();

  async function load(file: string): Promise<CachedFile | undefined> {
    const hit = cache.get(file);
    if (hit !== undefined) return hit;
    let body: Buffer;
    try {
      body = await readFile(file);
    } catch (error) {
      if (!isMissing(error)) log.warn({ err: error, file }, "dashboard file unreadable");
      return undefined;
    }
    const extension = path.extname(file);
    const loaded = {
      type: CONTENT_TYPES[extension] ?? "application/octet-stream",
      body,
      gzip: COMPRESSIBLE.has(extension) && body.length > 1024 ? gzipSync(body) : undefined,
    };
    if (path.basename(file) !== "index.html") cache.set(file, loaded);
    return loaded;
  }

  return async (req, res, pathname) => {
    const isRoute = path.posix.extname(pathname) === "";
    const relative = isRoute ? "index.html" : path.posix.normalize(pathname).replace(/^\/+/, "");
    const found = relative.startsWith("..") ? undefined : await load(path.join(root, relative));
    if (found === undefined) {
      res.writeHead(isRoute ? 503 : 404, { "content-type": "text/plain; charset=utf-8" });
      res.end(isRoute ? "The dashboard is not built. Run: npm run build (or set DASHBOARD_DIR)\n" : "not found\n");
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
      ...(found.type.startsWith("text/html") ? HTML_HEADERS : {}),
    });
    res.end(req.method === "HEAD" ? undefined : body);
  };
}
