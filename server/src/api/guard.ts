import { randomUUID } from "node:crypto";
import type { DescService } from "@bufbuild/protobuf";
import { type Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { type Authenticator, grants, type Permission } from "../auth/tokens.ts";
import type { ApiToken, LimitsConfig } from "../config.ts";
import { runInCallScope } from "../db/call-scope.ts";
import { isDatabaseUnavailable, isTransientConflict } from "../db/sql-errors.ts";
import type { Logger } from "../logger.ts";
import { rpcCodeName } from "../metrics/rpc-code.ts";
import { traceRpc } from "../telemetry/rpc-span.ts";
import { callerKey, tokenKey } from "./context.ts";
import {
  authFailuresLimited,
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

const requestIdOf = (offered: string | null) => (offered !== null && REQUEST_ID.test(offered) ? offered : randomUUID());

/** Counts and times one call's outcome, and logs it at debug. */
function account(
  { log, observer }: Admission,
  rpc: string,
  requestId: string,
  started: number,
  code: Code | undefined,
  fields: { caller?: string | undefined; peer?: string | undefined },
): void {
  const seconds = (performance.now() - started) / 1000;
  observer.observeRpc(rpc, rpcCodeName(code), seconds);
  if (log.isLevelEnabled("debug")) {
    log.debug({ rpc, requestId, ...fields, code: rpcCodeName(code), ms: Math.round(seconds * 1000) }, "rpc");
  }
}

/** What a transport knows of a call from its headers, before it reads the request. */
export interface CallHeaders {
  /** "media.v1.MediaService/GetMedia" */
  readonly rpc: string;
  readonly authorization: string | null;
  /** The caller's x-request-id, if it sent one. */
  readonly requestId: string | null;
  /** The address the call came from (the socket's remote address). */
  readonly peer: string | undefined;
}

/**
 * The token check both transports run on a call's headers before they read
 * its request (connect's requestGate, a grpc-js interceptor), so a call without
 * a valid token costs no read or parse. It returns the token, which the
 * transport hands the guard (tokenKey). A refusal (UNAUTHENTICATED, or
 * RESOURCE_EXHAUSTED for a peer over AUTH_FAILURE_LIMIT) is counted and logged
 * like any call, under a request id it carries back.
 */
export function createCallGate(admission: Admission): (call: CallHeaders) => ApiToken {
  const { authenticator, limits } = admission;
  return (call) => {
    const started = performance.now();
    const auth = authenticator.authenticate(call.authorization, call.peer);
    if (auth.ok) return auth.token;
    const error =
      auth.reason === "throttled"
        ? authFailuresLimited(auth.peer, limits.authFailuresPerSecond, auth.retryAfterSeconds)
        : unauthenticated(auth.reason);
    const requestId = requestIdOf(call.requestId);
    error.metadata.set("x-request-id", requestId);
    account(admission, call.rpc, requestId, started, error.code, { peer: call.peer });
    throw error;
  };
}

/**
 * Wraps every method of a service implementation with what both transports
 * share, in this order: a request id; the token the transport's gate accepted
 * (createCallGate), and its scope (PERMISSION_DENIED); the deadline limit; the token's rate limit
 * (RESOURCE_EXHAUSTED); no work after the deadline; and only ConnectErrors
 * reach the caller: a database outage becomes UNAVAILABLE, anything else is
 * logged under the request id and answered with a bare INTERNAL, so SQL and
 * stacks never leak. Every outcome is counted and timed, and every call runs
 * inside its server span (a child of the caller's W3C traceparent, if any).
 */
export function guardService<S extends DescService>(
  service: S,
  impl: ServiceImpl<S>,
  permission: Permission,
  admission: Admission,
): ServiceImpl<S> {
  const { log, rateLimiter, limits } = admission;
  const maxDeadlineMs = limits.maxDeadlineSeconds * 1000;
  const guarded: Record<string, UnaryHandler> = {};
  for (const method of service.methods) {
    const handler = (impl as unknown as Record<string, UnaryHandler>)[method.localName];
    if (handler === undefined) throw new Error(`${service.typeName} has no implementation of ${method.name}`);
    const rpc = `${service.typeName}/${method.name}`;

    const admit = (ctx: HandlerContext): string => {
      // A transport that skipped the gate lets nothing through.
      const token = ctx.values.get(tokenKey);
      if (token === undefined) throw unauthenticated("missing");
      if (!grants(token, permission)) throw permissionDenied(token.name, permission);
      const timeoutMs = ctx.timeoutMs();
      if (timeoutMs !== undefined && timeoutMs > maxDeadlineMs)
        throw deadlineTooLong(timeoutMs, limits.maxDeadlineSeconds);
      if (!rateLimiter.admit(token.name)) throw rateLimited(token.name, limits.ratePerToken);
      ctx.values.set(callerKey, token.name);
      return token.name;
    };

    const run = async (request: unknown, ctx: HandlerContext, requestId: string) => {
      if (ctx.signal.aborted) throw deadlineExceeded();
      try {
        // Its queries are cancelled if the call ends first (deadline, or the caller gave up).
        return await runInCallScope(ctx.signal, () => handler(request, ctx));
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

    const traced = traceRpc(rpc);
    const call: UnaryHandler = async (request, ctx) => {
      const started = performance.now();
      const requestId = requestIdOf(ctx.requestHeader.get("x-request-id"));
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
        account(admission, rpc, requestId, started, code, { caller });
      }
    };
    guarded[method.localName] = (request, ctx) => traced(ctx, () => call(request, ctx));
  }
  return guarded as unknown as ServiceImpl<S>;
}
