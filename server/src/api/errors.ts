import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  BadRequestSchema,
  ErrorInfoSchema,
  PreconditionFailureSchema,
  RetryInfoSchema,
} from "@media/proto/google/rpc/error_details_pb";
import type { RequestProblem } from "./request-problems.ts";

// Every error a caller can see is built here. Messages say what to do next;
// none carries SQL, stack traces or internal names. Each also carries
// google.rpc details (docs/api.md#error-details), which connect-node sends on
// the HTTP port and grpc-status.ts on the gRPC port:
// - ErrorInfo on every one: a stable reason (what callers branch on) in ERROR_DOMAIN;
// - BadRequest on INVALID_ARGUMENT naming a field (the text before ": ");
// - PreconditionFailure on FAILED_PRECONDITION;
// - RetryInfo on UNAVAILABLE and RESOURCE_EXHAUSTED.

/** ErrorInfo.domain of every error the service builds. */
export const ERROR_DOMAIN = "media-lifecycle";

/** RetryInfo.retry_delay of an unavailable database: about how long a lost connection takes to come back. */
export const DATABASE_RETRY_DELAY_MS = 1000;

type Detail = NonNullable<ConstructorParameters<typeof ConnectError>[3]>[number];

const errorInfo = (reason: string, metadata: Record<string, string> = {}): Detail => ({
  desc: ErrorInfoSchema,
  value: { reason, domain: ERROR_DOMAIN, metadata },
});

const badRequest = (field: string, description: string): Detail => ({
  desc: BadRequestSchema,
  value: { fieldViolations: [{ field, description }] },
});

const preconditionFailure = (type: string, subject: string, description: string): Detail => ({
  desc: PreconditionFailureSchema,
  value: { violations: [{ type, subject, description }] },
});

const retryInfo = (delayMs: number): Detail => ({
  desc: RetryInfoSchema,
  value: { retryDelay: durationFromMs(Math.ceil(delayMs)) },
});

const rpcError = (message: string, code: Code, details: Detail[], metadata?: HeadersInit) =>
  new ConnectError(message, code, metadata, details);

export const invalidArgument = (field: string, problem: string) =>
  rpcError(`${field}: ${problem}`, Code.InvalidArgument, [
    errorInfo("INVALID_ARGUMENT", { field }),
    badRequest(field, problem),
  ]);

/** A request whose bytes do not parse as its message: the field at fault where one can be named. */
export const malformedRequest = (typeName: string, found: RequestProblem | undefined) =>
  found?.field !== undefined
    ? rpcError(`${found.field}: ${found.problem}`, Code.InvalidArgument, [
        errorInfo("MALFORMED_REQUEST", { message_type: typeName, field: found.field }),
        badRequest(found.field, found.problem),
      ])
    : rpcError(
        `the request is not a valid ${typeName} message${found === undefined ? "" : `: ${found.problem}`}`,
        Code.InvalidArgument,
        [errorInfo("MALFORMED_REQUEST", { message_type: typeName })],
      );

export const mediaNotFound = (id: string) =>
  rpcError(`media ${id} not found (never registered, or already deleted)`, Code.NotFound, [
    errorInfo("MEDIA_NOT_FOUND", { media_id: id }),
  ]);

export const mediaBeingDeleted = (id: string, state: string) =>
  rpcError(
    `media ${id} is ${state === "FAILED" ? "marked FAILED after failed deletion attempts" : "being deleted"}; ` +
      "it can no longer be linked: store the file again under a new key and register that",
    Code.FailedPrecondition,
    [
      errorInfo("MEDIA_BEING_DELETED", { media_id: id, state }),
      preconditionFailure("STATE", `media/${id}`, `media is ${state}: it can no longer be linked`),
    ],
  );

export const mediaTrashed = (id: string) =>
  rpcError(
    `media ${id} is TRASHED: its file is in the trash; restore it (AdminService.RestoreMedia, with the owner to link it at once) before linking`,
    Code.FailedPrecondition,
    [
      errorInfo("MEDIA_TRASHED", { media_id: id, state: "TRASHED" }),
      preconditionFailure("STATE", `media/${id}`, "media is TRASHED: restore it first"),
    ],
  );

export const feedCursorDropped = (id: bigint, droppedBefore: Date) =>
  rpcError(
    `event ${id} is no longer kept: EVENTS_RETENTION dropped the events written before ${droppedBefore.toISOString()}; ` +
      "follow the feed again from after_event_id 0 (the oldest event kept) or with start_at_end",
    Code.FailedPrecondition,
    [
      errorInfo("EVENTS_DROPPED", { after_event_id: id.toString(), dropped_before: droppedBefore.toISOString() }),
      preconditionFailure("RETENTION", `events/${id}`, "the cursor's event was dropped by EVENTS_RETENTION"),
    ],
  );

