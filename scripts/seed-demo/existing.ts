// The demo data a previous seed left: which media, when that seed ran (so the
// demo history is not counted twice), and removing it all for --reset.
import { rm } from "node:fs/promises";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { DatabaseHandle } from "@media/server/db";
import { type BatchOutcome, claimMedia, finishBatch, releaseBatch, retryPolicyOf } from "@media/server/deletion";
import {
  cursorFromToken,
  type ListedMedia,
  listMedia,
  listMediaReferences,
  MEDIA_PAGE_TOKENS,
  type MediaCursor,
  type MediaFilter,
} from "@media/server/media";
import { PREFIX, STORE, say } from "./common.ts";
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

/** Who the reset's unlinks, releases and retries are recorded as. */
const ACTOR = "seed-demo";
const RESET_REASON = "demo data removed by npm run seed:demo -- --reset";
/**
 * The reset's own claim lasts this long: it is finished moments later, and
 * should the seed die in between, its media are free again (a sweep, or the
 * next --reset, takes them back) soon after.
 */
const RESET_LEASE_SECONDS = 30;
/** How long --reset waits for a running worker's live claim on demo media before giving up. */
const WAIT_FOR_WORKER_SECONDS = 60;

/**
 * The claims among these whose lease has expired: no job may touch storage
 * under them any more (a job stops acting a margin before its lease ends), so
 * handing them back cannot strand a file-less row of some other media in the
 * same claim. An own statement, a read: the engine answers this only by
 * taking a claim over (reclaimExpiredClaim: any expired claim, with a new job),
 * and the demo's stuck claim must be ended, not restarted.
 */
async function expiredClaims(handle: DatabaseHandle, tokens: string[]): Promise<string[]> {
  const { rows } = await handle.pool.query<{ token: string }>(
    "SELECT token FROM deletion_claims WHERE token = ANY($1::uuid[]) AND lease_expire_time < now()",
    [tokens],
  );
  return rows.map((r) => r.token);
}

/** The current hour as the deletion tally keys it (finishBatch's date_trunc), by the database's clock. */
async function tallyHour(handle: DatabaseHandle): Promise<string> {
  const { rows } = await handle.pool.query<{ hour: string }>("SELECT date_trunc('hour', now(), 'UTC')::text AS hour");
  return (rows[0] as { hour: string }).hour;
}

/**
 * Takes the reset's deletions back out of the hourly tally finishBatch added
 * them to (hour: read just before it ran), so that the overview's chart keeps
 * showing the demo history and the worker's deletions, not a spike of a
 * couple of hundred demo files per --reset. Own SQL, like the demo history
 * itself (history.ts): the engine has no call that leaves a batch out of the
 * tally. Only when the hour has not turned since (otherwise finishBatch may
 * have counted them in either hour, and they are left counted).
 */
async function untally(handle: DatabaseHandle, hour: string, outcome: BatchOutcome): Promise<void> {
  if (outcome.deleted === 0) return;
  const bytes = outcome.deletedByStore.reduce((sum, s) => sum + s.bytes, 0);
  await handle.pool.query(
    `UPDATE deletion_hourly SET deleted_count = deleted_count - $2, deleted_bytes = deleted_bytes - $3
     WHERE hour = $1::timestamptz AND date_trunc('hour', now(), 'UTC') = $1::timestamptz`,
    [hour, outcome.deleted, bytes],
  );
}

/**
 * Brings every demo media to where the sweep's claim takes it (unheld, no
 * reference, PENDING or ORPHANED), each through the product's own call, with
 * its event: references dropped with the repository's unlink (one reference
 * at a time: the demo's owners, blog/posts/42#cover and the like, may name
 * real entities whose other media UnlinkOwner would orphan), holds released
 * and FAILED media retried with the admin actions, and stuck claims handed
 * back with the engine's releaseBatch. A live claim is left to its worker.
 */
async function makeClaimable(ctx: SeedContext, media: ListedMedia[]): Promise<void> {
  for (const m of media) {
    for (let after: string | undefined, more = m.reference_count > 0; more; ) {
      const refs = await listMediaReferences(ctx.handle.db, m.id, after, 100);
      for (const ref of refs) await ctx.media.unlink(m.id, ref.owner, ACTOR, ctx.config.gracePeriodSeconds);
      after = refs.at(-1)?.owner;
      more = refs.length === 100;
    }
    if (m.hold_reason !== null) await ctx.admin.release(m.id, ACTOR);
    if (m.state === "FAILED") await ctx.admin.retry(m.id, ACTOR);
  }
  const tokens = [...new Set(media.flatMap((m) => (m.state === "DELETING" && m.claim_token ? [m.claim_token] : [])))];
  if (tokens.length === 0) return;
  for (const token of await expiredClaims(ctx.handle, tokens)) await releaseBatch(ctx.handle.pool, token, RESET_REASON);
}

/**
 * Removes the previous demo data the way the product deletes media: files
 * first, as the worker does (a crash then leaves rows that a rerun removes,
 * never untracked files), then the rows, made claimable (makeClaimable),
 * claimed with the engine's claimMedia (no job: the files are gone already)
 * and deleted with its finishBatch, each with its CLAIMED and DELETED events.
 * Events themselves are append-only and stay.
 *
 * finishBatch also adds the removed media to the current hour of the
 * deletion tally; untally takes them out again (the chart is demo history
 * and the worker's deletions, and a rerun must not grow a spike). Their
 * DELETED events stay, as for any deletion.
 *
 * Demo media a running worker holds under a live claim are its to finish (its
 * files are gone, which counts as deleted); the reset passes again until none
 * is left, waiting up to WAIT_FOR_WORKER_SECONDS.
 */
export async function removeDemo(ctx: SeedContext): Promise<number> {
  await rm(path.join(ctx.root, PREFIX), { recursive: true, force: true });
  const policy = retryPolicyOf(ctx.config.deletion);
  const found = await demoMedia(ctx.handle);
  const waitUntil = Date.now() + WAIT_FOR_WORKER_SECONDS * 1000;
  for (let left = found; left.length > 0; left = await demoMedia(ctx.handle)) {
    if (left !== found) {
      if (Date.now() > waitUntil) {
        throw new Error(
          `${left.length} demo media are still claimed by a running worker (or were linked again meanwhile); ` +
            "run `npm run seed:demo -- --reset` again in a few minutes",
        );
      }
      say(`  waiting for a running worker's claim on ${left.length} demo media`);
      await sleep(1000);
    }
    await makeClaimable(ctx, left);
    const ids = left.map((m) => m.id);
    const { token, claimed } = await claimMedia(ctx.handle.pool, ids, RESET_LEASE_SECONDS, {
      actor: ACTOR,
      reason: RESET_REASON,
    });
    if (claimed.length === 0) continue;
    const hour = await tallyHour(ctx.handle);
    await untally(
      ctx.handle,
      hour,
      await finishBatch(
        ctx.handle.pool,
        token,
        // Deleted outright (a trash retention of 0): the reset removes the demo's rows for good.
        { done: new Map(claimed.map((id) => [id, 0])), failures: new Map() },
        policy,
      ),
    );
  }
  return found.length;
}
