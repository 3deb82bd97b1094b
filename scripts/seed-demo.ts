// `npm run seed:demo [-- --reset]`: fills the one-command service with demo
// data so a newcomer sees a living dashboard. Real PNG, JSON and text files in
// the disk store "default"; about 200 media in every state, created through the
// repository functions the API uses (so their events are real); two deletions
// that really fail; and a week of demo deletion history for the overview chart.
// Everything it writes lives under the key prefix demo/, and --reset removes
// exactly that before seeding again.
import { randomUUID } from "node:crypto";
import { mkdir, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { ClaimLease, finishBatch } from "@media/server/deletion";
import { formatStoreFailure, type ObjectStore, openStores } from "@media/server/storage";
import type { Config } from "../server/src/config.ts";
import { connectDatabase, type DatabaseHandle } from "../server/src/db/connect.ts";
import { migrateToLatest } from "../server/src/db/migrate.ts";
import type { MediaStateName } from "../server/src/db/schema.ts";
import { createLogger, type Logger } from "../server/src/logger.ts";
import { holdMedia } from "../server/src/media/admin-actions.ts";
import {
  createMedia,
  getStats,
  linkMedia,
  type ReferenceOutcome,
  unlinkMedia,
} from "../server/src/media/repository.ts";
import { type DatabaseLocation, loadConfigOrExit, resolveDatabase } from "../server/src/process.ts";
import { demoPng, type PictureKind } from "./demo-images.ts";

const STORE = "default";
const PREFIX = "demo/";
/** Who places the holds in the demo (the API records the caller; there is no authentication yet). */
const ADMIN = "admin";

const MINUTE = 60;
const HOUR = 3600;
const DAY = 86_400;

const say = (line: string) => process.stdout.write(`${line}\n`);

// ---------------------------------------------------------------- randomness

type Random = () => number;

/** mulberry32: a tiny seeded generator, so every run seeds the same catalogue. */
function createRandom(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const between = (random: Random, min: number, max: number) => min + random() * (max - min);
const hex = (random: Random) =>
  Math.floor(random() * 0xffffffff)
    .toString(16)
    .padStart(8, "0");

// ---------------------------------------------------------------- the catalogue

/** Where a demo media ends up. Times are in seconds; dueIn < 0 means overdue. */
type Fate =
  | { readonly kind: "linked" }
  /** Registered `age` seconds ago and never linked. */
  | { readonly kind: "pending"; readonly age: number }
  /** orphaned: waiting for its delete_time. failed: every deletion attempt failed for real.
   *  stuck: claimed by a worker that never finished (DELETING until a sweep reclaims it). */
  | { readonly kind: "orphaned" | "failed" | "stuck"; readonly dueIn: number };

type Content =
  | {
      readonly kind: "png";
      readonly picture: PictureKind;
      readonly variant: number;
      readonly width: number;
      readonly height: number;
    }
  | { readonly kind: "text"; readonly text: string }
  /** A folder where the file should be: unlink() refuses it, so its deletion fails for real. */
  | { readonly kind: "folder"; readonly declaredSize: number };

interface DemoMedia {
  readonly key: string;
  readonly contentType: string;
  readonly labels: Readonly<Record<string, string>>;
  /** The service that registers and links it. */
  readonly actor: string;
  readonly content: Content;
  /** References it keeps. */
  readonly owners: readonly string[];
  /** References it had and lost (linked, then unlinked). */
  readonly formerOwners: readonly string[];
  readonly fate: Fate;
  readonly hold: string | undefined;
  /** Roughly how long ago it was registered; orphans are moved earlier to fit their orphan time. */
  readonly ageDays: number;
}

const LINKED: Fate = { kind: "linked" };

const CONTENT_TYPES: Record<string, string> = { png: "image/png", json: "application/json", txt: "text/plain" };

type Spec = Omit<DemoMedia, "contentType" | "owners" | "formerOwners" | "hold"> &
  Partial<Pick<DemoMedia, "owners" | "formerOwners" | "hold">>;

function demo(spec: Spec): DemoMedia {
  const extension = spec.key.slice(spec.key.lastIndexOf(".") + 1);
  const contentType = CONTENT_TYPES[extension];
  if (contentType === undefined) throw new Error(`no content type for ${spec.key}`);
  return { owners: [], formerOwners: [], hold: undefined, ...spec, contentType };
}

const png = (picture: PictureKind, variant: number, width: number, height: number): Content => ({
  kind: "png",
  picture,
  variant,
  width,
  height,
});

/** Shared by the catalogue builders: the random source and the fates they hand out. */
class Catalogue {
  private orphans = 0;
  readonly random: Random;
  private readonly pendingTtl: number;
  constructor(random: Random, pendingTtl: number) {
    this.random = random;
    this.pendingTtl = pendingTtl;
  }

  /**
   * An orphan's fate. Cycles through "due within 7 days" (half), "due within
   * 24 hours" (three in eight) and "overdue" (one in eight), so the overview's
   * due counts and the deletion plan are never empty.
   */
  orphan(): Fate {
    const bucket = ["week", "soon", "week", "overdue", "soon", "week", "soon", "week"][this.orphans++ % 8];
    const dueIn =
      bucket === "overdue"
        ? -between(this.random, 10 * MINUTE, 6 * HOUR)
        : bucket === "soon"
          ? between(this.random, HOUR, 23 * HOUR)
          : between(this.random, 1.1 * DAY, 6.8 * DAY);
    return { kind: "orphaned", dueIn };
  }

  /** A never-linked upload, due within the pending TTL (or just past it, when overdue). */
  pending(overdue = false): Fate {
    const age = overdue
      ? this.pendingTtl + between(this.random, 10 * MINUTE, 3 * HOUR)
      : Math.min(this.pendingTtl * between(this.random, 0.05, 0.9), 25 * DAY);
    return { kind: "pending", age };
  }

  /** Its references: kept, or all lost when the owner went away. */
  references(ownerGone: boolean, owners: string[]): Pick<DemoMedia, "owners" | "formerOwners" | "fate"> {
    return ownerGone
      ? { owners: [], formerOwners: owners, fate: this.orphan() }
      : { owners, formerOwners: [], fate: LINKED };
  }
}

function blogMedia(c: Catalogue): DemoMedia[] {
  const base = { labels: { team: "blog" }, actor: "blog-service" };
  const items: DemoMedia[] = [];
  for (let post = 101; post <= 140; post++) {
    // Posts are numbered in order of writing, so older posts have older images.
    const ageDays = ((141 - post) / 40) * 29 + between(c.random, 0, 0.8);
    const deleted = post % 9 === 0; // deleted since: their images lost their last reference
    const owners = [`blog/posts/${post}#cover`];
    if (post % 4 === 0) owners.push(`newsletter/issues/${post - 70}#hero`);
    if (post % 10 === 3) owners.push("blog/home#featured");
    items.push(
      demo({
        ...base,
        key: `demo/blog/posts/${post}/cover.png`,
        content: png("landscape", post, 160, 120),
        ageDays,
        ...c.references(deleted, owners),
        hold: post === 120 ? "copyright claim under review (ticket T-8841)" : undefined,
      }),
    );
    if (post % 2 === 0) {
      items.push(
        demo({
          ...base,
          key: `demo/blog/posts/${post}/inline-1.png`,
          content: png("pattern", post, 160, 120),
          ageDays,
          ...c.references(deleted, [`blog/posts/${post}#body`]),
        }),
      );
    }
  }
  // Covers an editor replaced: the draft lost its only reference.
  for (const post of [112, 124, 131]) {
    items.push(
      demo({
        ...base,
        key: `demo/blog/posts/${post}/cover-draft.png`,
        content: png("landscape", post + 500, 160, 120),
        ageDays: ((141 - post) / 40) * 29,
        formerOwners: [`blog/posts/${post}#cover`],
        fate: c.orphan(),
      }),
    );
  }
  // Uploads from the editor that were never attached to a post.
  for (let i = 0; i < 5; i++) {
    items.push(
      demo({
        ...base,
        key: `demo/blog/uploads/${hex(c.random)}.png`,
        content: png(i % 2 === 0 ? "landscape" : "pattern", 900 + i, 160, 120),
        ageDays: 0,
        fate: c.pending(),
        hold: i === 2 ? "flagged by the image scanner: manual review" : undefined,
      }),
    );
  }
  return items;
}

function shopMedia(c: Catalogue): DemoMedia[] {
  const base = { labels: { team: "shop" }, actor: "shop-service" };
  const items: DemoMedia[] = [];
  for (let n = 2001; n <= 2030; n++) {
    const sku = `SKU-${n}`;
    const ageDays = between(c.random, 0.5, 30);
    const discontinued = n % 7 === 0;
    const owners = [`shop/products/${sku}#main`];
    if (n % 5 === 0) owners.push("shop/collections/winter-2026#tile");
    if (n % 6 === 1) owners.push("shop/campaigns/black-friday#banner");
    items.push(
      demo({
        ...base,
        key: `demo/shop/products/sku-${n}/main.png`,
        content: png("product", n, 120, 120),
        ageDays,
        ...c.references(discontinued, owners),
      }),
    );
    if (n % 2 === 1) {
      const gallery = [`shop/products/${sku}#gallery`];
      // Some gallery images also ran in last season's collection, which dropped them since.
      const refs =
        !discontinued && n % 3 === 0
          ? { owners: gallery, formerOwners: ["shop/collections/autumn-2026#tile"], fate: LINKED }
          : c.references(discontinued, gallery);
      items.push(
        demo({
          ...base,
          key: `demo/shop/products/sku-${n}/alt-1.png`,
          content: png("product", n + 1, 120, 120),
          ageDays,
          ...refs,
        }),
      );
    }
  }
  // Product photos replaced by a new shot. One is under a legal hold: overdue, yet never deleted.
  for (const n of [2004, 2011, 2018, 2025]) {
    const held = n === 2011;
    items.push(
      demo({
        ...base,
        key: `demo/shop/products/sku-${n}/main-v1.png`,
        content: png("product", n + 2, 120, 120),
        ageDays: between(c.random, 10, 30),
        formerOwners: [`shop/products/SKU-${n}#main`],
        fate: held ? { kind: "orphaned", dueIn: -2 * DAY } : c.orphan(),
        hold: held ? "legal hold: case 2026-114" : undefined,
      }),
    );
  }
  // Products being created right now, and an import that was abandoned (past its pending TTL).
  for (const [n, overdue] of [
    [2031, false],
    [2032, false],
    [2033, true],
  ] as const) {
    items.push(
      demo({
        ...base,
        key: `demo/shop/products/sku-${n}/main.png`,
        content: png("product", n, 120, 120),
        ageDays: 0,
        fate: c.pending(overdue),
      }),
    );
  }
  return items;
}

function avatarMedia(c: Catalogue): DemoMedia[] {
  const base = { labels: { kind: "avatar" }, actor: "accounts-service" };
  const items: DemoMedia[] = [];
  for (let user = 1; user <= 40; user++) {
    items.push(
      demo({
        ...base,
        key: `demo/avatars/user-${user}.png`,
        content: png("avatar", user, 96, 96),
        ageDays: between(c.random, 0.2, 30),
        // Closed accounts: UnlinkOwner dropped their avatar's reference.
        ...c.references(user % 11 === 0, [`accounts/users/${user}#avatar`]),
      }),
    );
  }
  // Avatars users replaced. One was claimed by a worker that died mid-batch.
  for (const user of [4, 9, 15, 23, 31]) {
    items.push(
      demo({
        ...base,
        key: `demo/avatars/user-${user}-previous.png`,
        content: png("avatar", user + 100, 96, 96),
        ageDays: between(c.random, 8, 30),
        formerOwners: [`accounts/users/${user}#avatar`],
        fate: user === 9 ? { kind: "stuck", dueIn: -between(c.random, 2 * MINUTE, 30 * MINUTE) } : c.orphan(),
      }),
    );
  }
  // Sign-ups that uploaded a picture and have not finished yet.
  for (let i = 0; i < 3; i++) {
    items.push(
      demo({
        ...base,
        key: `demo/avatars/signups/${hex(c.random)}.png`,
        content: png("avatar", 300 + i, 96, 96),
        ageDays: 0,
        fate: c.pending(),
      }),
    );
  }
  return items;
}

const isoDay = (date: Date) => date.toISOString().slice(0, 10);
const isoMonth = (date: Date) => date.toISOString().slice(0, 7);

function reportJson(random: Random, report: string, period: string, scale: number): Content {
  const channels = ["web", "app", "marketplace"];
  const byChannel = Object.fromEntries(channels.map((ch) => [ch, Math.round(between(random, 40, 400) * scale)]));
  const orders = Object.values(byChannel).reduce((a, b) => a + b, 0);
  const body = {
    report,
    period,
    currency: "EUR",
    orders,
    revenue: Math.round(orders * between(random, 38, 64) * 100) / 100,
    by_channel: byChannel,
    generated_by: "reports-service",
  };
  return { kind: "text", text: `${JSON.stringify(body, null, 2)}\n` };
}

function exportMedia(c: Catalogue, now: number): DemoMedia[] {
  const base = { labels: { team: "finance" }, actor: "reports-service" };
  const items: DemoMedia[] = [];
  const today = new Date(now);
  const midnight = Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate());
  const daysSince = (time: number) => Math.max(0.01, (now - time) / (DAY * 1000));
  // Daily exports, made at 00:15 UTC after their day; kept (linked) for 7 days, then released.
  for (let days = 14; days >= 1; days--) {
    const dayStart = midnight - days * DAY * 1000;
    const day = isoDay(new Date(dayStart));
    items.push(
      demo({
        ...base,
        key: `demo/exports/daily/orders-${day}.json`,
        content: reportJson(c.random, "orders-daily", day, 1),
        ageDays: daysSince(dayStart + (DAY + 15 * MINUTE) * 1000),
        ...c.references(days > 7, [`reports/daily/${day}#export`]),
        hold: days === 10 ? "audit: keep until the Q4 review" : undefined,
      }),
    );
  }
  // Last month's report, made on the 1st and kept for the board.
  const lastMonth = isoMonth(new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth() - 1, 1)));
  items.push(
    demo({
      ...base,
      key: `demo/exports/report-${lastMonth}.json`,
      content: reportJson(c.random, "orders-monthly", lastMonth, 30),
      ageDays: daysSince(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), 1, 0, 30)),
      owners: [`reports/monthly/${lastMonth}#export`, "finance/board-pack#appendix"],
      fate: LINKED,
    }),
  );
  // This month's report, registered while it is being assembled.
  items.push(
    demo({
      ...base,
      key: `demo/exports/report-${isoMonth(today)}.json`,
      content: reportJson(c.random, "orders-monthly", isoMonth(today), today.getUTCDate()),
      ageDays: 0,
      fate: c.pending(),
    }),
  );
  return items;
}

