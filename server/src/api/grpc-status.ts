import { create, toBinary } from "@bufbuild/protobuf";
import { anyPack } from "@bufbuild/protobuf/wkt";
import type { ConnectError } from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import { StatusSchema } from "@media/proto/google/rpc/status_pb";

/** The trailer gRPC's richer error model uses: a binary google.rpc.Status with the error's details. */
export const STATUS_DETAILS_TRAILER = "grpc-status-details-bin";

/** What grpc-js sends for a failed call: the code, the message and the trailers. */
export interface GrpcErrorStatus {
  readonly code: grpc.status;
  readonly details: string;
  readonly metadata: grpc.Metadata;
}

/**
 * A ConnectError as grpc-js answers it on the gRPC port, the way connect-node
 * answers it on the HTTP port: its code and message, its metadata as trailers
 * (retry-after, x-request-id), and its details (errors.ts) packed as Any in a
 * google.rpc.Status { code, message, details } in grpc-status-details-bin.
 * grpc-js has no knowledge of details, and a client that reads the trailer
 * (Connect's, Google's) takes code and message from it, so they are the same.
 */
export function grpcErrorStatus(error: ConnectError): GrpcErrorStatus {
  const metadata = new grpc.Metadata();
  for (const [key, value] of error.metadata) {
    // Header values are text; a binary key would need bytes (and the details key is set below).
    if (!key.endsWith("-bin")) metadata.set(key, value);
  }
  if (error.details.length > 0) {
    const status = create(StatusSchema, {
      code: error.code,
      message: error.rawMessage,
      details: error.details.map((detail) =>
        "desc" in detail
          ? anyPack(detail.desc, create(detail.desc, detail.value))
          : { typeUrl: `type.googleapis.com/${detail.type}`, value: detail.value },
      ),
    });
    metadata.set(STATUS_DETAILS_TRAILER, Buffer.from(toBinary(StatusSchema, status)));
  }
  return { code: error.code as number, details: error.rawMessage, metadata };
}
