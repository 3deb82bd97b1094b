// OpenTelemetry tracing: off unless OTEL_EXPORTER_OTLP_ENDPOINT is set, the
// API's no-op everywhere then. Exported to other workspaces as
// @media/server/telemetry.
export { type TracedJob, traceJob } from "./job-span.ts";
export { traceLogFields } from "./log-fields.ts";
export { activeTraceCarrier, callerContext, carriedContext, type TraceCarrier } from "./propagation.ts";
export { startTelemetry, type Telemetry } from "./provider.ts";
export { type RpcTracing, traceRpc } from "./rpc-span.ts";
export { samplerOf } from "./sampler.ts";
export { traceQueries } from "./sql-spans.ts";
export { traceStore } from "./storage-spans.ts";
export { tracer } from "./tracer.ts";
