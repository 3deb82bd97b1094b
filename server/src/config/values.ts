// The reusable readers of one setting (durations, bounded integers, booleans, crontab
// schedules, a choice among names, a file a setting names) and the ConfigError they throw.
import { readFileSync } from "node:fs";
import path from "node:path";

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

/**
 * The five fields of a crontab schedule with the values each takes. Day of week
 * also takes 7 for Sunday, as graphile-worker does.
 */
const CRON_FIELDS = [
  { field: "minute", min: 0, max: 59 },
  { field: "hour", min: 0, max: 23 },
  { field: "day of month", min: 1, max: 31 },
  { field: "month", min: 1, max: 12 },
  { field: "day of week", min: 0, max: 7 },
] as const;

/**
 * What is wrong with one field of a schedule, or undefined. It accepts exactly
 * what graphile-worker's crontab parser (cronMatcher.js) accepts, so a schedule
 * passes here if and only if the worker can run it: a comma-separated list of
 * numbers, ranges `a-b` with b > a, and `*` or `*` + `/n` with n ≥ 1. Names
 * (`mon`, `jan`), steps on a range (`1-30/5`), `?`, `L` and `@hourly` are not
 * part of its syntax.
 */
function cronFieldProblem(text: string, min: number, max: number): string | undefined {
  const inRange = (n: number) => n >= min && n <= max;
  for (const part of text.split(",")) {
    const number = /^(\d+)$/.exec(part);
    if (number) {
      if (!inRange(Number(number[1]))) return `${part} is outside ${min}-${max}`;
      continue;
    }
    const range = /^(\d+)-(\d+)$/.exec(part);
    if (range) {
      const [a, b] = [Number(range[1]), Number(range[2])];
      if (!inRange(a) || !inRange(b)) return `${part} goes outside ${min}-${max}`;
      if (b <= a) return `the range ${part} must end above where it starts`;
      continue;
    }
    const wildcard = /^\*(?:\/(\d+))?$/.exec(part);
    if (wildcard) {
      if (wildcard[1] !== undefined && Number(wildcard[1]) < 1) return `the step in ${part} must be at least 1`;
      continue;
    }
    return part === ""
      ? "it has an empty list entry"
      : `"${part}" is not a number, a range a-b, * or */n (names and steps on ranges are not supported)`;
  }
  return undefined;
}

/** A five-field crontab schedule (UTC) as graphile-worker runs it, checked field by field. */
export function cronSchedule(env: Env, name: string, fallback: string): string {
  const raw = env[name] ?? fallback;
  const fields = raw.trim().split(/\s+/);
  if (fields.length !== 5 || fields[0] === "") {
    throw new ConfigError(
      `${name}="${raw}" must be a five-field crontab schedule (minute hour day-of-month month day-of-week) such as "* * * * *"`,
    );
  }
  for (const [i, { field, min, max }] of CRON_FIELDS.entries()) {
    const problem = cronFieldProblem(fields[i] as string, min, max);
    if (problem !== undefined) {
      throw new ConfigError(`${name}="${raw}": the ${field} field (${fields[i]}) is invalid: ${problem}`);
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
