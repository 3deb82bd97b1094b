import type http from "node:http";
import { pipeline } from "node:stream/promises";
import type { Logger } from "../logger.ts";
import type { MediaLoader } from "../media/media-loader.ts";
import type { ObjectStore, StoredObject } from "../storage/index.ts";

// GET /preview/<id>: the bytes of an image media, for the dashboard's detail
// view. content_type is whatever the caller registered, so it is never echoed:
// only a known image type is served, under its canonical name, with a policy
// that lets no script run (an SVG is an image that can carry one).

export type PreviewHandler = (req: http.IncomingMessage, res: http.ServerResponse, pathname: string) => Promise<void>;

const PREVIEW_PATH = /^\/preview\/([1-9][0-9]{0,17})$/;

const IMAGE_TYPES = new Set([
  "image/png",
  "image/jpeg",
  "image/gif",
  "image/webp",
  "image/avif",
  "image/svg+xml",
  "image/bmp",
]);

export const isPreviewPath = (pathname: string) => pathname.startsWith("/preview/");

/** The canonical image type of a registered content type ("Image/PNG; q=1" -> "image/png"), if it is one we show. */
function previewType(contentType: string): string | undefined {
  const base = contentType.split(";")[0]?.trim().toLowerCase() ?? "";
  return IMAGE_TYPES.has(base) ? base : undefined;
}

function refuse(res: http.ServerResponse, status: number, message: string): void {
  res.writeHead(status, { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" });
  res.end(`${message}\n`);
}

export function createPreviewHandler(
  loader: MediaLoader,
  stores: ReadonlyMap<string, ObjectStore>,
  log: Logger,
): PreviewHandler {
  return async (req, res, pathname) => {
    const id = PREVIEW_PATH.exec(pathname)?.[1];
    if (id === undefined) return refuse(res, 404, "not found: use /preview/<media id>");
    const media = await loader.load(id);
    if (media === undefined) return refuse(res, 404, `media ${id} not found`);
    // A tombstone's key is free: the file there now may be another media's.
    if (media.state === "TRASHED") return refuse(res, 404, `media ${id} is in the trash: restore it to preview it`);
    const type = previewType(media.content_type);
    if (type === undefined) return refuse(res, 415, `media ${id} is not an image with a preview`);
    const store = stores.get(media.store);
    if (store === undefined) return refuse(res, 404, `store ${media.store} is not configured on this server`);
    let object: StoredObject | undefined;
    try {
      object = await store.open(media.key);
    } catch (err) {
      log.warn({ err, mediaId: id }, "preview: could not open the file");
      return refuse(res, 502, `the file of media ${id} could not be read from store ${media.store}`);
    }
    if (object === undefined) return refuse(res, 404, `the file of media ${id} is missing from store ${media.store}`);
    res.writeHead(200, {
      "content-type": type,
      ...(object.size === undefined ? {} : { "content-length": object.size }),
      "cache-control": "private, max-age=60",
      "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; sandbox",
      "x-content-type-options": "nosniff",
    });
    if (req.method === "HEAD") {
      object.body.destroy();
      res.end();
      return;
    }
    // pipeline destroys the file stream (and frees its handle or socket) however the response ends.
    await pipeline(object.body, res).catch((err) => log.debug({ err, mediaId: id }, "preview: stream ended early"));
  };
}
