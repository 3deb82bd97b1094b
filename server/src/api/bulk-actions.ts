import type { ServiceImpl } from "@connectrpc/connect";
import type { AdminService } from "@media/proto/media/v1/admin_service_pb";
import * as bulk from "../media/bulk-actions.ts";
import { bulkActionToProto, bulkActionTypeFromProto, byteTotal } from "../media/mapping.ts";
import { callerOf, type ServiceDeps } from "./context.ts";
import { bulkActionNotFound, bulkConfirmationRequired, invalidArgument, noWorkerYet } from "./errors.ts";
import { CREATE_MICROS_PART, decodePageToken, ID_PART, pageOf } from "./page-token.ts";
import { pageSize, requireMediaFilter, requireText } from "./validation.ts";

type BulkActionHandlers = Pick<ServiceImpl<typeof AdminService>, "runBulkAction" | "getBulkAction" | "listBulkActions">;

/** RunBulkAction, GetBulkAction, ListBulkActions: validate, call the repository (media/bulk-actions.ts), map. */
export function createBulkActionHandlers(deps: ServiceDeps): BulkActionHandlers {
  const { db, pool } = deps;
  return {
    async runBulkAction(req, ctx) {
      const filter = requireMediaFilter(
        req.filter ?? { state: 0, store: "", owner: "", keyPrefix: "", labels: {}, trashedAfter: undefined },
      );
      const action = bulkActionTypeFromProto(req.action);
      if (action === undefined) {
        throw invalidArgument("action", "must name an action: HOLD, RELEASE, DELETE_NOW, RETRY or RESTORE");
      }
      const reason = requireText("reason", req.reason, 512);
      const matched = await bulk.countMatching(db, filter);
      const counts = { matchedCount: BigInt(matched.count), matchedSizeBytes: byteTotal(matched.sizeBytes) };
      if (req.validateOnly) return counts;
      if (counts.matchedCount > BigInt(deps.blastRadiusLimit) && !req.confirmBlastRadius) {
        throw bulkConfirmationRequired(matched.count, deps.blastRadiusLimit);
      }
      const row = await bulk.createBulkAction(pool, {
        action,
        filter,
        reason,
        actor: callerOf(ctx),
        matchedCount: matched.count,
      });
      if (row === undefined) throw noWorkerYet();
      return { bulkAction: bulkActionToProto(row), ...counts };
    },

    async getBulkAction(req) {
      if (req.bulkActionId <= 0n) throw invalidArgument("bulk_action_id", "must be a positive bulk action id");
      const id = req.bulkActionId.toString();
      const row = await bulk.getBulkAction(pool, id);
      if (row === undefined) throw bulkActionNotFound(id);
      return { bulkAction: bulkActionToProto(row) };
    },

    async listBulkActions(req) {
      const limit = pageSize("page_size", req.pageSize, 50);
      const parts = decodePageToken("page_token", "ba", req.pageToken, [CREATE_MICROS_PART, ID_PART]);
      const after = parts === undefined ? undefined : { createMicros: parts[0] as string, id: parts[1] as string };
      const rows = await bulk.listBulkActions(pool, after, limit + 1);
      const { page, nextPageToken } = pageOf(rows, limit, "ba", (last) => [last.create_key, last.id]);
      return { bulkActions: page.map(bulkActionToProto), nextPageToken };
    },
  };
}
