import { create, type DescMethod, type DescService, fromBinary, toBinary } from "@bufbuild/protobuf";
import { ConnectError, createContextValues, createHandlerContext } from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import type { GrpcTlsConfig } from "../config.ts";
import type { UnaryHandler } from "./guard.ts";
import { createHealth, type Health } from "./health.ts";

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
 * (as connect-node does on the other port).
 */
class MalformedRequest {
  readonly typeName: string;
  constructor(typeName: string) {
    this.typeName = typeName;
  }
}

function metadataToHeaders(metadata: grpc.Metadata): Headers {
  const headers = new Headers();
  for (const [key, value] of Object.entries(metadata.getMap())) {
    if (typeof value === "string") headers.append(key, value);
  }
  return headers;
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
        return new MalformedRequest(method.input.typeName);
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
function addService(server: grpc.Server, binding: ServiceBinding): void {
  const definition = grpcServiceDefinition(binding.service);
  const handlers: grpc.UntypedServiceImplementation = {};
  for (const method of binding.service.methods) {
    const impl = binding.impl[method.localName] as UnaryHandler;
    handlers[method.localName] = (
      call: grpc.ServerUnaryCall<unknown, unknown>,
      callback: grpc.sendUnaryData<unknown>,
    ) => {
      if (call.request instanceof MalformedRequest) {
        callback({
          code: grpc.status.INVALID_ARGUMENT,
          details: `the request is not a valid ${call.request.typeName} message`,
        });
        return;
      }
      const cancelled = new AbortController();
      call.on("cancelled", () => cancelled.abort());
      const ctx = createHandlerContext({
        service: binding.service,
        method,
        protocolName: "grpc",
        requestMethod: "POST",
        url: definition[method.localName]?.path ?? "",
        timeoutMs: remainingMs(call.getDeadline()),
        requestSignal: cancelled.signal,
        requestHeader: metadataToHeaders(call.metadata),
        contextValues: createContextValues(),
      });
      impl(call.request, ctx)
        .then(
          (response) => callback(null, response),
          (error: unknown) => {
            const connectError = ConnectError.from(error);
            callback({ code: connectError.code as number, details: connectError.rawMessage });
          },
        )
        // Releases the context's deadline timer. A reason avoids building a DOMException per call.
        .finally(() => ctx.abort(CALL_FINISHED));
    };
  }
  server.addService(definition, handlers);
}

export interface GrpcServerOptions {
  readonly services: readonly ServiceBinding[];
  readonly maxMessageBytes: number;
  /** TLS, and mutual TLS when a client CA is given; plaintext when undefined. */
  readonly tls: GrpcTlsConfig | undefined;
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
  const server = new grpc.Server({
    "grpc.max_receive_message_length": options.maxMessageBytes,
    "grpc.max_send_message_length": 4 * options.maxMessageBytes,
  });
  for (const binding of options.services) addService(server, binding);
  const health = createHealth(options.services.map((b) => b.service.typeName));
  health.addToServer(server);
  return {
    server,
    health,
    listen: (host, port) =>
      new Promise((resolve, reject) =>
        server.bindAsync(`${host}:${port}`, serverCredentials(options.tls), (error, bound) =>
          error ? reject(error) : resolve(bound),
        ),
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
