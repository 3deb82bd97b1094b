import type http from "node:http";
import { pipeline } from "node:stream/promises";
import type { Logger } from "../logger.js";
import type { MediaLoader } from "../media/media-loader.js";
import type { ObjectStore } from "../storage/index.js";

// GET /preview/<id>: the bytes of an image media, for the dashboard's detail
// view. Only image/* content types are served, under a policy that lets no
// script run (an SVG is an image that can carry one).

export type PreviewHandler = (req: http.IncomingMessage, res: http.ServerResponse, pathname: string) => Promise<void>;

const PREVIEW_PATH = /^\/preview\/([1-9][0-9]{0,18})$/;

export const isPreviewPath = (pathname: string) => pathname.startsWith("/preview/");

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
    if (!media.content_type.startsWith("image/")) {
      return refuse(res, 415, `media ${id} is ${media.content_type || "of unknown type"}; only images have previews`);
    }
    const store = stores.get(media.store);
    if (store === undefined) return refuse(res, 404, `store ${media.store} is not configured on this server`);
    let object: Awaited<ReturnType<ObjectStore["open"]>>;
    try {
      object = await store.open(media.key);
    } catch (err) {
      log.warn({ err, mediaId: id }, "preview: could not open the file");
      return refuse(res, 502, `the file of media ${id} could not be read from store ${media.store}`);
    }
    if (object === undefined) return refuse(res, 404, `the file of media ${id} is missing from store ${media.store}`);
    res.writeHead(200, {
      "content-type": media.content_type,
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
    await pipeline(object.body, res).catch((err) => log.debug({ err, mediaId: id }, "preview: stream ended early"));
  };
}
