// Plans: the real listMedia on a Kysely that captures the compiled queries,
// then EXPLAIN (ANALYZE, BUFFERS) of each with its parameters, the indexes it
// used and any sequential scan of media or media_references.
import type { DatabaseHandle } from "@media/server/db";
import {
  cursorFromToken,
  listMedia,
  MEDIA_PAGE_TOKENS,
  type MediaCursor,
  type MediaFilter,
  type MediaOrder,
} from "@media/server/media";
import type { CompiledQuery, QueryId } from "kysely";
import type pg from "pg";
import { DEEP, PAGE_SIZE } from "./settings.ts";

/**
 * The database handle's Kysely with a plugin that keeps the compiled form of
 * every query it runs (a page may take more than one). Subqueries pass through
 * the plugin too, each under its own id: only the ids that reach
 * transformResult, the executed statements, are kept.
 */
export function capturingDb(handle: DatabaseHandle) {
  const executor = handle.db.getExecutor();
  const compiled = new Map<QueryId, CompiledQuery>();
  let queries: CompiledQuery[] = [];
  const db = handle.db.withPlugin({
    transformQuery({ node, queryId }) {
      compiled.set(queryId, executor.compileQuery(node, queryId));
      return node;
    },
    async transformResult({ queryId, result }) {
      const query = compiled.get(queryId);
      if (query !== undefined) queries.push(query);
      return result;
    },
  });
  return {
    db,
    /** The queries run since the last call. */
    take(): CompiledQuery[] {
      const taken = queries;
      queries = [];
      compiled.clear();
      return taken;
    },
  };
}

export type Capture = ReturnType<typeof capturingDb>;

interface Statement {
  readonly sql: string;
  readonly parameters: readonly unknown[];
  readonly plan: string;
}

export interface Plan {
  readonly statements: Statement[];
  /** Rows the page's listMedia call returned. */
  readonly rows: number;
  /** Sum of the statements' execution times. */
  readonly executionMs: number;
  readonly indexes: string[];
  readonly seqScans: string[];
}

async function explain(pool: pg.Pool, queries: CompiledQuery[], rows: number): Promise<Plan> {
  const statements: Statement[] = [];
  for (const query of queries) {
    const result = await pool.query(`EXPLAIN (ANALYZE, BUFFERS) ${query.sql}`, [...query.parameters]);
    const plan = result.rows.map((r) => r["QUERY PLAN"] as string).join("\n");
    statements.push({ sql: query.sql, parameters: query.parameters, plan });
  }
  const text = statements.map((s) => s.plan).join("\n");
  const indexes = new Set<string>();
  for (const m of text.matchAll(/(?:Index Scan(?: Backward)?|Index Only Scan(?: Backward)?) using (\S+)/g)) {
    indexes.add(m[1] as string);
  }
  for (const m of text.matchAll(/Bitmap Index Scan on (\S+)/g)) indexes.add(m[1] as string);
  const seqScans = [...text.matchAll(/Seq Scan on (media_references|media)\b(?!_)/g)].map((m) => m[1] as string);
  const executionMs = [...text.matchAll(/Execution Time: ([\d.]+) ms/g)].reduce((sum, m) => sum + Number(m[1]), 0);
  return { statements, rows, executionMs, indexes: [...indexes], seqScans };
}

export type ListMedia = typeof listMedia;

/**
 * Plans of page 1 and of the deepest page up to DEEP + 1, following cursors as
 * the handler does. `list` is the repository's listMedia, or a variant of it.
 */
export async function plans(
  pool: pg.Pool,
  capture: Capture,
  filter: MediaFilter,
  order: MediaOrder,
  list: ListMedia = listMedia,
) {
  const { db, take } = capture;
  let after: MediaCursor | undefined;
  take();
  let rows = await list(db, filter, order, after, PAGE_SIZE + 1);
  const first = await explain(pool, take(), rows.length);
  let page = 1;
  let queries: CompiledQuery[] = [];
  while (page <= DEEP && rows.length > PAGE_SIZE) {
    after = cursorFromToken(MEDIA_PAGE_TOKENS[order].cursorOf(rows[PAGE_SIZE - 1]!));
    rows = await list(db, filter, order, after, PAGE_SIZE + 1);
    queries = take();
    page++;
  }
  const deep = page > 1 ? await explain(pool, queries, rows.length) : undefined;
  return { first, deep, deepPage: page };
}
