import type * as grpc from "@grpc/grpc-js";
import { service as healthService } from "grpc-health-check";

type ServingStatus = "SERVING" | "NOT_SERVING" | "SERVICE_UNKNOWN";

/**
 * grpc.health.v1.Health for the gRPC port. One switch covers the server ("")
 * and every service it serves: all serve or none do. Unlike grpc-health-check's
 * implementation it can end its Watch streams, which would otherwise hold a
 * graceful shutdown open until it is forced.
 */
export interface Health {
  /** Reports NOT_SERVING to Check and to every open Watch. */
  setNotServing(): void;
  /** Ends every Watch stream (after its last NOT_SERVING), so the server can close. */
  endWatches(): void;
  readonly serving: boolean;
  addToServer(server: grpc.Server): void;
}

export function createHealth(serviceNames: readonly string[]): Health {
  const names = new Set(["", ...serviceNames]);
  let serving = true;
  const watches = new Map<grpc.ServerWritableStream<{ service: string }, unknown>, string>();
  const statusOf = (name: string): ServingStatus =>
    !names.has(name) ? "SERVICE_UNKNOWN" : serving ? "SERVING" : "NOT_SERVING";

  return {
    get serving() {
      return serving;
    },
    setNotServing() {
      serving = false;
      for (const [call, name] of watches) call.write({ status: statusOf(name) });
    },
    endWatches() {
      for (const call of watches.keys()) call.end();
      watches.clear();
    },
    addToServer(server) {
      server.addService(healthService, {
        check: (call: grpc.ServerUnaryCall<{ service: string }, unknown>, callback: grpc.sendUnaryData<unknown>) => {
          const status = statusOf(call.request.service);
          if (status === "SERVICE_UNKNOWN") callback({ code: 5, details: `unknown service "${call.request.service}"` });
          else callback(null, { status });
        },
        watch: (call: grpc.ServerWritableStream<{ service: string }, unknown>) => {
          watches.set(call, call.request.service);
          call.on("cancelled", () => watches.delete(call));
          call.write({ status: statusOf(call.request.service) });
        },
        list: (_call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
          callback(null, {
            statuses: Object.fromEntries([...names].map((name) => [name, { status: statusOf(name) }])),
          });
        },
      });
    },
  };
}
