import type http from "node:http";
import type { HttpServerOptions } from "../api/http-server.ts";
import { type Authenticator, grants, type Permission } from "../auth/tokens.ts";
import type { Logger } from "../logger.ts";
import type { DashboardHandler } from "./dashboard.ts";
import { isPreviewPath, type PreviewHandler } from "./preview.ts";
import type { Readiness } from "./probes.ts";

// Everything on the HTTP port that is not an RPC: probes, metrics, previews, the dashboard.

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

/** Prometheus text exposition, from the metrics registry. */
export interface MetricsSource {
  readonly contentType: string;
  text(): Promise<string>;
}

export interface WebRoutes {
  readonly log: Logger;
  readonly authenticator: Authenticator;
  readonly readiness: () => Promise<Readiness>;
  readonly metrics: MetricsSource;
  /** Absent on a worker-only process, which serves probes and metrics alone. */
  readonly preview?: PreviewHandler;
  readonly dashboard?: DashboardHandler;
}

/** Answers 401, 403 or 429 and returns false unless the request carries a token with the permission. */
function authorized(req: http.IncomingMessage, res: http.ServerResponse, routes: WebRoutes, needs: Permission) {
  const auth = routes.authenticator.authenticate(req.headers.authorization, req.socket.remoteAddress);
  if (!auth.ok && auth.reason === "throttled") {
    answer(
      res,
      429,
      `too many requests without a valid API token from ${auth.peer}; retry in ${auth.retryAfterSeconds}s\n`,
      {
        "retry-after": String(auth.retryAfterSeconds),
      },
    );
    return false;
  }
  if (!auth.ok) {
    answer(res, 401, "an API token is needed: send authorization: Bearer <token>\n", {
      "www-authenticate": 'Bearer realm="media"',
    });
    return false;
  }
  if (!grants(auth.token, needs)) {
    answer(res, 403, `token "${auth.token.name}" needs ${needs} scope for this\n`);
    return false;
  }
  return true;
}

export function createWebRoutes(routes: WebRoutes): HttpServerOptions["fallback"] {
  const { log } = routes;
  const handle = async (req: http.IncomingMessage, res: http.ServerResponse, pathname: string) => {
    if (pathname === "/readyz") {
      const readiness = await routes.readiness();
      res.writeHead(readiness.ready ? 200 : 503, { "content-type": "application/json", "cache-control": "no-store" });
      res.end(`${JSON.stringify({ status: readiness.ready ? "ready" : "not ready", ...readiness.checks })}\n`);
      return;
    }
    if (pathname === "/metrics") {
      if (!authorized(req, res, routes, "metrics")) return;
      const body = await routes.metrics.text();
      res.writeHead(200, { "content-type": routes.metrics.contentType, "cache-control": "no-store" });
      res.end(body);
      return;
    }
    if (isPreviewPath(pathname) && routes.preview !== undefined) {
      if (!authorized(req, res, routes, "admin")) return;
      return routes.preview(req, res, pathname);
    }
    if (routes.dashboard !== undefined) return routes.dashboard(req, res, pathname);
    answer(res, 404, "not found\n");
  };
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
    handle(req, res, pathname).catch((err) => {
      log.error({ err, path: pathname }, "web request failed");
      if (res.headersSent) res.destroy();
      else answer(res, 500, "internal error\n");
    });
  };
}