const COMPLAINTS = [
  "my order arrived with a cracked mug",
  "the invoice shows the wrong address",
  "I was charged twice for one order",
  "the tracking link has not updated for a week",
  "I would like to return a jacket that does not fit",
];

function transcript(random: Random, ticket: string): Content {
  const agent = ["mia", "jonas", "priya", "tom"][Math.floor(random() * 4)];
  const complaint = COMPLAINTS[Math.floor(random() * COMPLAINTS.length)];
  const order = Math.floor(between(random, 40_000, 49_999));
  const lines = [
    `Ticket ${ticket}: chat transcript`,
    `[customer] Hello, ${complaint} (order #${order}).`,
    `[agent:${agent}] Sorry about that! Let me look into order #${order}.`,
    `[agent:${agent}] Sorted: you will get an e-mail confirmation within the hour.`,
    "[customer] Thanks, that was quick.",
  ];
  return { kind: "text", text: `${lines.join("\n")}\n` };
}

function supportMedia(c: Catalogue): DemoMedia[] {
  const items: DemoMedia[] = [];
  for (let n = 8801; n <= 8812; n++) {
    const ticket = `T-${n}`;
    items.push(
      demo({
        labels: { team: "support" },
        actor: "support-service",
        key: `demo/support/tickets/${ticket}/transcript.txt`,
        content: transcript(c.random, ticket),
        ageDays: ((8813 - n) / 12) * 25,
        // Tickets closed and purged: their transcripts are released.
        ...c.references(n % 3 === 0, [`support/tickets/${ticket}#attachment`]),
      }),
    );
  }
  return items;
}

