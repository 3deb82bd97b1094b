// createMediaClient: what another service installs to call the media service.
// Built by `tsc -p proto/tsconfig.json` (the package's prepack) into dist/,
// so the installed package is JavaScript with type declarations; inside the
// repository nothing imports it (the workspaces use the generated code).
import type * as http from "node:http";
import type * as http2 from "node:http2";
import type * as https from "node:https";
import { type Client, createClient, type Interceptor, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { AdminService } from "../gen/media/v1/admin_service_pb.js";
import { MediaService } from "../gen/media/v1/media_service_pb.js";

export * from "../gen/media/v1/admin_service_pb.js";
export * from "../gen/media/v1/media_pb.js";
export * from "../gen/media/v1/media_service_pb.js";

/** Applies to every call that sets no `timeoutMs` of its own: the service asks callers to always set one. */
export const DEFAULT_TIMEOUT_MS = 10_000;

interface CommonOptions {
  /**
   * Milliseconds before a call without its own `timeoutMs` fails with DEADLINE_EXCEEDED
   * (default DEFAULT_TIMEOUT_MS; 0 for none). The service refuses deadlines over its MAX_DEADLINE (2 minutes).
   */
  defaultTimeoutMs?: number;
  /** More interceptors, run after the one that sets the token (logging, request ids, retries). */
  interceptors?: Interceptor[];
}

/** gRPC over HTTP/2 to the service's gRPC port (50051 by default): what services should use. */
export interface GrpcOptions extends CommonOptions {
  protocol?: "grpc";
  /** For node:http2's connect(): TLS settings (`ca`, and `cert` with `key` for mutual TLS) with an https:// URL. */
  nodeOptions?: http2.ClientSessionOptions | http2.SecureClientSessionOptions;
}

/** The Connect protocol over HTTP/1.1 to the service's HTTP port (8080 by default), e.g. through an HTTP/1.1-only proxy. */
export interface ConnectOptions extends CommonOptions {
  protocol: "connect";
  /** For node:http's or node:https's request(): an `agent`, TLS settings. */
  nodeOptions?: Omit<http.RequestOptions, "signal"> | Omit<https.RequestOptions, "signal">;
}

export type MediaClientOptions = GrpcOptions | ConnectOptions;

export interface MediaClient {
  /** MediaService: any token scope but `metrics`. */
  readonly media: Client<typeof MediaService>;
  /** AdminService: needs a token with `admin` scope. */
  readonly admin: Client<typeof AdminService>;
  /** The transport both clients share, for clients of other services on the same port (grpc.health.v1). */
  readonly transport: Transport;
  /** Closes the gRPC connection and fails the calls still on it (a no-op for the Connect protocol). */
  close(): void;
}

/**
 * Connect clients for MediaService and AdminService that send
 * `authorization: Bearer <token>` on every call.
 *
 * @param url the service's base URL: `http://media:50051` (gRPC port, the default protocol),
 *   `https://…` for TLS, or the HTTP port with `{ protocol: "connect" }`
 * @param token an API token (`service` scope for MediaService, `admin` for AdminService)
 */
export function createMediaClient(url: string, token: string, options: MediaClientOptions = {}): MediaClient {
  if (token.trim() === "") throw new TypeError("createMediaClient: the token is empty");
  if (/[\r\n\0]/.test(token)) throw new TypeError("createMediaClient: the token contains a line break or NUL");
  const bearer: Interceptor = (next) => (req) => {
    req.header.set("authorization", `Bearer ${token}`);
    return next(req);
  };
  const interceptors = [bearer, ...(options.interceptors ?? [])];
  const timeout = options.defaultTimeoutMs ?? DEFAULT_TIMEOUT_MS;
  const defaultTimeoutMs = timeout > 0 ? timeout : undefined;

  let transport: Transport;
  let close = () => {};
  if (options.protocol === "connect") {
    transport = createConnectTransport({
      baseUrl: url,
      httpVersion: "1.1",
      interceptors,
      defaultTimeoutMs,
      ...(options.nodeOptions === undefined ? {} : { nodeOptions: options.nodeOptions }),
    });
  } else {
    // Our own session manager, so that close() can end the connection.
    const sessionManager = new Http2SessionManager(url, {}, options.nodeOptions);
    transport = createGrpcTransport({ baseUrl: url, sessionManager, interceptors, defaultTimeoutMs });
    close = () => sessionManager.abort();
  }
  return {
    media: createClient(MediaService, transport),
    admin: createClient(AdminService, transport),
    transport,
    close,
  };
}
