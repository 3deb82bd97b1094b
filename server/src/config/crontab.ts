// The crontab grammar of SWEEP_SCHEDULE, written once: config checks a schedule
// with it, and the API reads the next sweep time from the values it yields
// (deletion/schedule.ts). It accepts exactly what graphile-worker's crontab
// parser (cronMatcher.js) accepts, so a schedule passes here if and only if the
// worker can run it: a comma-separated list of numbers, ranges `a-b` with b > a,
// and `*` or `*` + `/n` with n ≥ 1. Names (`mon`, `jan`), steps on a range
// (`1-30/5`), `?`, `L` and `@hourly` are not part of its syntax.

/**
 * The five fields of a crontab schedule with the values each takes. Day of week
 * also takes 7 for Sunday, as graphile-worker does.
 */
export const CRON_FIELDS = [
  { field: "minute", min: 0, max: 59 },
  { field: "hour", min: 0, max: 23 },
  { field: "day of month", min: 1, max: 31 },
  { field: "month", min: 1, max: 12 },
  { field: "day of week", min: 0, max: 7 },
] as const;

export type CronField = { readonly values: ReadonlySet<number> } | { readonly problem: string };

/** The values one field names, or what is wrong with it. */
export function cronField(text: string, min: number, max: number): CronField {
  const values = new Set<number>();
  const inRange = (n: number) => n >= min && n <= max;
  for (const part of text.split(",")) {
    const number = /^(\d+)$/.exec(part);
    if (number) {
      const n = Number(number[1]);
      if (!inRange(n)) return { problem: `${part} is outside ${min}-${max}` };
      values.add(n);
      continue;
    }
    const range = /^(\d+)-(\d+)$/.exec(part);
    if (range) {
      const [a, b] = [Number(range[1]), Number(range[2])];
      if (!inRange(a) || !inRange(b)) return { problem: `${part} goes outside ${min}-${max}` };
      if (b <= a) return { problem: `the range ${part} must end above where it starts` };
      for (let i = a; i <= b; i++) values.add(i);
      continue;
    }
    const wildcard = /^\*(?:\/(\d+))?$/.exec(part);
    if (wildcard) {
      const step = wildcard[1] === undefined ? 1 : Number(wildcard[1]);
      if (step < 1) return { problem: `the step in ${part} must be at least 1` };
      for (let i = min; i <= max; i += step) values.add(i);
      continue;
    }
    return {
      problem:
        part === ""
          ? "it has an empty list entry"
          : `"${part}" is not a number, a range a-b, * or */n (names and steps on ranges are not supported)`,
    };
  }
  return { values };
}

/** A schedule's five fields, split; undefined unless there are exactly five. */
export function cronFields(schedule: string): string[] | undefined {
  const fields = schedule.trim().split(/\s+/);
  return fields.length === 5 && fields[0] !== "" ? fields : undefined;
}