/** Media whose "file" is a folder: every deletion attempt fails, so they end up FAILED. */
function brokenMedia(c: Catalogue): DemoMedia[] {
  return [
    demo({
      labels: { team: "blog" },
      actor: "blog-service",
      key: "demo/broken/locked.png",
      content: { kind: "folder", declaredSize: 48_213 },
      ageDays: 20,
      formerOwners: ["blog/posts/98#cover"],
      fate: { kind: "failed", dueIn: -between(c.random, 2 * HOUR, 2 * DAY) },
    }),
    demo({
      labels: { team: "finance" },
      actor: "reports-service",
      key: "demo/broken/report-locked.json",
      content: { kind: "folder", declaredSize: 7_342 },
      ageDays: 16,
      formerOwners: ["reports/adhoc/q3-reconciliation#export"],
      fate: { kind: "failed", dueIn: -between(c.random, 2 * HOUR, 2 * DAY) },
    }),
  ];
}

function buildCatalogue(config: Config, now: number): DemoMedia[] {
  const c = new Catalogue(createRandom(2026), config.pendingTtlSeconds);
  return [
    ...blogMedia(c),
    ...shopMedia(c),
    ...avatarMedia(c),
    ...exportMedia(c, now),
    ...supportMedia(c),
    ...brokenMedia(c),
  ];
}

