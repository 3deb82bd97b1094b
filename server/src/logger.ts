import { pino } from "pino";
import type { Config } from "./config.ts";

export type Logger = pino.Logger;

/** JSON logs on stdout. Authorization headers and tokens are redacted wherever they appear. */
export function createLogger(level: Config["logLevel"]): Logger {
  return pino({
    level,
    base: undefined,
    redact: { paths: ["token", "*.token", "authorization", "*.authorization"], censor: "[redacted]" },
  });
}
