// The job contract between the server, whose SQL enqueues jobs with
// graphile_worker.add_job in the same transaction as the change that needs
// them, and the worker, whose tasks run them.

import { activeTraceCarrier, type TraceCarrier } from "../telemetry/propagation.ts";

/** Task names, as graphile-worker's task list and add_job calls spell them. */
export const TASKS = {
  sweep: "sweep",
  deleteBatch: "delete_batch",
  purgeBatch: "purge_batch",
  bulkAction: "bulk_action",
  reconcile: "reconcile",
} as const;

/** The tasks that work on one claim, named by its token in their payload. */
export type ClaimTask = typeof TASKS.deleteBatch | typeof TASKS.purgeBatch;

/** The sweep's job key: a sweep requested while one is queued replaces it rather than queueing another. */
export const SWEEP_JOB_KEY = "sweep";

/** graphile-worker's own retries of a delete_batch job (a crash between steps, a database blip). */
export const BATCH_JOB_ATTEMPTS = 25;

/**
 * The trace a job continues, in its payload: the W3C traceparent (and
 * tracestate) of the call or sweep that enqueued it. Absent when that was not
 * traced (tracing off, the crontab's sweep).
 */
export type JobTrace = TraceCarrier;

/** What a delete_batch or purge_batch job carries: the claim token of the media it acts on, and the sweep's trace. */
export interface ClaimPayload extends JobTrace {
  readonly token: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** A W3C traceparent: version, trace id, parent span id, flags (what the propagator writes). */
const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;
/** A W3C tracestate: printable ASCII, at most 512 characters. */
const TRACESTATE = /^[\x20-\x7e]{0,512}$/;

/** The trace fields of a job's payload (none when absent), or an error naming the malformed one. */
export function parseJobTrace(task: string, payload: unknown): JobTrace {
  const { traceparent, tracestate } = (payload ?? {}) as { traceparent?: unknown; tracestate?: unknown };
  if (traceparent === undefined && tracestate === undefined) return {};
  if (typeof traceparent !== "string" || !TRACEPARENT.test(traceparent)) {
    throw new Error(`${task}: the payload's traceparent must be a W3C traceparent ("00-<32 hex>-<16 hex>-<2 hex>")`);
  }
  if (tracestate === undefined) return { traceparent };
  if (typeof tracestate !== "string" || !TRACESTATE.test(tracestate)) {
    throw new Error(
      `${task}: the payload's tracestate must be a W3C tracestate (printable ASCII, at most 512 characters)`,
    );
  }
  return { traceparent, tracestate };
}

/** The payload of a delete_batch or purge_batch job, or an error saying what is wrong with it. */
export function parseClaimPayload(task: ClaimTask, payload: unknown): ClaimPayload {
  const token = (payload as { token?: unknown } | null)?.token;
  if (typeof token !== "string" || !UUID.test(token)) {
    throw new Error(`${task} needs a payload {"token": "<claim uuid>"}`);
  }
  return { token, ...parseJobTrace(task, payload) };
}

/** What a bulk_action job carries: the bulk action's id. */
export interface BulkActionPayload extends JobTrace {
  readonly id: string;
}

/** The tasks whose payload names one row by its id: a bulk action, a reconciliation. */
type IdTask = typeof TASKS.bulkAction | typeof TASKS.reconcile;

/** The payload {"id": "<row id>"} of a job of `task` (`what` names the row), or an error saying what is wrong. */
function parseIdPayload(task: IdTask, what: string, payload: unknown): BulkActionPayload {
  const id = (payload as { id?: unknown } | null)?.id;
  if (typeof id !== "string" || !/^[1-9][0-9]{0,18}$/.test(id)) {
    throw new Error(`${task} needs a payload {"id": "<${what} id>"}`);
  }
  return { id, ...parseJobTrace(task, payload) };
}

/** The payload of a bulk_action job, or an error saying what is wrong with it. */
export const parseBulkActionPayload = (payload: unknown): BulkActionPayload =>
  parseIdPayload(TASKS.bulkAction, "bulk action", payload);

/** What a reconcile job carries: the reconciliation's id. */
export type ReconciliationPayload = BulkActionPayload;

/** The payload of a reconcile job, or an error saying what is wrong with it. */
export const parseReconciliationPayload = (payload: unknown): ReconciliationPayload =>
  parseIdPayload(TASKS.reconcile, "reconciliation", payload);

/** The payload of a sweep job (any other fields, such as the crontab's, are left alone), or an error. */
export function parseSweepPayload(payload: unknown): JobTrace {
  return parseJobTrace(TASKS.sweep, payload);
}

/**
 * The trace a job enqueued now should continue, as the parameter the enqueuing
 * SQL's `traceSql` reads (a jsonb object, or null when nothing is traced).
 */
export function jobTraceParameter(): string | null {
  const carrier = activeTraceCarrier();
  return carrier === undefined ? null : JSON.stringify(carrier);
}

/** The payload fields in `traceSql` (an SQL expression of a jsonb object, or null), as jsonb. */
const traceFields = (traceSql: string): string => `coalesce((${traceSql})::jsonb, '{}'::jsonb)`;

/**
 * SQL that enqueues the job of `task` for the claim token in `tokenSql` (an SQL expression),
 * continuing the trace in `traceSql` (jobTraceParameter's value; unset: none). The token is
 * merged last, so no carrier field can ever name another claim.
 */
export const enqueueClaimJob = (task: ClaimTask, tokenSql: string, traceSql = "NULL"): string =>
  `graphile_worker.add_job('${task}', (${traceFields(traceSql)} || jsonb_build_object('token', ${tokenSql}::text))::json, max_attempts := ${BATCH_JOB_ATTEMPTS})`;

/** SQL that enqueues the job of `task` for the row whose id is in `idSql`, continuing the trace in `traceSql`. */
const enqueueIdJob = (task: IdTask, idSql: string, traceSql: string): string =>
  `graphile_worker.add_job('${task}', (${traceFields(traceSql)} || jsonb_build_object('id', ${idSql}::text))::json, max_attempts := ${BATCH_JOB_ATTEMPTS})`;

/** SQL that enqueues the bulk_action job of the bulk action whose id is in `idSql`, continuing the trace in `traceSql`. */
export const enqueueBulkAction = (idSql: string, traceSql = "NULL"): string =>
  enqueueIdJob(TASKS.bulkAction, idSql, traceSql);

/** SQL that enqueues the reconcile job of the reconciliation whose id is in `idSql`, continuing the trace in `traceSql`. */
export const enqueueReconciliation = (idSql: string, traceSql = "NULL"): string =>
  enqueueIdJob(TASKS.reconcile, idSql, traceSql);

/** SQL that queues a sweep to run now, continuing the trace in `traceSql` (jobTraceParameter's value; unset: none). */
export const enqueueSweep = (traceSql = "NULL"): string =>
  `graphile_worker.add_job('${TASKS.sweep}', ${traceFields(traceSql)}::json, job_key := '${SWEEP_JOB_KEY}', run_at := now())`;
