// Seeding one media: its file on disk, then the repository calls the API's
// handlers make (register, link, unlink), an admin's hold, the worker's real
// deletion attempts for the media that must fail, and finally its back-dated
// times.
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Config } from "@media/server/config";
import type { DatabaseHandle, MediaStateName } from "@media/server/db";
import { ClaimLease, finishBatch, retryPolicyOf } from "@media/server/deletion";
import type { AdminActions, MediaRepository, ReferenceOutcome } from "@media/server/media";
import { formatStoreFailure, type ObjectStore } from "@media/server/storage";
import { demoPng } from "../demo-images.ts";
import { claimAsWorker } from "./claim.ts";
import { ADMIN, STORE } from "./common.ts";
import type { DemoMedia } from "./demo-media.ts";
import { FINAL_STATE, type Timeline } from "./timeline.ts";

export interface SeedContext {
  readonly config: Config;
  readonly handle: DatabaseHandle;
  /** The repository the API's handlers use, and the dashboard's admin actions. */
  readonly media: MediaRepository;
  readonly admin: AdminActions;
  readonly root: string;
  /** The real disk adapter the worker uses, for the deletion attempts that must fail. */
  readonly store: ObjectStore;
}

/** Writes the media's file (or, for a failing one, a folder in its place); returns its size. */
async function writeContent(root: string, item: DemoMedia): Promise<number> {
  const file = path.join(root, ...item.key.split("/"));
  const content = item.content;
  if (content.kind === "folder") {
    await mkdir(file, { recursive: true });
    await writeFile(
      path.join(file, "README.txt"),
      "Demo data (npm run seed:demo): a folder stands where this media's file should be,\n" +
        "so the worker cannot unlink it and the media ends up FAILED.\n",
    );
    return content.declaredSize;
  }
  const bytes =
    content.kind === "png"
      ? demoPng(content.picture, content.variant, content.width, content.height)
      : Buffer.from(content.text, "utf8");
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, bytes);
  return bytes.length;
}

function expectChange(outcome: ReferenceOutcome, what: string): void {
  if (outcome.kind !== "ok" || !outcome.changed) throw new Error(`${what} did not change the media (${outcome.kind})`);
}

/**
 * Runs the worker's deletion attempts until the media is FAILED: each claims
 * it, confirms the lease, asks the real disk adapter to delete the folder
 * (which fails), and records that with the worker's own finishBatch
 * (DELETE_FAILED events, delete_attempts, last_error, the hourly tally).
 */
async function failForReal(ctx: SeedContext, id: string, key: string): Promise<void> {
  const { deletion } = ctx.config;
  const policy = retryPolicyOf(deletion);
  for (let attempt = 1; attempt <= policy.maxAttempts; attempt++) {
    const token = await claimAsWorker(ctx.handle, id, deletion.claimTimeoutSeconds);
    const noted = await ctx.store.note([key]);
    const window = await new ClaimLease(ctx.handle.pool, token, deletion).confirm();
    const error = (await ctx.store.deleteMany([key], window, noted)).failed.get(key);
    if (error === undefined) throw new Error(`deleting ${key}, a folder, unexpectedly succeeded`);
    await finishBatch(
      ctx.handle.pool,
      token,
      { done: new Map(), failures: new Map([[id, formatStoreFailure(error)]]) },
      policy,
    );
  }
}

/** Moves the media's times into the past; refuses if it is not in the state the seed left it in. */
async function backDate(handle: DatabaseHandle, id: string, times: Timeline, state: MediaStateName): Promise<void> {
  const { rowCount } = await handle.pool.query(
    `UPDATE media SET create_time = $2, update_time = coalesce($3::timestamptz, update_time),
       orphan_time = $4::timestamptz, delete_time = $5::timestamptz
     WHERE id = $1 AND state = $6::media_state`,
    [id, times.create, times.update ?? null, times.orphan, times.due, state],
  );
  if (rowCount !== 1) throw new Error(`media ${id} is no longer ${state} (did a running worker take it?)`);
  for (const [owner, time] of times.references) {
    await handle.pool.query("UPDATE media_references SET create_time = $3 WHERE media_id = $1 AND owner = $2", [
      id,
      owner,
      time,
    ]);
  }
}

/** Creates one media the way the services would, then gives it its history. Returns its size. */
export async function seedOne(ctx: SeedContext, item: DemoMedia, times: Timeline): Promise<number> {
  const size = await writeContent(ctx.root, item);
  const input = {
    store: STORE,
    key: item.key,
    contentType: item.contentType,
    sizeBytes: BigInt(size),
    labels: item.labels,
  };
  const created = await ctx.media.create(input, item.actor, ctx.config.pendingTtlSeconds);
  if (created.kind !== "created") throw new Error(`${item.key} is already registered (${created.kind})`);
  const id = created.media.id;
  for (const owner of [...item.formerOwners, ...item.owners]) {
    expectChange(await ctx.media.link(id, owner, item.actor), `linking ${item.key} to ${owner}`);
  }
  for (const owner of item.formerOwners) {
    const outcome = await ctx.media.unlink(id, owner, item.actor, ctx.config.gracePeriodSeconds);
    expectChange(outcome, `unlinking ${item.key} from ${owner}`);
  }
  if (item.hold !== undefined) {
    const held = await ctx.admin.hold(id, item.hold, ADMIN);
    if (held.kind !== "ok") throw new Error(`holding ${item.key} failed (${held.kind})`);
  }
  if (item.fate.kind === "failed") await failForReal(ctx, id, item.key);
  // Its lease ran out a second ago: the next sweep takes it back.
  if (item.fate.kind === "stuck") await claimAsWorker(ctx.handle, id, -1);
  await backDate(ctx.handle, id, times, FINAL_STATE[item.fate.kind]);
  return size;
}
