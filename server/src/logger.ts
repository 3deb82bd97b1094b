import { pino } from "pino";
import type { Config } from "./config.ts";
import { traceLogFields } from "./telemetry/log-fields.ts";

export type Logger = pino.Logger;

/**
 * JSON logs on stdout. Authorization headers and tokens are redacted wherever they appear.
 * A line logged inside a traced call or job carries its trace_id and span_id.
 */
export function createLogger(level: Config["logLevel"]): Logger {
  return pino({
    level,
    base: undefined,
    mixin: traceLogFields,
    redact: { paths: ["token", "*.token", "authorization", "*.authorization"], censor: "[redacted]" },
  });
}