// ---------------------------------------------------------------- back-dated times

/** When things happened to a media, so the lists look lived-in. Events keep their real times. */
interface Timeline {
  readonly create: Date;
  /** Undefined: keep the real update_time (failed and stuck media changed just now). */
  readonly update: Date | undefined;
  readonly orphan: Date | null;
  readonly due: Date | null;
  readonly references: ReadonlyMap<string, Date>;
}

function timeline(item: DemoMedia, random: Random, now: number, config: Config): Timeline {
  // Negative: in the future (a delete_time).
  const at = (secondsAgo: number) => new Date(now - secondsAgo * 1000);
  const fate = item.fate;
  if (fate.kind === "pending") {
    const create = at(fate.age);
    const due = new Date(create.getTime() + config.pendingTtlSeconds * 1000);
    return { create, update: create, orphan: null, due, references: new Map() };
  }
  const grace = config.gracePeriodSeconds;
  // Seconds ago. delete_time = orphan_time + grace, as media_unlink sets it.
  const orphaned = fate.kind === "linked" ? undefined : Math.max(MINUTE, grace - fate.dueIn);
  // An orphan was registered a while before it lost its last reference.
  const created =
    orphaned === undefined
      ? item.ageDays * DAY
      : Math.max(item.ageDays * DAY, orphaned + between(random, HOUR, 3 * DAY));
  const references = new Map<string, Date>();
  item.owners.forEach((owner, i) => {
    // The first reference comes right after the upload, later ones any time since.
    const ago = i === 0 ? created - between(random, MINUTE, 10 * MINUTE) : between(random, 0, created);
    references.set(owner, at(Math.max(0, ago)));
  });
  if (orphaned === undefined) {
    const unlinked = item.formerOwners.length > 0 ? between(random, 0, created * 0.8) : created;
    const linked = [...references.values()].map((d) => (now - d.getTime()) / 1000);
    return {
      create: at(created),
      update: at(Math.min(created, unlinked, ...linked)),
      orphan: null,
      due: null,
      references,
    };
  }
  return {
    create: at(created),
    // Failed and stuck media changed just now: their claims and deletion attempts are real.
    update: fate.kind === "orphaned" ? at(orphaned) : undefined,
    orphan: at(orphaned),
    // A FAILED row has no delete_time: it waits for an admin's Retry.
    due: fate.kind === "failed" ? null : at(orphaned - grace),
    references,
  };
}

