import { type Http2Server, constants as http2Constants, type ServerHttp2Stream, type ServerOptions } from "node:http2";
import { create, type DescMethod, type DescService, fromBinary, toBinary } from "@bufbuild/protobuf";
import { ConnectError, createContextValues, createHandlerContext } from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import type { ApiToken, GrpcTlsConfig, LimitsConfig } from "../config.ts";
import { binaryProblem } from "./binary-request-problems.ts";
import { tokenKey } from "./context.ts";
import { malformedRequest } from "./errors.ts";
import { grpcErrorStatus } from "./grpc-status.ts";
import type { CallHeaders, UnaryHandler } from "./guard.ts";
import { createHealth, type Health } from "./health.ts";
import { addReflection } from "./reflection.ts";

/** A service descriptor and its (guarded) implementation, as served on both ports. */
export interface ServiceBinding {
  readonly service: DescService;
  // biome-ignore lint/suspicious/noExplicitAny: implementations are checked where bindings are built
  readonly impl: any;
}

const CALL_FINISHED = new Error("call finished");

/**
 * What requestDeserialize returns for bytes that are not a valid message:
 * grpc-js would answer a throwing deserializer with INTERNAL, but a malformed
 * request is the caller's mistake, so the handler answers INVALID_ARGUMENT
 * naming the field (as the HTTP port does).
 */
class MalformedRequest {
  readonly error: ConnectError;
  constructor(error: ConnectError) {
    this.error = error;
  }
}

function metadataToHeaders(metadata: grpc.Metadata): Headers {
  const headers = new Headers();
  for (const [key, value] of Object.entries(metadata.getMap())) {
    if (typeof value === "string") headers.append(key, value);
  }
  return headers;
}

/**
 * Node's HTTP/2 layer silently drops a header whose value starts or ends with
 * whitespace (RFC 9113 calls such a field malformed), so a padded
 * `authorization` would arrive here as missing while HTTP/1.1 strips the
 * padding on the other port. grpc-js has no option for Node's switch, but
 * builds every listener's HTTP/2 server from these options (a test covers it).
 */
function keepPaddedHeaders(server: grpc.Server): void {
  const options = (server as unknown as { commonServerOptions?: ServerOptions }).commonServerOptions;
  if (options === undefined) throw new Error("grpc-js no longer exposes commonServerOptions: padded headers are lost");
  options.strictFieldWhitespaceValidation = false;
}

function remainingMs(deadline: grpc.Deadline): number | undefined {
  const at = deadline instanceof Date ? deadline.getTime() : deadline;
  return Number.isFinite(at) ? Math.max(0, at - Date.now()) : undefined;
}

/** A grpc-js method definition that (de)serialises with protobuf-es. */
function methodDefinition(service: DescService, method: DescMethod): grpc.MethodDefinition<unknown, unknown> {
  return {
    path: `/${service.typeName}/${method.name}`,
    requestStream: false,
    responseStream: false,
    // create() accepts init objects and returns existing messages unchanged.
    requestSerialize: (message) => Buffer.from(toBinary(method.input, create(method.input, message as never))),
    requestDeserialize: (bytes) => {
      try {
        return fromBinary(method.input, bytes);
      } catch {
        return new MalformedRequest(malformedRequest(method.input.typeName, binaryProblem(method.input, bytes)));
      }
    },
    responseSerialize: (message) => Buffer.from(toBinary(method.output, create(method.output, message as never))),
    responseDeserialize: (bytes) => fromBinary(method.output, bytes),
  };
}

/** The grpc-js definition of a protobuf-es service: what servers serve and generic clients call. */
export function grpcServiceDefinition(service: DescService): grpc.ServiceDefinition {
  const definition: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const method of service.methods) {
    if (method.methodKind !== "unary") throw new Error(`${method.name}: only unary methods are supported`);
    definition[method.localName] = methodDefinition(service, method);
  }
  return definition as grpc.ServiceDefinition;
}

/**
 * Adapts a Connect service implementation to grpc-js: the same handler objects
 * answer on both ports, with a HandlerContext carrying the deadline, the
 * cancellation signal and the request metadata. Connect codes are gRPC codes.
 */
