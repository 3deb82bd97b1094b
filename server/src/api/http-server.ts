import http from "node:http";
import type { AddressInfo } from "node:net";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import type { ServiceBinding } from "./grpc-server.ts";

export interface HttpServerOptions {
  readonly services: readonly ServiceBinding[];
  readonly maxMessageBytes: number;
  /** Answers every request that is not an RPC (health, the dashboard). */
  readonly fallback: NonNullable<Parameters<typeof connectNodeAdapter>[0]["fallback"]>;
}

export interface HttpServer {
  readonly server: http.Server;
  listen(host: string, port: number): Promise<number>;
  /** Lets in-flight requests finish for up to graceMs, then cuts every connection. */
  close(graceMs: number): Promise<void>;
}

/** Connect, gRPC-Web (and gRPC where the client manages it over HTTP/1.1) on one HTTP/1.1 port. */
export function createHttpServer(options: HttpServerOptions): HttpServer {
  const handler = connectNodeAdapter({
    routes(router) {
      for (const binding of options.services) router.service(binding.service, binding.impl);
    },
    readMaxBytes: options.maxMessageBytes,
    fallback: options.fallback,
  });
  const server = http.createServer(handler);
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
        server.close((error) => {
          clearTimeout(force);
          if (error) reject(error);
          else resolve();
        });
        server.closeIdleConnections();
      }),
  };
}
