import { ConnectError, type HandlerContext } from "@connectrpc/connect";
import { type Attributes, SpanKind, SpanStatusCode } from "@opentelemetry/api";
import { rpcCodeName } from "../metrics/rpc-code.ts";
import { callerContext } from "./propagation.ts";
import { tracer } from "./tracer.ts";

/** Runs one call of a method inside its span. */
export type RpcTracing = <T>(ctx: HandlerContext, run: () => Promise<T>) => Promise<T>;

/**
 * The server span of every call of one method ("media.v1.MediaService/CreateMedia"), on both
 * ports: a child of the caller's W3C traceparent when it sent one, the active span while the
 * call runs (so its SQL and storage spans are its children and its log lines carry its ids).
 * Attributes: rpc.system (grpc; connect_rpc for the Connect protocol), rpc.service,
 * rpc.method, rpc.grpc.status_code (the codes are gRPC's on every protocol); a failed call
 * also gets error.type (the code name /metrics uses) and error status with the message its
 * caller got (never an internal error's text: the guard has already replaced it).
 */
export function traceRpc(rpc: string): RpcTracing {
  const slash = rpc.lastIndexOf("/");
  const named = { "rpc.service": rpc.slice(0, slash), "rpc.method": rpc.slice(slash + 1) };
  const grpc: Attributes = { "rpc.system": "grpc", ...named };
  const connect: Attributes = { "rpc.system": "connect_rpc", ...named };
  return (ctx, run) =>
    tracer.startActiveSpan(
      rpc,
      { kind: SpanKind.SERVER, attributes: ctx.protocolName === "connect" ? connect : grpc },
      callerContext(ctx.requestHeader),
      async (span) => {
        try {
          const response = await run();
          span.setAttribute("rpc.grpc.status_code", 0);
          return response;
        } catch (error) {
          const failure = ConnectError.from(error);
          const code = rpcCodeName(failure.code);
          span.setAttributes({ "rpc.grpc.status_code": failure.code, "error.type": code });
          if (ctx.protocolName === "connect") span.setAttribute("rpc.connect_rpc.error_code", code);
          span.setStatus({ code: SpanStatusCode.ERROR, message: failure.rawMessage });
          throw error;
        } finally {
          span.end();
        }
      },
    );
}