function addService(server: grpc.Server, binding: ServiceBinding, admitted: Admitted): void {
  const definition = grpcServiceDefinition(binding.service);
  const handlers: grpc.UntypedServiceImplementation = {};
  for (const method of binding.service.methods) {
    const impl = binding.impl[method.localName] as UnaryHandler;
    handlers[method.localName] = (
      call: grpc.ServerUnaryCall<unknown, unknown>,
      callback: grpc.sendUnaryData<unknown>,
    ) => {
      if (call.request instanceof MalformedRequest) {
        callback(grpcErrorStatus(call.request.error));
        return;
      }
      const cancelled = new AbortController();
      // grpc-js reports every call cancelled once its trailers are sent: only one that comes before
      // the handler has settled is the client's (and an abort without a reason builds a DOMException).
      let settled = false;
      call.on("cancelled", () => {
        if (!settled) cancelled.abort();
      });
      const ctx = createHandlerContext({
        service: binding.service,
        method,
        protocolName: "grpc",
        requestMethod: "POST",
        url: definition[method.localName]?.path ?? "",
        timeoutMs: remainingMs(call.getDeadline()),
        requestSignal: cancelled.signal,
        requestHeader: metadataToHeaders(call.metadata),
        contextValues: createContextValues().set(tokenKey, admitted.get(call.metadata)),
      });
      const answer: grpc.sendUnaryData<unknown> = (...args) => {
        settled = true;
        callback(...args);
      };
      impl(call.request, ctx)
        .then(
          (response) => answer(null, response),
          // Code, message, trailers and the details (grpc-status-details-bin).
          (error: unknown) => answer(grpcErrorStatus(ConnectError.from(error))),
        )
        // Releases the context's deadline timer. A reason avoids building a DOMException per call.
        .finally(() => ctx.abort(CALL_FINISHED));
    };
  }
  server.addService(definition, handlers);
}

/** The token each call's gate accepted, by the metadata object grpc-js then hands the handler. */
type Admitted = WeakMap<grpc.Metadata, ApiToken>;

const firstValue = (metadata: grpc.Metadata, key: string): string | null => {
  const value = metadata.get(key)[0];
  return typeof value === "string" ? value : null;
};

/**
 * Runs the gate on the metadata of each call to the guarded services, before
 * grpc-js reads its message: a refused call is answered at once, unread.
 */
function gateInterceptor(
  paths: ReadonlySet<string>,
  gate: (call: CallHeaders) => ApiToken,
  admitted: Admitted,
): grpc.ServerInterceptor {
  return (method, call) => {
    if (!paths.has(method.path)) return new grpc.ServerInterceptingCall(call);
    const onReceiveMetadata: grpc.FullServerListener["onReceiveMetadata"] = (metadata, pass) => {
      let token: ApiToken;
      try {
        token = gate({
          rpc: method.path.slice(1),
          authorization: firstValue(metadata, "authorization"),
          requestId: firstValue(metadata, "x-request-id"),
          peer: call.getConnectionInfo().remoteAddress,
        });
      } catch (error) {
        // Its trailers (retry-after, x-request-id) and details (grpc-status-details-bin) with it.
        call.sendStatus(grpcErrorStatus(ConnectError.from(error)));
        return;
      }
      admitted.set(metadata, token);
      pass(metadata);
    };
    return new grpc.ServerInterceptingCall(call, { start: (next) => next({ onReceiveMetadata }) });
  };
}

// Connections are closed (GOAWAY; clients reconnect) after about this long, so
// that clients spread over replicas again; calls in flight get MAX_DEADLINE.
const MAX_CONNECTION_AGE_MS = 30 * 60_000;
// What grpc-js takes for "no limit": a longer grace would overflow Node's timers and end at once.
const UNLIMITED_MS = 2 ** 31 - 1;
// A ping this often, unanswered for the timeout, finds a vanished peer's connection.
const KEEPALIVE_MS = 60_000;
const KEEPALIVE_TIMEOUT_MS = 20_000;

/** Resets a stream whose request has not arrived in full (the client's END_STREAM) within timeoutMs. */
function resetIfIncomplete(stream: ServerHttp2Stream, timeoutMs: number): void {
  const timer = setTimeout(() => {
    if (!stream.destroyed && stream.state.remoteClose !== 1) stream.close(http2Constants.NGHTTP2_CANCEL);
  }, timeoutMs);
  stream.once("close", () => clearTimeout(timer));
}

