import type pg from "pg";

// The audit log's monthly partitions (migration 0014_events_partitioned):
// made ahead of time, and dropped whole once older than EVENTS_RETENTION.

/** How far ahead partitions exist: inserts never wait for the next sweep, or a restart, to have one. */
const PREPARE_AHEAD = "3 months";

type Queryable = pg.Pool | pg.PoolClient;

/** Creates the monthly partitions up to PREPARE_AHEAD from now; returns how many it made. */
export async function prepareEventPartitions(q: Queryable): Promise<number> {
  const { rows } = await q.query<{ made: number }>(
    `SELECT media_events_prepare(now() + interval '${PREPARE_AHEAD}') AS made`,
  );
  return rows[0]?.made ?? 0;
}

/**
 * Drops the partitions whose every event is older than retentionSeconds (0
 * keeps every event); returns how many it dropped. A drop that cannot get its
 * lock at once is left to the next call.
 */
export async function dropExpiredEvents(q: Queryable, retentionSeconds: number): Promise<number> {
  if (retentionSeconds <= 0) return 0;
  const { rows } = await q.query<{ dropped: number }>(
    "SELECT media_events_drop_before(now() - make_interval(secs => $1)) AS dropped",
    [retentionSeconds],
  );
  return rows[0]?.dropped ?? 0;
}

/** The end of the latest partition EVENTS_RETENTION dropped: events written before it are gone. Null when none was. */
export async function eventsDroppedBefore(q: Queryable): Promise<Date | null> {
  const { rows } = await q.query<{ before: Date | null }>(
    "SELECT max(ends) AS before FROM media_event_partitions WHERE drop_time IS NOT NULL",
  );
  return rows[0]?.before ?? null;
}
