// When the next scheduled sweep is due: SWEEP_SCHEDULE read as graphile-worker
// reads a crontab line's time (UTC; numbers, ranges `a-b`, wildcards `*` and
// `*/n`, lists of them; 7 is Sunday too; when both day fields are restricted,
// either matching is enough). The API answers it in ListWorkers; the worker's
// crontab (worker/src/worker.ts) is built from the same setting.

interface Fields {
  readonly minutes: ReadonlySet<number>;
  readonly hours: ReadonlySet<number>;
  readonly dates: ReadonlySet<number>;
  readonly months: ReadonlySet<number>;
  readonly dows: ReadonlySet<number>;
  readonly datesRestricted: boolean;
  readonly dowsRestricted: boolean;
}

function range(text: string, min: number, max: number, wrap = false): Set<number> | undefined {
  const values = new Set<number>();
  const add = (n: number) => {
    const v = wrap && n === max + 1 ? min : n;
    if (v < min || v > max) return false;
    values.add(v);
    return true;
  };
  for (const part of text.split(",")) {
    let m = /^(\d+)$/.exec(part);
    if (m !== null) {
      if (!add(Number(m[1]))) return undefined;
      continue;
    }
    m = /^(\d+)-(\d+)$/.exec(part);
    if (m !== null) {
      const [a, b] = [Number(m[1]), Number(m[2])];
      if (b <= a) return undefined;
      for (let i = a; i <= b; i++) if (!add(i)) return undefined;
      continue;
    }
    m = /^\*(?:\/(\d+))?$/.exec(part);
    if (m !== null) {
      const step = m[1] === undefined ? 1 : Number(m[1]);
      if (step < 1) return undefined;
      for (let i = min; i <= max; i += step) values.add(i);
      continue;
    }
    return undefined;
  }
  return values;
}

function parse(schedule: string): Fields | undefined {
  const parts = schedule.trim().split(/\s+/);
  if (parts.length !== 5) return undefined;
  const [min, hour, date, month, dow] = parts as [string, string, string, string, string];
  const minutes = range(min, 0, 59);
  const hours = range(hour, 0, 23);
  const dates = range(date, 1, 31);
  const months = range(month, 1, 12);
  const dows = range(dow, 0, 6, true);
  if (!minutes || !hours || !dates || !months || !dows) return undefined;
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