/**
 * grpc-js keeps its HTTP/2 servers to itself, caps no connections, and waits
 * forever for the end of a request that never completes, even after answering
 * it. The servers it binds are reached here (a test covers it), to be limited
 * once bound (limitTransport).
 */
function http2ServersOf(server: grpc.Server): ReadonlyMap<Http2Server, unknown> {
  const servers = (server as unknown as { http2Servers?: Map<Http2Server, unknown> }).http2Servers;
  if (servers === undefined) throw new Error("grpc-js no longer exposes http2Servers: connection limits cannot be set");
  return servers;
}

/** MAX_CONNECTIONS, and REQUEST_TIMEOUT per stream, on the bound HTTP/2 servers. */
function limitTransport(servers: ReadonlyMap<Http2Server, unknown>, limits: LimitsConfig): void {
  for (const http2Server of servers.keys()) {
    http2Server.maxConnections = limits.maxConnections;
    http2Server.on("stream", (stream: ServerHttp2Stream) =>
      resetIfIncomplete(stream, limits.requestTimeoutSeconds * 1000),
    );
  }
}

export interface GrpcServerOptions {
  readonly services: readonly ServiceBinding[];
  readonly maxMessageBytes: number;
  /** TLS, and mutual TLS when a client CA is given; plaintext when undefined. */
  readonly tls: GrpcTlsConfig | undefined;
  /** The token check (createCallGate), run on each call's metadata before its message is read. */
  readonly gate: (call: CallHeaders) => ApiToken;
  /** Streams, connections and their timeouts (MAX_CONCURRENT_STREAMS, MAX_CONNECTIONS, *_TIMEOUT, MAX_DEADLINE). */
  readonly limits: LimitsConfig;
}

function serverCredentials(tls: GrpcTlsConfig | undefined): grpc.ServerCredentials {
  if (tls === undefined) return grpc.ServerCredentials.createInsecure();
  return grpc.ServerCredentials.createSsl(
    tls.clientCa ?? null,
    [{ private_key: tls.key, cert_chain: tls.cert }],
    tls.clientCa !== undefined,
  );
}

export interface GrpcServer {
  readonly server: grpc.Server;
  readonly health: Health;
  /** Binds and returns the port actually used (useful with port 0). */
  listen(host: string, port: number): Promise<number>;
  /** Ends health watches, lets in-flight calls finish for up to graceMs, then cuts whatever is left. */
  close(graceMs: number): Promise<void>;
}

export function createGrpcServer(options: GrpcServerOptions): GrpcServer {
  const { limits } = options;
  const admitted: Admitted = new WeakMap();
  const guardedPaths = new Set(
    options.services.flatMap((b) => b.service.methods.map((m) => `/${b.service.typeName}/${m.name}`)),
  );
  const server = new grpc.Server({
    "grpc.max_receive_message_length": options.maxMessageBytes,
    "grpc.max_send_message_length": 4 * options.maxMessageBytes,
    "grpc.max_concurrent_streams": limits.maxConcurrentStreams,
    "grpc.max_connection_idle_ms": limits.idleTimeoutSeconds * 1000,
    "grpc.max_connection_age_ms": MAX_CONNECTION_AGE_MS,
    "grpc.max_connection_age_grace_ms": Math.min(limits.maxDeadlineSeconds * 1000, UNLIMITED_MS),
    "grpc.keepalive_time_ms": KEEPALIVE_MS,
    "grpc.keepalive_timeout_ms": KEEPALIVE_TIMEOUT_MS,
    interceptors: [gateInterceptor(guardedPaths, options.gate, admitted)],
  });
  keepPaddedHeaders(server);
  const http2Servers = http2ServersOf(server);
  for (const binding of options.services) addService(server, binding, admitted);
  const health = createHealth(options.services.map((b) => b.service.typeName));
  health.addToServer(server);
  addReflection(
    server,
    options.services.map((b) => b.service),
  );
  return {
    server,
    health,
    listen: (host, port) =>
      new Promise((resolve, reject) =>
        server.bindAsync(`${host}:${port}`, serverCredentials(options.tls), (error, bound) => {
          if (error) return reject(error);
          limitTransport(http2Servers, limits);
          resolve(bound);
        }),
      ),
    close: (graceMs) =>
      new Promise((resolve) => {
        health.endWatches();
        const force = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      }),
  };
}
