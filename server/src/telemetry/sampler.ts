import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  ParentBasedSampler,
  type Sampler,
  TraceIdRatioBasedSampler,
} from "@opentelemetry/sdk-trace";
import type { TelemetryConfig } from "../config.ts";

/** OTEL_TRACES_SAMPLER (and OTEL_TRACES_SAMPLER_ARG for the ratio samplers) as the SDK's sampler. */
export function samplerOf({ sampler, samplerRatio }: Pick<TelemetryConfig, "sampler" | "samplerRatio">): Sampler {
  switch (sampler) {
    case "always_on":
      return new AlwaysOnSampler();
    case "always_off":
      return new AlwaysOffSampler();
    case "traceidratio":
      return new TraceIdRatioBasedSampler(samplerRatio);
    case "parentbased_always_on":
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    case "parentbased_always_off":
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case "parentbased_traceidratio":
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(samplerRatio) });
    default: {
      const unhandled: never = sampler;
      throw new Error(`unknown sampler ${String(unhandled)}`);
    }
  }
}
