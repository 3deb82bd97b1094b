// The demo deletion history for the overview's chart: plausible hourly counts for
// the past week, added to deletion_hourly on top of any real ones.
import type { DatabaseHandle } from "@media/server/db";
import { between, createRandom } from "./random.ts";

/**
 * DEMO HISTORY, not real deletions: a plausible count for one past hour, busy
 * in working hours, quiet at night and at weekends, with a few failed attempts
 * and a daily burst at 14:00 on some days. A pure function of the hour, so a
 * rerun computes the same values.
 */
function demoHour(hour: Date): { deleted: number; bytes: number; failed: number } {
  const random = createRandom(Math.floor(hour.getTime() / 3_600_000));
  const h = hour.getHours();
  const weekend = hour.getDay() === 0 || hour.getDay() === 6;
  const rhythm = h >= 8 && h < 19 ? 14 + 26 * Math.sin(((h - 7.5) / 11) * Math.PI) : h >= 19 && h < 23 ? 6 : 1.5;
  const deleted = Math.round(rhythm * (weekend ? 0.3 : 1) * between(random, 0.6, 1.4));
  const bytes = Math.round(deleted * between(random, 150_000, 1_200_000));
  const failed = (random() < 0.1 ? 1 + Math.floor(random() * 3) : 0) + (h === 14 && hour.getDate() % 3 === 0 ? 9 : 0);
  return { deleted, bytes, failed };
}

/**
 * Adds demo history to deletion_hourly for the 167 complete hours before the
 * current one (which is left to real deletions). Adds to existing rows, so
 * real history is kept. After --reset, only hours the previous seed did not
 * cover are added (since: when it ran), so the chart never counts twice.
 */
export async function addDemoHistory(handle: DatabaseHandle, since: Date | undefined): Promise<number> {
  const { rows } = await handle.pool.query<{ hour: Date }>(
    `SELECT h.hour FROM generate_series(1, 167) AS i,
       LATERAL (SELECT date_trunc('hour', now()) - make_interval(hours => i) AS hour) h
     WHERE $1::timestamptz IS NULL OR h.hour >= date_trunc('hour', $1::timestamptz)
     ORDER BY h.hour`,
    [since ?? null],
  );
  const hours = rows.map((r) => ({ hour: r.hour, ...demoHour(r.hour) }));
  await handle.pool.query(
    `INSERT INTO deletion_hourly AS h (hour, deleted_count, deleted_bytes, failed_count)
     SELECT * FROM unnest($1::timestamptz[], $2::bigint[], $3::bigint[], $4::bigint[])
     ON CONFLICT (hour) DO UPDATE SET deleted_count = h.deleted_count + EXCLUDED.deleted_count,
       deleted_bytes = h.deleted_bytes + EXCLUDED.deleted_bytes, failed_count = h.failed_count + EXCLUDED.failed_count`,
    [hours.map((h) => h.hour), hours.map((h) => h.deleted), hours.map((h) => h.bytes), hours.map((h) => h.failed)],
  );
  return hours.length;
}
