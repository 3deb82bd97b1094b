// What a failed query means, by its SQLSTATE (or node-pg's connection errors):
// the database was not there, two transactions collided, or the statement
// itself cannot succeed on this data. Callers choose UNAVAILABLE, a retry, or
// isolating the rows.

const CONNECTION_ERROR_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "EHOSTUNREACH",
  "ENOTFOUND",
]);
// Codes that mean "the database is not there right now" (shutdown, crash recovery, too many connections).
const UNAVAILABLE_SQLSTATES = new Set(["57P01", "57P02", "57P03", "53300"]);

/** The SQLSTATE (or node-pg's connection code) of a failed query, if it has one. */
export function codeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

/** True for errors that mean the database could not be reached, as opposed to a bug. */
export function isDatabaseUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = codeOf(error);
  if (code !== undefined && (CONNECTION_ERROR_CODES.has(code) || UNAVAILABLE_SQLSTATES.has(code))) return true;
  if (code?.startsWith("08")) return true;
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/.test(
    error.message,
  );
}

/** Deadlock or serialization failure: the transaction was rolled back and a retry will succeed. */
export function isTransientConflict(error: unknown): boolean {
  const code = codeOf(error);
  return code === "40P01" || code === "40001";
}

// SQLSTATE classes that say nothing about the data: invalid transaction state
// (an idle session ended), insufficient resources, lock not available,
// operator intervention (a cancel, a statement timeout), system errors.
const CIRCUMSTANTIAL_CLASSES = new Set(["25", "40", "53", "55", "57", "58", "XX"]);

/**
 * True when PostgreSQL refused the statement for what it was given (a value
 * out of range, a constraint, an exception a trigger raised): running it
 * again on the same rows fails again, so they have to be set apart.
 */
export function isDataFault(error: unknown): boolean {
  const code = codeOf(error);
  return (
    code !== undefined &&
    /^[0-9A-Z]{5}$/.test(code) &&
    !isDatabaseUnavailable(error) &&
    !CIRCUMSTANTIAL_CLASSES.has(code.slice(0, 2))
  );
}

/** A unique index refused the row (SQLSTATE 23505): another row holds its key. */
export const isUniqueViolation = (error: unknown): boolean => codeOf(error) === "23505";

/** graphile_worker's schema (3F000) or add_job (42883) is not there yet: no worker has started against this database. */
export const isJobQueueMissing = (error: unknown): boolean => {
  const code = codeOf(error);
  return code === "3F000" || code === "42883";
};
