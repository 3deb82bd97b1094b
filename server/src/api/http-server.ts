import http from "node:http";
import type { AddressInfo } from "node:net";
import { createContextValues } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import type { ApiToken, LimitsConfig } from "../config.ts";
import { peerKey, tokenKey } from "./context.ts";
import type { ServiceBinding } from "./grpc-server.ts";
import type { CallHeaders } from "./guard.ts";
import { checkRequests, JSON_READ_OPTIONS, REQUEST_COMPRESSIONS } from "./http-request-check.ts";

export interface HttpServerOptions {
  readonly services: readonly ServiceBinding[];
  readonly maxMessageBytes: number;
  /** Answers every request that is not an RPC (health, the dashboard). */
  readonly fallback: NonNullable<Parameters<typeof connectNodeAdapter>[0]["fallback"]>;
  /** The token check (createCallGate), run on each call's headers before its body is read. */
  readonly gate: (call: CallHeaders) => ApiToken;
  /** REQUEST_TIMEOUT, IDLE_TIMEOUT and MAX_CONNECTIONS. */
  readonly limits: LimitsConfig;
}

// How often Node looks for requests over their timeout: its default (30 s) would
// stretch REQUEST_TIMEOUT by as much.
export const TIMEOUT_CHECK_MS = 1000;
// An RPC sends a handful of headers and a browser a few dozen; Node keeps up to 2,000.
const MAX_HEADERS = 100;

export interface HttpServer {
  readonly server: http.Server;
  listen(host: string, port: number): Promise<number>;
  /** Lets in-flight requests finish for up to graceMs, then cuts every connection. */
  close(graceMs: number): Promise<void>;
}

/**
 * An HTTP/1.1 server within LimitsConfig: a request that has not arrived in
 * full (headers included) within REQUEST_TIMEOUT is answered 408 and its
 * connection closed; an idle keep-alive connection is closed after
 * IDLE_TIMEOUT; connections over MAX_CONNECTIONS are closed as they arrive.
 */
export function createLimitedServer(limits: LimitsConfig, handler: http.RequestListener): http.Server {
  const requestTimeoutMs = limits.requestTimeoutSeconds * 1000;
  const server = http.createServer(
    {
      requestTimeout: requestTimeoutMs,
      headersTimeout: requestTimeoutMs,
      keepAliveTimeout: limits.idleTimeoutSeconds * 1000,
      connectionsCheckingInterval: TIMEOUT_CHECK_MS,
    },
    handler,
  );
  server.maxHeadersCount = MAX_HEADERS;
  server.maxConnections = limits.maxConnections;
  return server;
}

/** Connect, gRPC-Web (and gRPC where the client manages it over HTTP/1.1) on one HTTP/1.1 port. */
export function createHttpServer(options: HttpServerOptions): HttpServer {
  const handler = connectNodeAdapter({
    routes(router) {
      for (const binding of options.services) router.service(binding.service, binding.impl);
      checkRequests(router, options.maxMessageBytes);
    },
    readMaxBytes: options.maxMessageBytes,
    jsonOptions: JSON_READ_OPTIONS,
    acceptCompression: REQUEST_COMPRESSIONS,
    fallback: options.fallback,
    contextValues: (req) => createContextValues().set(peerKey, req.socket.remoteAddress),
    requestGate: (ctx) => {
      const call = {
        rpc: `${ctx.service.typeName}/${ctx.method.name}`,
        authorization: ctx.requestHeader.get("authorization"),
        requestId: ctx.requestHeader.get("x-request-id"),
        peer: ctx.values.get(peerKey),
      };
      ctx.values.set(tokenKey, options.gate(call));
    },
  });
  const server = createLimitedServer(options.limits, handler);
  return {
    server,
    listen: (host, port) =>
      new Promise((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, host, () => {
          server.off("error", reject);
          resolve((server.address() as AddressInfo).port);
        });
      }),
    close: (graceMs) =>
      new Promise((resolve, reject) => {
        const force = setTimeout(() => server.closeAllConnections(), graceMs);
        // A keep-alive connection whose last call finishes after this is idle, not closed: close
        // those as they come, rather than after IDLE_TIMEOUT.
        const idle = setInterval(() => server.closeIdleConnections(), 100);
        server.close((error) => {
          clearTimeout(force);
          clearInterval(idle);
          if (error) reject(error);
          else resolve();
        });
        server.closeIdleConnections();
      }),
  };
}
