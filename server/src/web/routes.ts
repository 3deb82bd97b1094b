import type http from "node:http";
import type { HttpServerOptions } from "../api/http-server.js";
import type { Logger } from "../logger.js";
import type { DashboardHandler } from "./dashboard.js";
import { isPreviewPath, type PreviewHandler } from "./preview.js";

// Everything on the HTTP port that is not an RPC: health, previews, the dashboard.

export function createWebRoutes(
  dashboard: DashboardHandler,
  preview: PreviewHandler,
  log: Logger,
): HttpServerOptions["fallback"] {
  return (anyReq, anyRes) => {
    // The HTTP port is plain HTTP/1.1 (createHttpServer), never HTTP/2.
    const req = anyReq as http.IncomingMessage;
    const res = anyRes as http.ServerResponse;
    const pathname = new URL(req.url ?? "/", "http://localhost").pathname;
    if (pathname === "/healthz") {
      res.writeHead(200, { "content-type": "text/plain" });
      res.end("ok\n");
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(404, { "content-type": "text/plain" });
      res.end("not found\n");
      return;
    }
    const handler = isPreviewPath(pathname) ? preview : dashboard;
    handler(req, res, pathname).catch((err) => {
      log.error({ err, path: pathname }, "web request failed");
      if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
      res.end("internal error\n");
    });
  };
}
