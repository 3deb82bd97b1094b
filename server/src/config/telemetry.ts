// The OpenTelemetry tracing settings, with the standard variables' names and meanings
// (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_HEADERS, OTEL_SERVICE_NAME,
// OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG, OTEL_BSP_SCHEDULE_DELAY), read like every other
// setting: once, from the environment and .env, a bad value stopping start-up.
import type { TelemetryConfig, TraceSampler } from "../config.ts";
import { ConfigError, type Env, integer, oneOf } from "./values.ts";

const SAMPLERS: readonly TraceSampler[] = [
  "parentbased_always_on",
  "parentbased_always_off",
  "parentbased_traceidratio",
  "always_on",
  "always_off",
  "traceidratio",
];

/** An HTTP header name (RFC 9110 token). */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * OTEL_EXPORTER_OTLP_ENDPOINT: the receiver's base URL; traces go to <base>/v1/traces, as the
 * OTLP exporter specification says. The message never quotes the value: it may carry credentials.
 */
function tracesUrl(env: Env): string | undefined {
  const raw = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  if (raw === undefined || raw === "") return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(
      "OTEL_EXPORTER_OTLP_ENDPOINT must be an http:// or https:// URL such as http://collector:4318",
    );
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new ConfigError(
      "OTEL_EXPORTER_OTLP_ENDPOINT must be an http:// or https:// URL such as http://collector:4318",
    );
  }
  return `${url.href.endsWith("/") ? url.href : `${url.href}/`}v1/traces`;
}

/**
 * OTEL_EXPORTER_OTLP_HEADERS: comma-separated name=value pairs, values percent-encoded (the W3C
 * baggage format the specification uses). Often an API key: messages name the entry, never its text.
 */
function exportHeaders(env: Env): Readonly<Record<string, string>> {
  const headers: Record<string, string> = {};
  (env.OTEL_EXPORTER_OTLP_HEADERS ?? "").split(",").forEach((entry, index) => {
    if (entry.trim() === "") return;
    const at = entry.indexOf("=");
    const name = at < 0 ? "" : entry.slice(0, at).trim();
    let value: string | undefined;
    try {
      value = at < 0 ? undefined : decodeURIComponent(entry.slice(at + 1).trim());
    } catch {
      value = undefined;
    }
    if (!HEADER_NAME.test(name) || value === undefined || /[\r\n\0]/.test(value)) {
      throw new ConfigError(
        `OTEL_EXPORTER_OTLP_HEADERS entry ${index + 1} is not name=value (a header name, a percent-encoded value)`,
      );
    }
    headers[name.toLowerCase()] = value;
  });
  return Object.freeze(headers);
}

/** OTEL_TRACES_SAMPLER_ARG: the share of new traces the ratio samplers keep, 0 to 1. */
function samplerRatio(env: Env): number {
  const raw = env.OTEL_TRACES_SAMPLER_ARG?.trim();
  if (raw === undefined || raw === "") return 1;
  const ratio = Number(raw);
  if (!/^\d*\.?\d+$/.test(raw) || !(ratio >= 0 && ratio <= 1)) {
    throw new ConfigError(`OTEL_TRACES_SAMPLER_ARG="${raw}" must be a number from 0 to 1, such as 0.1`);
  }
  return ratio;
}

/** Every tracing setting, read (and checked) whether or not tracing is on. */
export function parseTelemetry(env: Env): TelemetryConfig {
  const serviceName = env.OTEL_SERVICE_NAME?.trim();
  return Object.freeze({
    tracesUrl: tracesUrl(env),
    headers: exportHeaders(env),
    serviceName: serviceName === "" ? undefined : serviceName,
    sampler: oneOf(env, "OTEL_TRACES_SAMPLER", "parentbased_always_on", SAMPLERS),
    samplerRatio: samplerRatio(env),
    exportDelayMs: integer(env, "OTEL_BSP_SCHEDULE_DELAY", 5000, 0, 3_600_000),
  });
}
