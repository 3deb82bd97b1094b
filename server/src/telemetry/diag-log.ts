import { type DiagLogger, DiagLogLevel, diag } from "@opentelemetry/api";
import type { Logger } from "../logger.ts";

/**
 * The OpenTelemetry SDK's own warnings and errors (an export the receiver
 * refused or could not be reached, spans dropped from a full queue) in the
 * service's log, at warn, with component "telemetry".
 */
export function logTelemetryProblems(log: Logger): void {
  const child = log.child({ component: "telemetry" });
  const warn = (message: string, ...args: unknown[]) =>
    child.warn({ detail: args.map((a) => (a instanceof Error ? a.message : String(a))).join(" ") }, message);
  const quiet = () => {};
  const logger: DiagLogger = { error: warn, warn, info: quiet, debug: quiet, verbose: quiet };
  diag.setLogger(logger, { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true });
}
