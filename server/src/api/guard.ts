import { randomUUID } from "node:crypto";
import type { DescService } from "@bufbuild/protobuf";
import { ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import type { Logger } from "../logger.js";
import {
  databaseUnavailable,
  deadlineExceeded,
  internalError,
  isDatabaseUnavailable,
  isTransientConflict,
  transientConflict,
} from "./errors.js";

/** A unary method of a service implementation, as both transports call it. */
export type UnaryHandler = (request: unknown, ctx: HandlerContext) => Promise<unknown>;

/**
 * Wraps every method of a service implementation with what both transports
 * share: no work starts after the deadline, and only ConnectErrors reach the
 * caller. A database outage becomes UNAVAILABLE; anything else is logged with a
 * request id and answered with a bare INTERNAL, so SQL and stacks never leak.
 */
export function guardService<S extends DescService>(service: S, impl: ServiceImpl<S>, log: Logger): ServiceImpl<S> {
  const guarded: Record<string, UnaryHandler> = {};
  for (const method of service.methods) {
    const handler = (impl as unknown as Record<string, UnaryHandler>)[method.localName];
    if (handler === undefined) throw new Error(`${service.typeName} has no implementation of ${method.name}`);
    const rpc = `${service.typeName}/${method.name}`;
    guarded[method.localName] = async (request, ctx) => {
      if (ctx.signal.aborted) throw deadlineExceeded();
      try {
        return await handler(request, ctx);
      } catch (error) {
        if (error instanceof ConnectError) throw error;
        if (isDatabaseUnavailable(error)) {
          log.warn({ rpc, err: error }, "database unavailable");
          throw databaseUnavailable();
        }
        if (isTransientConflict(error)) throw transientConflict();
        if (ctx.signal.aborted) throw deadlineExceeded();
        const requestId = randomUUID();
        log.error({ rpc, requestId, err: error }, "internal error");
        throw internalError(requestId);
      }
    };
  }
  return guarded as unknown as ServiceImpl<S>;
}
