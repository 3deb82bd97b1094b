import type pg from "pg";

/**
 * Runs fn inside BEGIN ... COMMIT on one pooled connection, rolling back when
 * fn throws. A connection whose ROLLBACK failed is in an unknown state (a
 * transaction may still be open on it), so it is destroyed rather than
 * returned to the pool.
 */
export async function withTransaction<T>(
  pool: pg.Pool,
  fn: (client: pg.PoolClient) => Promise<T>,
  begin = "BEGIN",
): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query(begin);
    const result = await fn(client);
    await client.query("COMMIT");
    return result;
  } catch (error) {
    await client.query("ROLLBACK").catch((rollbackError: Error) => {
      broken = rollbackError;
    });
    throw error;
  } finally {
    client.release(broken);
  }
}
