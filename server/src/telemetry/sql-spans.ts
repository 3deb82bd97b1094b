import { type Attributes, context, type Span, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import type pg from "pg";
import { tracer } from "./tracer.ts";

// A span per SQL statement of a pool, as a child of the call's or the job's
// span: statements run outside a recorded span (probes, the gauges' refresh,
// graphile-worker's own polling, an unsampled call) are not traced. The span says what ran, never
// with what: its name is the statement's name (the hot paths' named statements)
// or its operation and first table ("SELECT media"), and neither the SQL text
// nor any parameter value is recorded; a failure records its SQLSTATE only,
// since PostgreSQL's messages can quote values.

type Query = (...args: unknown[]) => unknown;
type Callback = (error: unknown, result?: unknown) => void;

const OPERATION = /^\s*(?:\/\*[\s\S]*?\*\/\s*)?([A-Za-z]+)/;
const IDENTIFIER = String.raw`("?[A-Za-z_][\w."]*)(?![\w."])`;
/** Not FOR UPDATE, FOR NO KEY UPDATE. */
const UPDATE = String.raw`(?<!\b(?:for|key)\s+)update`;
/** The table an operation starts with: FROM's identifier (not a function call), INTO's, UPDATE's or TABLE's. */
const TARGET = new RegExp(String.raw`\bfrom\s+${IDENTIFIER}(?!\s*\()|\b(?:into|${UPDATE}|table)\s+${IDENTIFIER}`, "i");
/** A WITH statement's first data-modifying statement, the one it is run for. */
const MODIFYING = new RegExp(String.raw`\b(insert\s+into|${UPDATE}|delete\s+from)\s+${IDENTIFIER}`, "i");
/** SELECT of a function without FROM (graphile_worker.add_job, pg_cancel_backend). */
const FUNCTION = /^\s*select\s+([A-Za-z_][\w.]*)\s*\(/i;

const unquoted = (name: string | undefined) => name?.replaceAll('"', "");

/**
 * The operation and the span name: the statement's name, or its operation and
 * table ("SELECT media"; a WITH statement by its first data-modifying
 * statement, "UPDATE media"; a function called alone, "SELECT graphile_worker.add_job").
 */
export function describeStatement(query: unknown): { operation: string; summary: string } {
  const config = typeof query === "string" ? { text: query } : (query as { text?: unknown; name?: unknown });
  const text = typeof config.text === "string" ? config.text : "";
  let operation = OPERATION.exec(text)?.[1]?.toUpperCase() ?? "QUERY";
  if (typeof config.name === "string" && config.name !== "") return { operation, summary: config.name };
  let target: string | undefined;
  if (operation === "WITH") {
    const modifying = MODIFYING.exec(text);
    if (modifying !== null) {
      operation = (modifying[1]?.split(/\s/)[0] ?? "WITH").toUpperCase();
      target = unquoted(modifying[2]);
    }
  } else {
    const found = TARGET.exec(text);
    target = unquoted(found?.[1] ?? found?.[2]) ?? (operation === "SELECT" ? FUNCTION.exec(text)?.[1] : undefined);
  }
  return { operation, summary: target === undefined ? operation : `${operation} ${target}` };
}

function end(span: Span, error: unknown): void {
  if (error !== undefined && error !== null) {
    const code = (error as { code?: unknown }).code;
    const type = typeof code === "string" ? code : error instanceof Error ? error.name : "Error";
    span.setAttributes({
      "error.type": type,
      ...(typeof code === "string" ? { "db.response.status_code": code } : {}),
    });
    span.setStatus({ code: SpanStatusCode.ERROR, message: typeof code === "string" ? `SQLSTATE ${code}` : type });
  }
  span.end();
}

/** Wraps one connection's query(): promise and callback forms; cursors and streams pass through untraced. */
function traceClient(client: pg.PoolClient): void {
  const query = client.query as unknown as Query;
  const { database, host, port } = client;
  client.query = function tracedQuery(this: unknown, ...args: unknown[]) {
    const first = args[0];
    if (
      trace.getSpan(context.active())?.isRecording() !== true ||
      typeof (first as { submit?: unknown } | null)?.submit === "function"
    ) {
      return query.apply(this, args);
    }
    const { operation, summary } = describeStatement(first);
    const attributes: Attributes = {
      "db.system": "postgresql",
      "db.system.name": "postgresql",
      "db.operation.name": operation,
      "db.query.summary": summary,
      "db.namespace": database,
      "server.address": host,
      "server.port": port,
    };
    const span = tracer.startSpan(summary, { kind: SpanKind.CLIENT, attributes });
    const last = args.length - 1;
    const callback = args[last];
    if (typeof callback === "function") {
      args[last] = (error: unknown, result?: unknown) => {
        end(span, error);
        (callback as Callback)(error, result);
      };
      return query.apply(this, args);
    }
    let result: unknown;
    try {
      result = query.apply(this, args);
    } catch (error) {
      end(span, error);
      throw error;
    }
    if (typeof (result as Promise<unknown> | undefined)?.then !== "function") {
      end(span, undefined);
      return result;
    }
    return (result as Promise<unknown>).then(
      (value) => {
        end(span, undefined);
        return value;
      },
      (error: unknown) => {
        end(span, error);
        throw error;
      },
    );
  } as typeof client.query;
}

/**
 * Traces the statements of a pool from the pool factory (connectDatabase):
 * every connection's query(), as each connection opens. A caller waiting for a
 * free connection is handed it in its own context, not in that of whoever
 * released it, so pool.query's statements stay with their call.
 */
export function traceQueries(pool: pg.Pool): void {
  pool.on("connect", traceClient);
  const connect = pool.connect.bind(pool) as (callback?: Callback) => unknown;
  pool.connect = ((callback?: Callback) =>
    callback === undefined ? connect() : connect(context.bind(context.active(), callback))) as typeof pool.connect;
}
