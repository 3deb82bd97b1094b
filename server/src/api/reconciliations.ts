import type { ServiceImpl } from "@connectrpc/connect";
import type { AdminService } from "@media/proto/media/v1/admin_service_pb";
import {
  findingKindFromProto,
  findingToProto,
  reconciliationActionFromProto,
  reconciliationToProto,
  resolutionFromProto,
} from "../media/mapping.ts";
import * as rec from "../media/reconciliations.ts";
import { callerOf, type ServiceDeps } from "./context.ts";
import {
  bulkConfirmationRequired,
  invalidArgument,
  noWorkerYet,
  reconciliationNotFinished,
  reconciliationNotFound,
} from "./errors.ts";
import { CREATE_MICROS_PART, decodePageToken, ID_PART, pageOf, TEXT_PART } from "./page-token.ts";
import {
  MAX_KEY_BYTES,
  optionalText,
  pageSize,
  requireKey,
  requireKeyPrefix,
  requireStore,
  requireWait,
} from "./validation.ts";

type ReconciliationHandlers = Pick<
  ServiceImpl<typeof AdminService>,
  | "startReconciliation"
  | "getReconciliation"
  | "listReconciliations"
  | "listReconciliationFindings"
  | "applyReconciliation"
>;

/** min_age: 0 to 30 days; unset means 1 hour. */
const MAX_MIN_AGE_MS = 30 * 86_400_000;
const DEFAULT_MIN_AGE_SECONDS = 3600;

const requireReconciliationId = (value: bigint): string => {
  if (value <= 0n) throw invalidArgument("reconciliation_id", "must be a positive reconciliation id");
  return value.toString();
};

/** Keys the API would register (requireKey); the others are never adopted. */
const adoptable = (key: string): boolean => {
  try {
    requireKey("key", key);
    return true;
  } catch {
    return false;
  }
};

/** AdminService's storage reconciliation RPCs: validate, call the repository (media/reconciliations.ts), map. */
export function createReconciliationHandlers(deps: ServiceDeps): ReconciliationHandlers {
  const { pool } = deps;
  const found = async (id: string) => {
    const row = await rec.getReconciliation(pool, id);
    if (row === undefined) throw reconciliationNotFound(id);
    return row;
  };
  return {
    async startReconciliation(req, ctx) {
      const store = requireStore("store", req.store, deps.storeNames);
      const keyPrefix = requireKeyPrefix("key_prefix", req.keyPrefix);
      const minAgeSeconds =
        req.minAge === undefined
          ? DEFAULT_MIN_AGE_SECONDS
          : Math.ceil(requireWait("min_age", req.minAge, MAX_MIN_AGE_MS) / 1000);
      const row = await rec.createReconciliation(pool, { store, keyPrefix, minAgeSeconds, actor: callerOf(ctx) });
      if (row === undefined) throw noWorkerYet();
      return { reconciliation: reconciliationToProto(row) };
    },

    async getReconciliation(req) {
      return { reconciliation: reconciliationToProto(await found(requireReconciliationId(req.reconciliationId))) };
    },

    async listReconciliations(req) {
      const limit = pageSize("page_size", req.pageSize, 50);
      const store = optionalText("store", req.store, 63);
      const parts = decodePageToken("page_token", "rc", req.pageToken, [CREATE_MICROS_PART, ID_PART]);
      const after = parts === undefined ? undefined : { createMicros: parts[0] as string, id: parts[1] as string };
      const rows = await rec.listReconciliations(pool, store === "" ? undefined : store, after, limit + 1);
      const { page, nextPageToken } = pageOf(rows, limit, "rc", (last) => [last.create_key, last.id]);
      return { reconciliations: page.map(reconciliationToProto), nextPageToken };
    },

    async listReconciliationFindings(req) {
      const id = requireReconciliationId(req.reconciliationId);
      const limit = pageSize("page_size", req.pageSize, 100);
      const keyPrefix = optionalText("key_prefix", req.keyPrefix, MAX_KEY_BYTES);
      const parts = decodePageToken("page_token", "rf", req.pageToken, [TEXT_PART]);
      await found(id);
      const rows = await rec.listFindings(
        pool,
        id,
        {
          kind: findingKindFromProto(req.kind),
          resolution: resolutionFromProto(req.resolution),
          keyPrefix: keyPrefix === "" ? undefined : keyPrefix,
        },
        parts?.[0],
        limit + 1,
      );
      const { page, nextPageToken } = pageOf(rows, limit, "rf", (last) => [last.key]);
      return { findings: page.map(findingToProto), nextPageToken };
    },

    async applyReconciliation(req, ctx) {
      const id = requireReconciliationId(req.reconciliationId);
      const action = reconciliationActionFromProto(req.action);
      if (action === undefined) throw invalidArgument("action", "must name an action: ADOPT or IGNORE");
      const keyPrefix = optionalText("key_prefix", req.keyPrefix, MAX_KEY_BYTES);
      const run = await found(id);
      if (run.state !== "SUCCEEDED") throw reconciliationNotFinished(id, run.state);
      const actor = callerOf(ctx);
      let result: rec.ApplyResult;
      switch (action) {
        case "ADOPT": {
          const open = await rec.countOpen(pool, id, keyPrefix);
          if (open > deps.blastRadiusLimit && !req.confirmBlastRadius) {
            throw bulkConfirmationRequired(String(open), deps.blastRadiusLimit);
          }
          const store = deps.objectStores.get(run.store);
          if (store === undefined) throw invalidArgument("reconciliation_id", `store ${run.store} is not configured`);
          result = await rec.adoptFindings(pool, store, run, keyPrefix, deps.pendingTtlSeconds, actor, adoptable);
          break;
        }
        case "IGNORE":
          result = await rec.ignoreFindings(pool, run, keyPrefix, actor);
          break;
        default: {
          const unhandled: never = action;
          throw invalidArgument("action", `unknown action ${String(unhandled)}`);
        }
      }
      return {
        reconciliation: reconciliationToProto(await found(id)),
        appliedCount: BigInt(result.applied),
        skippedCount: BigInt(result.skipped),
        remainingCount: BigInt(result.remaining),
      };
    },
  };
}
