import { createContextKey, type HandlerContext } from "@connectrpc/connect";
import type { Kysely } from "kysely";
import type pg from "pg";
import type { ApiToken } from "../config.ts";
import type { Database } from "../db/schema.ts";
import type { LeaseTiming } from "../deletion/lease.ts";
import type { AdminActions } from "../media/admin-actions.ts";
import type { FeedWatcher } from "../media/feed-watcher.ts";
import type { MediaLoader } from "../media/media-loader.ts";
import type { MediaRepository } from "../media/media-repository.ts";
import type { ObjectStore } from "../storage/object-store.ts";

/** Who is calling, as recorded in events. The guard sets it from the token's name; "anonymous" only before that. */
export const callerKey = createContextKey<string>("anonymous", { description: "caller name for audit events" });

export const callerOf = (ctx: HandlerContext) => ctx.values.get(callerKey);

/** The address a call came from, as the HTTP port's socket reports it, for its request gate. */
export const peerKey = createContextKey<string | undefined>(undefined, { description: "peer address" });

/** The token the transport's gate accepted before the request was read (createCallGate). */
export const tokenKey = createContextKey<ApiToken | undefined>(undefined, { description: "accepted API token" });

/** What the service implementations need; built once at start-up. */
export interface ServiceDeps {
  /** The dashboard's read views (media-list.ts, media-views.ts) take it. */
  readonly db: Kysely<Database>;
  /** The pool under db, for the deletion engine's switchboard and plan. */
  readonly pool: pg.Pool;
  readonly media: MediaRepository;
  readonly actions: AdminActions;
  readonly mediaLoader: MediaLoader;
  readonly storeNames: ReadonlySet<string>;
  /** The configured stores, by name, for ListStores. */
  readonly stores: readonly { readonly name: string; readonly kind: string }[];
  /** SWEEP_SCHEDULE, for the next scheduled sweep ListWorkers answers. */
  readonly sweepSchedule: string;
  readonly gracePeriodSeconds: number;
  readonly pendingTtlSeconds: number;
  /** The blast-radius limit, for the allowance a confirmation grants and the bulk actions that need one. */
  readonly blastRadiusLimit: number;
  /** The opened stores, for RestoreMedia and EraseMedia (which act on files under a claim's lease). */
  readonly objectStores: ReadonlyMap<string, ObjectStore>;
  /** CLAIM_TIMEOUT and STORAGE_TIMEOUT: the leases of those claims. */
  readonly leaseTiming: LeaseTiming;
  /** The change feed's one shared long-poll watcher (ListEvents' wait). */
  readonly feedWatcher: FeedWatcher;
}
