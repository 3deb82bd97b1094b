import { randomUUID } from "node:crypto";
import type { DescService } from "@bufbuild/protobuf";
import { type Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { type Authenticator, grants, type Permission } from "../auth/tokens.ts";
import type { LimitsConfig } from "../config.ts";
import type { Logger } from "../logger.ts";
import { isDatabaseUnavailable, isTransientConflict } from "../db/sql-errors.ts";
import { rpcCodeName } from "../metrics/rpc-code.ts";
import { callerKey } from "./context.ts";
import {
  databaseUnavailable,
  deadlineExceeded,
  deadlineTooLong,
  internalError,
  permissionDenied,
  rateLimited,
  transientConflict,
  unauthenticated,
} from "./errors.ts";
import type { RateLimiter } from "./rate-limit.ts";

/** A unary method of a service implementation, as both transports call it. */
export type UnaryHandler = (request: unknown, ctx: HandlerContext) => Promise<unknown>;

/** Where each call's outcome is counted (the Prometheus metrics). */
export interface RpcObserver {
  observeRpc(method: string, code: string, seconds: number): void;
}

/** What every call passes through before and after its handler, on both ports. */
export interface Admission {
  readonly log: Logger;
  readonly authenticator: Authenticator;
  readonly rateLimiter: RateLimiter;
  readonly limits: LimitsConfig;
  readonly observer: RpcObserver;
}

/** A caller-supplied request id is kept when it is short and plain, so it can be traced across services. */
const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * Wraps every method of a service implementation with what both transports
 * share, in this order: a request id; the token (UNAUTHENTICATED /
 * PERMISSION_DENIED); the deadline limit; the token's rate limit
 * (RESOURCE_EXHAUSTED); no work after the deadline; and only ConnectErrors
 * reach the caller: a database outage becomes UNAVAILABLE, anything else is
 * logged under the request id and answered with a bare INTERNAL, so SQL and
 * stacks never leak. Every outcome is counted and timed.
 */
export function guardService<S extends DescService>(
  service: S,
  impl: ServiceImpl<S>,
  permission: Permission,
  admission: Admission,
): ServiceImpl<S> {
  const { log, authenticator, rateLimiter, limits, observer } = admission;
  const maxDeadlineMs = limits.maxDeadlineSeconds * 1000;
  const guarded: Record<string, UnaryHandler> = {};
  for (const method of service.methods) {
    const handler = (impl as unknown as Record<string, UnaryHandler>)[method.localName];
    if (handler === undefined) throw new Error(`${service.typeName} has no implementation of ${method.name}`);
    const rpc = `${service.typeName}/${method.name}`;

    const admit = (ctx: HandlerContext): string => {
      const auth = authenticator.authenticate(ctx.requestHeader.get("authorization"));
      if (!auth.ok) throw unauthenticated(auth.reason);
      if (!grants(auth.token, permission)) throw permissionDenied(auth.token.name, permission);
      const timeoutMs = ctx.timeoutMs();
      if (timeoutMs !== undefined && timeoutMs > maxDeadlineMs)
        throw deadlineTooLong(timeoutMs, limits.maxDeadlineSeconds);
      if (!rateLimiter.admit(auth.token.name)) throw rateLimited(auth.token.name, limits.ratePerToken);
      ctx.values.set(callerKey, auth.token.name);
      return auth.token.name;
    };

    const run = async (request: unknown, ctx: HandlerContext, requestId: string) => {
      if (ctx.signal.aborted) throw deadlineExceeded();
      try {
        return await handler(request, ctx);
      } catch (error) {
        if (error instanceof ConnectError) throw error;
        if (isDatabaseUnavailable(error)) {
          log.warn({ rpc, requestId, err: error }, "database unavailable");
          throw databaseUnavailable();
        }
        if (isTransientConflict(error)) throw transientConflict();
        if (ctx.signal.aborted) throw deadlineExceeded();
        log.error({ rpc, requestId, err: error }, "internal error");
        throw internalError(requestId);
      }
    };

    guarded[method.localName] = async (request, ctx) => {
      const started = performance.now();
      const offered = ctx.requestHeader.get("x-request-id");
      const requestId = offered !== null && REQUEST_ID.test(offered) ? offered : randomUUID();
      ctx.responseHeader.set("x-request-id", requestId);
      let code: Code | undefined;
      let caller: string | undefined;
      try {
        caller = admit(ctx);
        return await run(request, ctx, requestId);
      } catch (error) {
        code = ConnectError.from(error).code;
        throw error;
      } finally {
        const seconds = (performance.now() - started) / 1000;
        observer.observeRpc(rpc, rpcCodeName(code), seconds);
        if (log.isLevelEnabled("debug")) {
          log.debug({ rpc, requestId, caller, code: rpcCodeName(code), ms: Math.round(seconds * 1000) }, "rpc");
        }
      }
    };
  }
  return guarded as unknown as ServiceImpl<S>;
}
