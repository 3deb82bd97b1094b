import { type Context, context, propagation, ROOT_CONTEXT, type TextMapGetter } from "@opentelemetry/api";

// W3C trace context in and out: a call's traceparent and tracestate headers
// (both ports: the gRPC port copies its metadata into the same Headers), and
// the same two fields carried in the payload of a job the call enqueues.
// With tracing off the API's propagator is a no-op: nothing is read or written.

const headerGetter: TextMapGetter<Headers> = {
  get: (headers, key) => headers.get(key) ?? undefined,
  keys: (headers) => [...headers.keys()],
};

/** The trace a call continues: its caller's traceparent (and tracestate), or none. */
export function callerContext(headers: Headers): Context {
  return propagation.extract(ROOT_CONTEXT, headers, headerGetter);
}

/** W3C trace context as a job's payload carries it. */
export interface TraceCarrier {
  readonly traceparent?: string;
  readonly tracestate?: string;
}

/** The active span's trace context, for a job to continue; undefined when no span is active (or tracing is off). */
export function activeTraceCarrier(): TraceCarrier | undefined {
  const carrier: { traceparent?: string; tracestate?: string } = {};
  propagation.inject(context.active(), carrier);
  return carrier.traceparent === undefined ? undefined : carrier;
}

/** The trace a job continues: the one its payload carries, or none. */
export function carriedContext(carrier: TraceCarrier): Context {
  return propagation.extract(ROOT_CONTEXT, carrier);
}