const FINAL_STATE: Record<Fate["kind"], MediaStateName> = {
  linked: "LINKED",
  pending: "PENDING",
  orphaned: "ORPHANED",
  failed: "FAILED",
  stuck: "DELETING",
};

// ---------------------------------------------------------------- seeding one media

interface SeedContext {
  readonly config: Config;
  readonly handle: DatabaseHandle;
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
 * Claims one orphan the way a sweep does (DELETING, a fresh token, a CLAIMED
 * event, a lease of leaseSeconds from now, negative for one already expired)
 * but without enqueuing a delete_batch job.
 */
async function claimAsWorker(handle: DatabaseHandle, id: string, leaseSeconds: number): Promise<string> {
  const token = randomUUID();
  const { rows } = await handle.pool.query(
    `WITH claimed AS (
       UPDATE media SET state = 'DELETING', claim_token = $2, claim_time = now(), update_time = now()
       WHERE id = $1 AND state = 'ORPHANED' AND hold_reason IS NULL AND reference_count = 0
       RETURNING id
     ), events AS (
       INSERT INTO media_events (media_id, type, from_state, to_state, actor, reason)
       SELECT id, 'CLAIMED', 'ORPHANED', 'DELETING', 'worker', 'due for deletion' FROM claimed
     ), lease AS (
       INSERT INTO deletion_claims (token, lease_expire_time, media_ids)
       SELECT $2, now() + make_interval(secs => $3), ARRAY[id] FROM claimed
     )
     SELECT count(*)::int AS n FROM claimed`,
    [id, token, leaseSeconds],
  );
  if (rows[0].n !== 1) throw new Error(`media ${id} could not be claimed (did a running worker take it?)`);
  return token;
}

/**
 * Runs the worker's deletion attempts until the media is FAILED: each claims
 * it, confirms the lease, asks the real disk adapter to delete the folder
 * (which fails), and records that with the worker's own finishBatch
 * (DELETE_FAILED events, delete_attempts, last_error, the hourly tally).
 */
async function failForReal(ctx: SeedContext, id: string, key: string): Promise<void> {
  const { deletion } = ctx.config;
  const policy = { maxAttempts: deletion.maxAttempts, baseDelaySeconds: deletion.retryDelaySeconds };
  for (let attempt = 1; attempt <= policy.maxAttempts; attempt++) {
    const token = await claimAsWorker(ctx.handle, id, deletion.claimTimeoutSeconds);
    const noted = await ctx.store.note([key]);
    const window = await new ClaimLease(ctx.handle.pool, token, deletion).confirm();
    const error = (await ctx.store.deleteMany([key], window, noted)).failed.get(key);
    if (error === undefined) throw new Error(`deleting ${key}, a folder, unexpectedly succeeded`);
    await finishBatch(ctx.handle.pool, token, [], new Map([[id, formatStoreFailure(error)]]), policy);
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
async function seedOne(ctx: SeedContext, item: DemoMedia, times: Timeline): Promise<number> {
  const { pool, db } = ctx.handle;
  const size = await writeContent(ctx.root, item);
  const input = {
    store: STORE,
    key: item.key,
    contentType: item.contentType,
    sizeBytes: BigInt(size),
    labels: item.labels,
  };
  const created = await createMedia(db, input, item.actor, ctx.config.pendingTtlSeconds);
  if (created.kind !== "created") throw new Error(`${item.key} is already registered (${created.kind})`);
  const id = created.media.id;
  for (const owner of [...item.formerOwners, ...item.owners]) {
    expectChange(await linkMedia(pool, id, owner, item.actor), `linking ${item.key} to ${owner}`);
  }
  for (const owner of item.formerOwners) {
    const outcome = await unlinkMedia(pool, id, owner, item.actor, ctx.config.gracePeriodSeconds);
    expectChange(outcome, `unlinking ${item.key} from ${owner}`);
  }
  if (item.hold !== undefined) {
    const held = await holdMedia(pool, id, item.hold, ADMIN);
    if (held.kind !== "ok") throw new Error(`holding ${item.key} failed (${held.kind})`);
  }
  if (item.fate.kind === "failed") await failForReal(ctx, id, item.key);
  // Its lease ran out a second ago: the next sweep takes it back.
  if (item.fate.kind === "stuck") await claimAsWorker(ctx.handle, id, -1);
  await backDate(ctx.handle, id, times, FINAL_STATE[item.fate.kind]);
  return size;
}

// ---------------------------------------------------------------- demo deletion history

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
async function addDemoHistory(handle: DatabaseHandle, since: Date | undefined): Promise<number> {
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

// ---------------------------------------------------------------- existing demo data

async function demoIds(handle: DatabaseHandle): Promise<string[]> {
  const { rows } = await handle.pool.query<{ id: string }>("SELECT id FROM media WHERE store = $1 AND key LIKE $2", [
    STORE,
    `${PREFIX}%`,
  ]);
  return rows.map((r) => r.id);
}

/** When the previous seed ran: the first CREATED event of its media. */
async function seededAt(handle: DatabaseHandle, ids: string[]): Promise<Date | undefined> {
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
 */
async function removeDemo(ctx: SeedContext): Promise<number> {
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

// ---------------------------------------------------------------- database

interface OpenedDatabase {
  readonly location: DatabaseLocation;
  /** True when this script started the embedded PostgreSQL (so no service is running). */
  readonly startedHere: boolean;
}

/** Whether a server answers at url. A refused connection means none runs; any other error is real. */
async function answers(url: string): Promise<boolean> {
  const probe = connectDatabase({ url, poolSize: 1 });
  try {
    await probe.pool.query("SELECT 1");
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ECONNREFUSED") return false;
    throw error;
  } finally {
    await probe.close();
  }
}

/** DATABASE_URL; else the embedded PostgreSQL of a running `npm start`; else start that one here. */
async function openDatabase(config: Config, log: Logger): Promise<OpenedDatabase> {
  if (config.databaseUrl !== undefined) {
    say("database: DATABASE_URL");
    return { location: await resolveDatabase(config, log), startedHere: false };
  }
  const attached = await resolveDatabase(config, log, true).catch(() => undefined);
  if (attached !== undefined && (await answers(attached.url))) {
    say(`database: the embedded PostgreSQL of the running service (port ${config.embeddedPostgresPort})`);
    return { location: attached, startedHere: false };
  }
  say(`database: no service runs on ${config.dataDir}; starting its embedded PostgreSQL for the seed`);
  return { location: await resolveDatabase(config, log), startedHere: true };
}

// ---------------------------------------------------------------- main

const USAGE = "usage: npm run seed:demo [-- --reset]";

function parseArgs(): { reset: boolean } {
  const args = process.argv.slice(2);
  if (args.includes("--help") || args.includes("-h")) {
    say(`${USAGE}\n  --reset  remove the previous demo data (key prefix ${PREFIX}) and seed again`);
    process.exit(0);
  }
  const unknown = args.filter((a) => a !== "--reset");
  if (unknown.length > 0) {
    process.stderr.write(`unknown argument ${unknown[0]}\n${USAGE}\n`);
    process.exit(2);
  }
  return { reset: args.includes("--reset") };
}

/** The disk store's folder, or exit: the demo writes real files, which an S3 store would need credentials for. */
function diskRoot(config: Config): string {
  const store = config.stores.get(STORE);
  if (store?.kind === "disk") return store.root;
  process.stderr.write(
    `seed:demo writes its files into the disk store "${STORE}", but ${
      store === undefined ? `STORES has no store named "${STORE}"` : `STORES makes "${STORE}" an S3 store`
    }. Run it without STORES (the default disk store under DATA_DIR) or with STORES=${STORE}=file:PATH.\n`,
  );
  process.exit(1);
}

async function printSummary(ctx: SeedContext, startedHere: boolean): Promise<void> {
  const { rows } = await ctx.handle.pool.query<{ state: MediaStateName; n: number; held: number }>(
    `SELECT state, count(*)::int AS n, count(*) FILTER (WHERE hold_reason IS NOT NULL)::int AS held
     FROM media WHERE store = $1 AND key LIKE $2 GROUP BY state ORDER BY state`,
    [STORE, `${PREFIX}%`],
  );
  const stats = await getStats(ctx.handle.db);
  say("\ndemo media by state:");
  for (const r of rows) {
    say(`  ${r.state.padEnd(9)} ${String(r.n).padStart(4)}${r.held > 0 ? `  (${r.held} held)` : ""}`);
  }
  say(
    `due for deletion (all media): ${stats.dueNext24h.count} within 24 h, ${stats.dueNext7d.count} within 7 days (overdue included)`,
  );
  const url = `http://localhost:${ctx.config.httpPort === 0 ? 8080 : ctx.config.httpPort}`;
  say(
    "\nWith a worker running (npm start), the overdue orphans go at its next sweep, the stalled DELETING avatar\n" +
      "after CLAIM_TIMEOUT; the FAILED media wait for Retry in the dashboard (which fails again, for real).",
  );
  say(startedHere ? `\nopen ${url} (npm start)` : `\nopen ${url} (the running service shows it now)`);
}

async function main(): Promise<void> {
  const started = performance.now();
  const { reset } = parseArgs();
  const config = loadConfigOrExit();
  const root = diskRoot(config);
  // Quiet unless asked: this script prints its own progress lines.
  const log = createLogger(config.logLevel === "debug" ? "debug" : "warn");
  const opened = await openDatabase(config, log);
  const handle = connectDatabase({ url: opened.location.url, poolSize: 4 });
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= handle
      .close()
      .catch(() => {})
      .then(() => opened.location.stop());
    return closing;
  };
  // Stop the embedded PostgreSQL we started, even on Ctrl-C.
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      say(`\n${signal}: stopping (the seed is incomplete; run again with --reset)`);
      void close().finally(() => process.exit(130));
    });
  }
  try {
    const applied = await migrateToLatest(handle.db);
    if (applied.length > 0) say(`database schema: applied ${applied.join(", ")}`);
    const ctx: SeedContext = { config, handle, root, store: openStores(config.stores).get(STORE) as ObjectStore };
    const existing = await demoIds(handle);
    let since: Date | undefined;
    if (existing.length > 0) {
      if (!reset) {
        say(`demo data is already there (${existing.length} media under ${PREFIX}); nothing changed.`);
        say("run `npm run seed:demo -- --reset` to remove it and seed again.");
        return;
      }
      since = await seededAt(handle, existing);
      say(`--reset: removed ${await removeDemo(ctx)} demo media, their references and files (their events stay)`);
    }
    await seed(ctx, since);
    await printSummary(ctx, opened.startedHere);
    say(`done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  } finally {
    await close();
  }
}

async function seed(ctx: SeedContext, since: Date | undefined): Promise<void> {
  const now = Date.now();
  const random = createRandom(7);
  const planned = buildCatalogue(ctx.config, now).map((item) => ({
    item,
    times: timeline(item, random, now, ctx.config),
  }));
  // Oldest first: the media list orders "newest first" by id, so ids must follow create_time.
  planned.sort((a, b) => a.times.create.getTime() - b.times.create.getTime());
  say(`seeding ${planned.length} media into ${path.join(ctx.root, PREFIX)}`);
  let bytes = 0;
  for (const [i, { item, times }] of planned.entries()) {
    bytes += await seedOne(ctx, item, times);
    if ((i + 1) % 50 === 0 || i + 1 === planned.length) say(`  ${i + 1}/${planned.length} media`);
  }
  say(`  ${(bytes / 1024).toFixed(0)} KiB registered; two deletions failed for real, as intended`);
  const hours = await addDemoHistory(ctx.handle, since);
  say(
    hours === 0
      ? "deletion history: the previous seed's demo history still covers the past week"
      : `deletion history: demo counts added for the ${hours} past hours (on top of any real counts)`,
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`seed:demo failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
