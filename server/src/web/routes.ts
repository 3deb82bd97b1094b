import type http from "node:http";
import type { HttpServerOptions } from "../api/http-server.js";
import type { Logger } from "../logger.js";
import type { DashboardHandler } from "./dashboard.js";
import { isPreviewPath, type PreviewHandler } from "./preview.js";

// Everything on the HTTP port that is not an RPC: health, previews, the dashboard.

function answer(res: http.ServerResponse, status: number, body: string, headers: http.OutgoingHttpHeaders = {}) {
  res.writeHead(status, { "content-type": "text/plain; charset=utf-8", ...headers });
  res.end(body);
}

/** The request's path, or undefined when the request target is not a valid URL path. */
function pathOf(req: http.IncomingMessage): string | undefined {
  try {
    return new URL(req.url ?? "/", "http://localhost").pathname;
  } catch {
    return undefined;
  }
}

export function createWebRoutes(
  dashboard: DashboardHandler,
  preview: PreviewHandler,
  log: Logger,
): HttpServerOptions["fallback"] {
  return (anyReq, anyRes) => {
    // The HTTP port is plain HTTP/1.1 (createHttpServer), never HTTP/2.
    const req = anyReq as http.IncomingMessage;
    const res = anyRes as http.ServerResponse;
    const pathname = pathOf(req);
    if (pathname === undefined) return answer(res, 400, "bad request target\n");
    if (pathname === "/healthz") return answer(res, 200, "ok\n");
    if (req.method !== "GET" && req.method !== "HEAD") {
      return answer(res, 405, "method not allowed\n", { allow: "GET, HEAD" });
    }
    const handler = isPreviewPath(pathname) ? preview : dashboard;
    handler(req, res, pathname).catch((err) => {
      log.error({ err, path: pathname }, "web request failed");
      if (res.headersSent) res.destroy();
      else answer(res, 500, "internal error\n");
    });
  };
}
