// The reusable readers of one setting (durations, bounded integers, booleans, crontab
// schedules, a choice among names, a file a setting names) and the ConfigError they throw.

import { readFileSync } from "node:fs";
import path from "node:path";
import { CRON_FIELDS, cronField, cronFields } from "./crontab.ts";

/** Raised for a bad setting; main prints the message and exits. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

export type Env = Readonly<Record<string, string | undefined>>;

const DURATION_UNITS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 };

/** Parses "90s", "15m", "24h", "7d", "1d12h" or a bare number of seconds. */
export function parseDurationSeconds(text: string): number | undefined {
  const trimmed = text.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed);
  const parts = [...trimmed.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join("") !== trimmed) return undefined;
  return parts.reduce((sum, [, value, unit]) => sum + Number(value) * (DURATION_UNITS[unit as string] ?? 0), 0);
}

const MAX_DURATION_SECONDS = 3650 * 86400;

export function duration(env: Env, name: string, fallback: string): number {
  const raw = env[name] ?? fallback;
  const seconds = parseDurationSeconds(raw);
  if (seconds === undefined) {
    throw new ConfigError(`${name}="${raw}" is not a duration; use forms like 30s, 15m, 24h, 7d or 1d12h`);
  }
  if (seconds > MAX_DURATION_SECONDS) throw new ConfigError(`${name}="${raw}" must be at most 3650d`);
  return seconds;
}

/** A connection or request timeout: more than 0, and within what Node's timers can hold. */
export function timeout(env: Env, name: string, fallback: string): number {
  const seconds = duration(env, name, fallback);
  if (seconds <= 0 || seconds > 86400) {
    throw new ConfigError(`${name}="${env[name]}" must be more than 0 and at most 1d`);
  }
  return seconds;
}

export function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name}="${raw}" must be a whole number from ${min} to ${max}`);
  }
  return value;
}

export function boolean(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  if (raw === "true" || raw === "1") return true;
  if (raw === "false" || raw === "0") return false;
  throw new ConfigError(`${name}="${raw}" must be true or false`);
}

/** A five-field crontab schedule (UTC) as graphile-worker runs it, checked field by field. */
export function cronSchedule(env: Env, name: string, fallback: string): string {
  const raw = env[name] ?? fallback;
  const fields = cronFields(raw);
  if (fields === undefined) {
    throw new ConfigError(
      `${name}="${raw}" must be a five-field crontab schedule (minute hour day-of-month month day-of-week) such as "* * * * *"`,
    );
  }
  for (const [i, { field, min, max }] of CRON_FIELDS.entries()) {
    const parsed = cronField(fields[i] as string, min, max);
    if ("problem" in parsed) {
      throw new ConfigError(`${name}="${raw}": the ${field} field (${fields[i]}) is invalid: ${parsed.problem}`);
    }
  }
  return fields.join(" ");
}

export function oneOf<T extends string>(env: Env, name: string, fallback: T, allowed: readonly T[]): T {
  const raw = env[name] ?? fallback;
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new ConfigError(`${name}="${raw}" must be one of: ${allowed.join(", ")}`);
  }
  return raw as T;
}

/** The text of the file a setting names (relative to cwd), or a ConfigError naming the setting. */
export function readSettingFile(name: string, file: string, cwd: string): string {
  try {
    return readFileSync(path.resolve(cwd, file), "utf8");
  } catch (error) {
    throw new ConfigError(`${name}="${file}" cannot be read: ${(error as NodeJS.ErrnoException).code ?? error}`);
  }
}