export const mediaConflict = (store: string, key: string, id: string, field: string) =>
  rpcError(
    `media ${id} is already registered at ${store}/${key} with a different ${field}; ` +
      "use a new key for a different file, or repeat the original request",
    Code.AlreadyExists,
    [errorInfo("MEDIA_ALREADY_EXISTS", { media_id: id, store, key, field })],
  );

/** An admin action the media's state (or hold) does not allow; why says so ("media is DELETING: ..."). */
export const actionRefused = (id: string, why: string, state: string) =>
  rpcError(`media ${id}: ${why}`, Code.FailedPrecondition, [
    errorInfo("ACTION_REFUSED", { media_id: id, state }),
    preconditionFailure("STATE", `media/${id}`, why),
  ]);

/** A store could not carry out an act on a media's file (a restore); why is the store's `CODE: message`. */
export const storageFailed = (id: string, why: string) =>
  rpcError(`media ${id}: the store could not do it (${why}); nothing changed, retry later`, Code.Unavailable, [
    errorInfo("STORAGE_FAILED", { media_id: id }),
    retryInfo(DATABASE_RETRY_DELAY_MS),
  ]);

export const guardNotConfirmed = (due: bigint | null) =>
  rpcError(
    `the blast-radius guard tripped with ${due ?? "many"} files due; check the deletion plan, then resume with confirm_blast_radius = true`,
    Code.FailedPrecondition,
    [
      errorInfo("BLAST_RADIUS_NOT_CONFIRMED", due === null ? {} : { due_count: String(due) }),
      preconditionFailure(
        "BLAST_RADIUS",
        "deletions",
        "the blast-radius guard tripped: resume with confirm_blast_radius = true",
      ),
    ],
  );

/** RunBulkAction matching more media than BLAST_RADIUS_LIMIT, without confirm_blast_radius. */
export const bulkConfirmationRequired = (matched: bigint | string, limit: number) =>
  rpcError(
    `${matched} media match, more than the blast-radius limit (${limit}); check the filter (validate_only), then run it with confirm_blast_radius = true`,
    Code.FailedPrecondition,
    [
      errorInfo("BULK_CONFIRMATION_REQUIRED", { matched_count: String(matched) }),
      preconditionFailure(
        "BLAST_RADIUS",
        "bulk-actions",
        `more media match than the blast-radius limit (${limit}): run it with confirm_blast_radius = true`,
      ),
    ],
  );

export const bulkActionNotFound = (id: string) =>
  rpcError(`no bulk action with id ${id}`, Code.NotFound, [errorInfo("BULK_ACTION_NOT_FOUND", { bulk_action_id: id })]);

export const reconciliationNotFound = (id: string) =>
  rpcError(`no reconciliation with id ${id}`, Code.NotFound, [
    errorInfo("RECONCILIATION_NOT_FOUND", { reconciliation_id: id }),
  ]);

/** ApplyReconciliation on a run that has not SUCCEEDED: its findings are not complete. */
export const reconciliationNotFinished = (id: string, state: string) =>
  rpcError(
    `reconciliation ${id} is ${state}: only a SUCCEEDED reconciliation's findings can be applied; wait for it (GetReconciliation) or start another`,
    Code.FailedPrecondition,
    [
      errorInfo("RECONCILIATION_NOT_FINISHED", { reconciliation_id: id, state }),
      preconditionFailure("STATE", `reconciliations/${id}`, "the reconciliation has not SUCCEEDED"),
    ],
  );

/** No attestation with this id, or one another credential started (to the caller, the same). */
export const attestationNotFound = (id: string) =>
  rpcError(`no attestation with id ${id} started by this token; start one with StartAttestation`, Code.NotFound, [
    errorInfo("ATTESTATION_NOT_FOUND", { attestation_id: id }),
  ]);

/** A page or a finish for an attestation that no longer takes them: finished, or expired (an hour without pages). */
export const attestationClosed = (id: string, state: "FINISHED" | "EXPIRED") =>
  rpcError(
    state === "FINISHED"
      ? `attestation ${id} is finished (or being finished) and takes no more pages; start a new one`
      : `attestation ${id} expired (no page for an hour) and its pairs were dropped; start a new one`,
    Code.FailedPrecondition,
    [
      errorInfo(`ATTESTATION_${state}`, { attestation_id: id }),
      preconditionFailure("STATE", `attestations/${id}`, `attestation is ${state}`),
    ],
  );

