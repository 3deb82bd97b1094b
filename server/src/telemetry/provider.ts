import { context, diag, propagation, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BatchSpanProcessor, TracerProvider } from "@opentelemetry/sdk-trace";
import type { TelemetryConfig } from "../config.ts";
import { withDeadline } from "../deadline.ts";
import type { Logger } from "../logger.ts";
import { logTelemetryProblems } from "./diag-log.ts";
import { samplerOf } from "./sampler.ts";

export interface Telemetry {
  /** False when OTEL_EXPORTER_OTLP_ENDPOINT is unset: nothing was started. */
  readonly enabled: boolean;
  /** Exports the spans still queued (bounded, so a receiver that is down cannot hold up the stop) and stops. */
  shutdown(): Promise<void>;
}

/** How long a stop waits for the last spans to be exported. */
const FLUSH_MS = 5000;

const OFF: Telemetry = Object.freeze({ enabled: false, shutdown: async () => {} });

/** What a log line may show of the receiver: no credentials, no query. */
function shown(url: string): string {
  const { origin, pathname } = new URL(url);
  return `${origin}${pathname}`;
}

/**
 * Starts tracing for this process when OTEL_EXPORTER_OTLP_ENDPOINT is set:
 * the async-hooks context manager, the W3C trace-context propagator and a
 * tracer provider whose batch processor exports over OTLP/HTTP (JSON) every
 * OTEL_BSP_SCHEDULE_DELAY, all registered with the OpenTelemetry API. Unset,
 * nothing is registered and every span the service makes is the API's no-op.
 * Once per process, by its entry point; serviceName is the process's default
 * for OTEL_SERVICE_NAME.
 */
export function startTelemetry(settings: TelemetryConfig, serviceName: string, log: Logger): Telemetry {
  if (settings.tracesUrl === undefined) return OFF;
  logTelemetryProblems(log);
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  const exporter = new OTLPTraceExporter({ url: settings.tracesUrl, headers: { ...settings.headers } });
  const name = settings.serviceName ?? serviceName;
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ "service.name": name }),
    sampler: samplerOf(settings),
    spanProcessors: [new BatchSpanProcessor({ exporter, scheduledDelayMillis: settings.exportDelayMs })],
  });
  trace.setGlobalTracerProvider(provider);
  log.info({ endpoint: shown(settings.tracesUrl), serviceName: name, sampler: settings.sampler }, "tracing on");
  return {
    enabled: true,
    async shutdown() {
      try {
        await withDeadline(provider.shutdown(), FLUSH_MS, "exporting the last spans");
      } catch (err) {
        log.warn({ err }, "the last spans could not be exported");
      } finally {
        trace.disable();
        propagation.disable();
        context.disable();
        diag.disable();
      }
    },
  };
}
