// The demo data a previous seed left: which media, when that seed ran (so the
// demo history is not counted twice), and removing it all for --reset.
import { rm } from "node:fs/promises";
import path from "node:path";
import type { DatabaseHandle } from "@media/server/db";
import {
  cursorFromToken,
  type ListedMedia,
  listMedia,
  MEDIA_PAGE_TOKENS,
  type MediaCursor,
  type MediaFilter,
} from "@media/server/media";
import { PREFIX, STORE } from "./common.ts";
import type { SeedContext } from "./seeding.ts";

const DEMO_FILTER: MediaFilter = { store: STORE, keyPrefix: PREFIX };

/** The demo media already there (store "default", keys under demo/), through the dashboard's own list. */
export async function demoMedia(handle: DatabaseHandle, page = 500): Promise<ListedMedia[]> {
  const found: ListedMedia[] = [];
  for (let after: MediaCursor | undefined; ; ) {
    const rows = await listMedia(handle.db, DEMO_FILTER, "create_time", after, page);
    found.push(...rows);
    const last = rows.at(-1);
    if (rows.length < page || last === undefined) return found;
    after = cursorFromToken(MEDIA_PAGE_TOKENS.create_time.cursorOf(last));
  }
}

/** When the previous seed ran: the first CREATED event of its media. */
export async function seededAt(handle: DatabaseHandle, ids: string[]): Promise<Date | undefined> {
  const { rows } = await handle.pool.query<{ at: Date | null }>(
    "SELECT min(create_time) AS at FROM media_events WHERE media_id = ANY($1::bigint[]) AND type = 'CREATED'",
    [ids],
  );
  return rows[0]?.at ?? undefined;
}

/**
 * Removes the previous demo data: files first, as the worker does (a crash then
 * leaves rows that a rerun removes, never untracked files), then references and
 * rows, each row with a DELETED event. Events themselves are append-only and stay.
 * Its own statements: the engine deletes rows only under a claim (finishBatch),
 * and it cannot claim given media (see claim.ts), held or linked ones least of all.
 */
export async function removeDemo(ctx: SeedContext): Promise<number> {
  await rm(path.join(ctx.root, PREFIX), { recursive: true, force: true });
  const client = await ctx.handle.pool.connect();
  try {
    await client.query("BEGIN");
    const { rows } = await client.query<{ id: string }>(
      "SELECT id FROM media WHERE store = $1 AND key LIKE $2 FOR UPDATE",
      [STORE, `${PREFIX}%`],
    );
    const ids = rows.map((r) => r.id);
    await client.query("DELETE FROM media_references WHERE media_id = ANY($1::bigint[])", [ids]);
    await client.query(
      `INSERT INTO media_events (media_id, type, from_state, actor, reason)
       SELECT id, 'DELETED', state, 'seed-demo', 'demo data removed by npm run seed:demo -- --reset'
       FROM media WHERE id = ANY($1::bigint[])`,
      [ids],
    );
    await client.query("DELETE FROM media WHERE id = ANY($1::bigint[])", [ids]);
    await client.query("COMMIT");
    return ids.length;
  } catch (error) {
    await client.query("ROLLBACK").catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}
