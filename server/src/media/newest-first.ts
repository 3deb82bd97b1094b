import type pg from "pg";

// One keyset page, newest first, of a table of runs (bulk actions,
// reconciliations, attestations): ORDER BY create_time DESC, id DESC, after a
// cursor of the last row's create time in microseconds (a page token never
// holds infinity) and id. Each table has an index on (create_time DESC, id
// DESC), and one on (column, create_time DESC, id DESC) for its filter.

/** Where a page ended: its last row's create time (microseconds since 1970) and id. */
export interface CreateTimeCursor {
  readonly createMicros: string;
  readonly id: string;
}

/** A row with the cursor key its page token is made of. */
export type WithCreateKey<Row> = Row & { readonly create_key: string };

/** The next `limit` rows of `table` (equal to `where` when given), newest first, after the cursor. */
export async function newestFirstPage<Row extends pg.QueryResultRow>(
  pool: pg.Pool,
  table: "bulk_actions" | "reconciliations" | "attestations",
  where: { readonly column: "store" | "owner_prefix"; readonly value: string } | undefined,
  after: CreateTimeCursor | undefined,
  limit: number,
): Promise<WithCreateKey<Row>[]> {
  const values: unknown[] = [limit];
  const conditions: string[] = [];
  if (where !== undefined) conditions.push(`${where.column} = $${values.push(where.value)}`);
  if (after !== undefined) {
    const micros = `$${values.push(after.createMicros)}::bigint`;
    conditions.push(
      `(create_time, id) < (timestamptz 'epoch' + ${micros} * interval '1 microsecond', $${values.push(after.id)}::bigint)`,
    );
  }
  const { rows } = await pool.query<WithCreateKey<Row>>(
    `SELECT *, (extract(epoch FROM create_time) * 1000000)::bigint::text AS create_key FROM ${table}
     ${conditions.length === 0 ? "" : `WHERE ${conditions.join(" AND ")}`}
     ORDER BY create_time DESC, id DESC LIMIT $1`,
    values,
  );
  return rows;
}
