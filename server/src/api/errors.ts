import { Code, ConnectError } from "@connectrpc/connect";
import type { RequestProblem } from "./request-problems.ts";

// Every error a caller can see is built here. Messages say what to do next;
// none carries SQL, stack traces or internal names.

export const invalidArgument = (field: string, problem: string) =>
  new ConnectError(`${field}: ${problem}`, Code.InvalidArgument);

/** A request whose bytes do not parse as its message: the field at fault where one can be named. */
export const malformedRequest = (typeName: string, found: RequestProblem | undefined) =>
  new ConnectError(
    found?.field !== undefined
      ? `${found.field}: ${found.problem}`
      : `the request is not a valid ${typeName} message${found === undefined ? "" : `: ${found.problem}`}`,
    Code.InvalidArgument,
  );

export const mediaNotFound = (id: string) =>
  new ConnectError(`media ${id} not found (never registered, or already deleted)`, Code.NotFound);

export const mediaBeingDeleted = (id: string, state: string) =>
  new ConnectError(
    `media ${id} is ${state === "FAILED" ? "marked FAILED after failed deletion attempts" : "being deleted"}; ` +
      "it can no longer be linked: store the file again under a new key and register that",
    Code.FailedPrecondition,
  );

export const mediaConflict = (store: string, key: string, id: string, field: string) =>
  new ConnectError(
    `media ${id} is already registered at ${store}/${key} with a different ${field}; ` +
      "use a new key for a different file, or repeat the original request",
    Code.AlreadyExists,
  );

export const actionRefused = (id: string, why: string) =>
  new ConnectError(`media ${id}: ${why}`, Code.FailedPrecondition);

export const guardNotConfirmed = (due: bigint | null) =>
  new ConnectError(
    `the blast-radius guard tripped with ${due ?? "many"} files due; check the deletion plan, then resume with confirm_blast_radius = true`,
    Code.FailedPrecondition,
  );

export const noWorkerYet = () =>
  new ConnectError(
    "no deletion worker has started against this database yet; start one (npm run worker) and retry",
    Code.FailedPrecondition,
  );

export const databaseUnavailable = () =>
  new ConnectError("the database is unavailable; retry with backoff", Code.Unavailable);

export const transientConflict = () =>
  new ConnectError("the request collided with a concurrent change; retry it", Code.Aborted);

export const unauthenticated = (reason: "missing" | "unknown") =>
  new ConnectError(
    reason === "missing"
      ? "this call needs an API token: send the header authorization: Bearer <token>"
      : "the API token was not accepted; check it against AUTH_TOKENS or AUTH_TOKENS_FILE",
    Code.Unauthenticated,
  );

/** A peer over AUTH_FAILURE_LIMIT: every call from it is refused until its budget refills. */
export const authFailuresLimited = (peer: string, perSecond: number, retryAfterSeconds: number) =>
  new ConnectError(
    `too many calls without a valid API token from ${peer} (over ${perSecond} a second), so its calls are ` +
      `refused for now; send a configured token and retry in ${retryAfterSeconds}s`,
    Code.ResourceExhausted,
    { "retry-after": String(retryAfterSeconds) },
  );

export const permissionDenied = (tokenName: string, needed: string) =>
  new ConnectError(
    `token "${tokenName}" may not call this; it needs a token with ${needed} scope`,
    Code.PermissionDenied,
  );

export const rateLimited = (tokenName: string, perSecond: number) =>
  new ConnectError(
    `token "${tokenName}" is over its limit of ${perSecond} calls per second; retry with backoff`,
    Code.ResourceExhausted,
  );

export function deadlineTooLong(requestedMs: number, maxSeconds: number): ConnectError {
  // Whole seconds read best, unless rounding would hide why it was refused (120.001s is not 120s).
  const rounded = Math.round(requestedMs / 1000);
  const requested = rounded > maxSeconds ? rounded : requestedMs / 1000;
  return new ConnectError(
    `deadline: ${requested}s is longer than the maximum of ${maxSeconds}s; ask for a shorter deadline`,
    Code.InvalidArgument,
  );
}

export const deadlineExceeded = () => new ConnectError("the deadline expired", Code.DeadlineExceeded);

export const internalError = (requestId: string) =>
  new ConnectError(`internal error; the service logged it as request ${requestId}`, Code.Internal);
