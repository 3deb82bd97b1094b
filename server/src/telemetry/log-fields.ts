import { context, trace } from "@opentelemetry/api";

/**
 * The pino mixin of every log line: trace_id and span_id of the span being
 * recorded where the line is logged (a call's, a job's); nothing outside one,
 * for an unsampled one, or with tracing off. An ended span does not count: a
 * connection opened during a call keeps that call's context in its socket
 * events, and its later lines must not claim the call. A new object each
 * time: pino merges the line's fields into it.
 */
export function traceLogFields(): Record<string, string> {
  const span = trace.getSpan(context.active());
  if (span === undefined || !span.isRecording()) return {};
  const { traceId, spanId } = span.spanContext();
  return { trace_id: traceId, span_id: spanId };
}
