import { type Span, SpanKind, SpanStatusCode } from "@opentelemetry/api";
import { carriedContext, type TraceCarrier } from "./propagation.ts";
import { tracer } from "./tracer.ts";

/** What a job span needs of a graphile-worker job (its helpers.job). */
export interface TracedJob {
  readonly id: string;
  readonly task_identifier: string;
  readonly attempts: number;
}

/**
 * Runs one job inside its span ("process sweep", "process delete_batch"):
 * a child of the trace context its payload carries (the call or the sweep
 * that enqueued it), a new trace when it carries none (the crontab's sweep),
 * and the active span while it runs, so its SQL and storage spans and its log
 * lines belong to it. Attributes: messaging.system graphile_worker,
 * messaging.operation.type process, messaging.destination.name (the task),
 * messaging.message.id (the job id), graphile_worker.job.attempts; run may add
 * its own. A job that throws gets error.type and error status.
 */
export function traceJob<T>(job: TracedJob, carrier: TraceCarrier, run: (span: Span) => Promise<T>): Promise<T> {
  return tracer.startActiveSpan(
    `process ${job.task_identifier}`,
    {
      kind: SpanKind.CONSUMER,
      attributes: {
        "messaging.system": "graphile_worker",
        "messaging.operation.type": "process",
        "messaging.destination.name": job.task_identifier,
        "messaging.message.id": String(job.id),
        "graphile_worker.job.attempts": job.attempts,
      },
    },
    carriedContext(carrier),
    async (span) => {
      try {
        return await run(span);
      } catch (error) {
        const type = error instanceof Error ? error.name : "Error";
        span.setAttribute("error.type", type);
        span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : type });
        throw error;
      } finally {
        span.end();
      }
    },
  );
}
