import { createContextKey, type HandlerContext } from "@connectrpc/connect";
import type { Kysely } from "kysely";
import type pg from "pg";
import type { ApiToken } from "../config.ts";
import type { Database } from "../db/schema.ts";
import type { MediaLoader } from "../media/media-loader.ts";

/** Who is calling, as recorded in events. The guard sets it from the token's name; "anonymous" only before that. */
export const callerKey = createContextKey<string>("anonymous", { description: "caller name for audit events" });

export const callerOf = (ctx: HandlerContext) => ctx.values.get(callerKey);

/** The address a call came from, as the HTTP port's socket reports it, for its request gate. */
export const peerKey = createContextKey<string | undefined>(undefined, { description: "peer address" });

/** The token the transport's gate accepted before the request was read (createCallGate). */
export const tokenKey = createContextKey<ApiToken | undefined>(undefined, { description: "accepted API token" });

/** What the service implementations need; built once at start-up. */
export interface ServiceDeps {
  readonly db: Kysely<Database>;
  /** The pool under db, for the hot paths that use named statements. */
  readonly pool: pg.Pool;
  readonly mediaLoader: MediaLoader;
  readonly storeNames: ReadonlySet<string>;
  readonly gracePeriodSeconds: number;
  readonly pendingTtlSeconds: number;
  /** The blast-radius limit, for the allowance a confirmation grants. */
  readonly blastRadiusLimit: number;
}