export const noWorkerYet = () =>
  rpcError(
    "no deletion worker has started against this database yet; start one (npm run worker) and retry",
    Code.FailedPrecondition,
    [
      errorInfo("NO_DELETION_WORKER"),
      preconditionFailure("WORKER", "deletions", "no deletion worker has started against this database"),
    ],
  );

export const databaseUnavailable = () =>
  rpcError("the database is unavailable; retry with backoff", Code.Unavailable, [
    errorInfo("DATABASE_UNAVAILABLE"),
    retryInfo(DATABASE_RETRY_DELAY_MS),
  ]);

export const transientConflict = () =>
  rpcError("the request collided with a concurrent change; retry it", Code.Aborted, [errorInfo("CONCURRENT_CHANGE")]);

export const unauthenticated = (reason: "missing" | "unknown") =>
  reason === "missing"
    ? rpcError("this call needs an API token: send the header authorization: Bearer <token>", Code.Unauthenticated, [
        errorInfo("TOKEN_MISSING"),
      ])
    : rpcError(
        "the API token was not accepted; check it against AUTH_TOKENS or AUTH_TOKENS_FILE",
        Code.Unauthenticated,
        [errorInfo("TOKEN_UNKNOWN")],
      );

/** A peer over AUTH_FAILURE_LIMIT: every call from it is refused until its budget refills. */
export const authFailuresLimited = (peer: string, perSecond: number, retryAfterSeconds: number) =>
  rpcError(
    `too many calls without a valid API token from ${peer} (over ${perSecond} a second), so its calls are ` +
      `refused for now; send a configured token and retry in ${retryAfterSeconds}s`,
    Code.ResourceExhausted,
    [
      errorInfo("AUTH_FAILURE_LIMIT_EXCEEDED", { peer, limit_per_second: String(perSecond) }),
      retryInfo(retryAfterSeconds * 1000),
    ],
    { "retry-after": String(retryAfterSeconds) },
  );

export const permissionDenied = (tokenName: string, needed: string) =>
  rpcError(`token "${tokenName}" may not call this; it needs a token with ${needed} scope`, Code.PermissionDenied, [
    errorInfo("INSUFFICIENT_SCOPE", { token: tokenName, needed_scope: needed }),
  ]);

/** A limited service token (AUTH_TOKEN_LIMITS) acting outside its owner prefixes or stores. */
export const outOfReach = (tokenName: string, what: "owner" | "store", value: string) =>
  rpcError(
    `token "${tokenName}" may not act on ${what} "${value.slice(0, 512)}": it is limited to other ${what}s (AUTH_TOKEN_LIMITS)`,
    Code.PermissionDenied,
    [errorInfo("OUT_OF_REACH", { token: tokenName, [what]: value.slice(0, 512) })],
  );

/**
 * A token over RATE_LIMIT. Its bucket then holds less than one call and refills at perSecond,
 * so one call's budget is back within 1/perSecond seconds (RetryInfo, rounded up to the millisecond).
 */
export const rateLimited = (tokenName: string, perSecond: number) =>
  rpcError(
    `token "${tokenName}" is over its limit of ${perSecond} calls per second; retry with backoff`,
    Code.ResourceExhausted,
    [
      errorInfo("RATE_LIMIT_EXCEEDED", { token: tokenName, limit_per_second: String(perSecond) }),
      retryInfo(perSecond > 0 ? 1000 / perSecond : 1000),
    ],
  );

export function deadlineTooLong(requestedMs: number, maxSeconds: number): ConnectError {
  // Whole seconds read best, unless rounding would hide why it was refused (120.001s is not 120s).
  const rounded = Math.round(requestedMs / 1000);
  const requested = rounded > maxSeconds ? rounded : requestedMs / 1000;
  const problem = `${requested}s is longer than the maximum of ${maxSeconds}s; ask for a shorter deadline`;
  return rpcError(`deadline: ${problem}`, Code.InvalidArgument, [
    errorInfo("DEADLINE_TOO_LONG", { field: "deadline", max_deadline_seconds: String(maxSeconds) }),
    badRequest("deadline", problem),
  ]);
}

export const deadlineExceeded = () =>
  rpcError("the deadline expired", Code.DeadlineExceeded, [errorInfo("DEADLINE_EXCEEDED")]);

export const internalError = (requestId: string) =>
  rpcError(`internal error; the service logged it as request ${requestId}`, Code.Internal, [
    errorInfo("INTERNAL", { request_id: requestId }),
  ]);
