import { trace } from "@opentelemetry/api";

/**
 * The tracer every span of the service comes from. Until startTelemetry
 * registers a provider (and always, when OTEL_EXPORTER_OTLP_ENDPOINT is unset)
 * it is the API's no-op tracer: its spans record nothing and cost next to nothing.
 */
export const tracer = trace.getTracer("media-lifecycle");
