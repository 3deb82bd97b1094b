// When the next scheduled sweep is due: SWEEP_SCHEDULE read as graphile-worker
// reads a crontab line's time (UTC; the grammar in config/crontab.ts; when both
// day fields are restricted, either matching is enough). The API answers it in
// ListWorkers; the worker's crontab (worker/src/worker.ts) is built from the
// same setting.

import { CRON_FIELDS, cronField, cronFields } from "../config/crontab.ts";

interface Fields {
  readonly minutes: ReadonlySet<number>;
  readonly hours: ReadonlySet<number>;
  readonly dates: ReadonlySet<number>;
  readonly months: ReadonlySet<number>;
  readonly dows: ReadonlySet<number>;
  readonly datesRestricted: boolean;
  readonly dowsRestricted: boolean;
}

/** Each field's values, day of week with 7 read as 0 (Sunday); undefined if the schedule does not parse. */
function parse(schedule: string): Fields | undefined {
  const fields = cronFields(schedule);
  if (fields === undefined) return undefined;
  const sets: ReadonlySet<number>[] = [];
  for (const [i, { min, max }] of CRON_FIELDS.entries()) {
    const parsed = cronField(fields[i] as string, min, max);
    if ("problem" in parsed) return undefined;
    sets.push(parsed.values);
  }
  const [minutes, hours, dates, months, dowsAsWritten] = sets as [
    ReadonlySet<number>,
    ReadonlySet<number>,
    ReadonlySet<number>,
    ReadonlySet<number>,
    ReadonlySet<number>,
  ];
  const dows = new Set([...dowsAsWritten].map((d) => (d === 7 ? 0 : d)));
  return { minutes, hours, dates, months, dows, datesRestricted: dates.size !== 31, dowsRestricted: dows.size !== 7 };
}

function dayMatches(f: Fields, t: Date): boolean {
  if (!f.months.has(t.getUTCMonth() + 1)) return false;
  const date = f.dates.has(t.getUTCDate());
  const dow = f.dows.has(t.getUTCDay());
  if (f.datesRestricted && f.dowsRestricted) return date || dow;
  return date && dow;
}

/** The first minute strictly after `after` that the schedule names, within a year; undefined if none or unreadable. */
export function nextScheduledTime(schedule: string, after: Date): Date | undefined {
  const f = parse(schedule);
  if (f === undefined) return undefined;
  const t = new Date(after.getTime());
  t.setUTCSeconds(0, 0);
  t.setUTCMinutes(t.getUTCMinutes() + 1);
  const end = after.getTime() + 366 * 86_400_000;
  while (t.getTime() <= end) {
    if (!dayMatches(f, t)) {
      t.setUTCHours(0, 0, 0, 0);
      t.setUTCDate(t.getUTCDate() + 1);
      continue;
    }
    if (f.hours.has(t.getUTCHours()) && f.minutes.has(t.getUTCMinutes())) return t;
    t.setUTCMinutes(t.getUTCMinutes() + 1);
  }
  return undefined;
}
