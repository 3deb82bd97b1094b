import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import type { AdminService } from "@media/proto/media/v1/admin_service_pb";
import { eventsDroppedBefore } from "../db/event-partitions.ts";
import * as deletion from "../deletion/index.ts";
import type { ActionOutcome } from "../media/admin-actions.ts";
import {
  deletionRunToProto,
  deletionStatusToProto,
  erasureToProto,
  eventToProto,
  historyToProto,
  mediaToProto,
  planToProto,
  queuedSweepToProto,
  referenceToProto,
  statsToProto,
  workerToProto,
} from "../media/mapping.ts";
import { cursorFromToken, listMedia, MEDIA_PAGE_TOKENS } from "../media/media-list.ts";
import * as views from "../media/media-views.ts";
import { createAttestationAdminHandlers } from "./attestations.ts";
import { createBulkActionHandlers } from "./bulk-actions.ts";
import { callerOf, type ServiceDeps } from "./context.ts";
import {
  actionRefused,
  guardNotConfirmed,
  invalidArgument,
  mediaNotFound,
  noWorkerYet,
  storageFailed,
} from "./errors.ts";
import { decodePageToken, ID_PART, pageOf, TEXT_PART } from "./page-token.ts";
import { createReconciliationHandlers } from "./reconciliations.ts";
import {
  pageSize,
  rangeOr,
  requireId,
  requireIds,
  requireMediaFilter,
  requireOrder,
  requireOwner,
  requireText,
} from "./validation.ts";

function actionResult(id: string, outcome: ActionOutcome) {
  switch (outcome.kind) {
    case "ok":
      return { media: mediaToProto(outcome.media) };
    case "not_found":
      throw mediaNotFound(id);
    case "refused":
      throw actionRefused(id, outcome.why, outcome.media.state);
    default: {
      const unhandled: never = outcome;
      throw new Error(`unknown action outcome ${JSON.stringify(unhandled)}`);
    }
  }
}

/** The dashboard's views and actions. Each handler validates, calls a repository, maps. */
export function createAdminService(deps: ServiceDeps): ServiceImpl<typeof AdminService> {
  const { db, pool, actions } = deps;
  const status = async () => deletionStatusToProto(await deletion.getDeletionControl(pool));
  return {
    async listMedia(req) {
      const limit = pageSize("page_size", req.pageSize, 50);
      const order = requireOrder("order_by", req.orderBy);
      const filter = requireMediaFilter(req);
      const { kind, patterns, cursorOf } = MEDIA_PAGE_TOKENS[order];
      const parts = decodePageToken("page_token", kind, req.pageToken, patterns);
      const rows = await listMedia(db, filter, order, parts && cursorFromToken(parts), limit + 1);
      const { page, nextPageToken } = pageOf(rows, limit, kind, cursorOf);
      return { media: page.map(mediaToProto), nextPageToken };
    },

    async listMediaReferences(req) {
      const mediaId = requireId("media_id", req.mediaId);
      const limit = pageSize("page_size", req.pageSize, 100);
      const after = decodePageToken("page_token", "r", req.pageToken, [TEXT_PART])?.[0];
      const rows = await views.listMediaReferences(db, mediaId, after, limit + 1);
      // An empty answer must not hide a wrong id.
      if (rows.length === 0 && (await deps.mediaLoader.load(mediaId)) === undefined) throw mediaNotFound(mediaId);
      const { page, nextPageToken } = pageOf(rows, limit, "r", (last) => [last.owner]);
      return { references: page.map(referenceToProto), nextPageToken };
    },

    async getStats() {
      return statsToProto(await views.getStats(pool));
    },

    async listMediaEvents(req) {
      const mediaId = requireId("media_id", req.mediaId);
      const limit = pageSize("page_size", req.pageSize, 100);
      const afterId = decodePageToken("page_token", "e", req.pageToken, [ID_PART])?.[0];
      const [rows, droppedBefore] = await Promise.all([
        views.listMediaEvents(db, mediaId, afterId, limit + 1),
        eventsDroppedBefore(pool),
      ]);
      const { page, nextPageToken } = pageOf(rows, limit, "e", (last) => [last.id]);
      const droppedBeforeTime = droppedBefore === null ? undefined : timestampFromDate(droppedBefore);
      return { events: page.map(eventToProto), nextPageToken, droppedBeforeTime };
    },

    async getDeletionStatus() {
      return { status: await status() };
    },

    async pauseDeletions(req, ctx) {
      const reason = requireText("reason", req.reason, 512);
      await deletion.pauseDeletions(pool, `${reason} (paused by ${callerOf(ctx)})`);
      return { status: await status() };
    },

    async resumeDeletions(req) {
      if (!(await deletion.resumeDeletions(pool, req.confirmBlastRadius, deps.blastRadiusLimit))) {
        throw guardNotConfirmed((await deletion.getDeletionControl(pool)).guardDueCount);
      }
      return { status: await status() };
    },

    async holdMedia(req, ctx) {
      const id = requireId("media_id", req.mediaId);
      const reason = requireText("reason", req.reason, 512);
      return actionResult(id, await actions.hold(id, reason, callerOf(ctx)));
    },

    async releaseMedia(req, ctx) {
      const id = requireId("media_id", req.mediaId);
      return actionResult(id, await actions.release(id, callerOf(ctx)));
    },

    async deleteMediaNow(req, ctx) {
      const id = requireId("media_id", req.mediaId);
      return actionResult(id, await actions.deleteNow(id, callerOf(ctx)));
    },

    async retryMedia(req, ctx) {
      const id = requireId("media_id", req.mediaId);
      return actionResult(id, await actions.retry(id, callerOf(ctx)));
    },

    async getDeletionPlan(req) {
      const hours = rangeOr("within_hours", req.withinHours, 1, 8760, 24);
      const sampleSize = rangeOr("sample_size", req.sampleSize, 1, 100, 20);
      return { ...planToProto(await deletion.deletionPlan(pool, hours, sampleSize)), status: await status() };
    },

    async runSweep() {
      const queued = await deletion.requestSweep(pool);
      if (queued === undefined) throw noWorkerYet();
      return queuedSweepToProto(queued);
    },

    async getDeletionHistory(req) {
      const hours = rangeOr("hours", req.hours, 1, 720, 168);
      return historyToProto(await views.deletionHistory(db, hours));
    },

    async listDeletionRuns(req) {
      const limit = pageSize("page_size", req.pageSize, 50);
      const beforeId = decodePageToken("page_token", "dr", req.pageToken, [ID_PART])?.[0];
      const rows = await deletion.listDeletionRuns(pool, beforeId, limit + 1);
      const { page, nextPageToken } = pageOf(rows, limit, "dr", (last) => [last.id]);
      return { runs: page.map(deletionRunToProto), nextPageToken };
    },

    async listWorkers() {
      const rows = await deletion.listWorkers(pool);
      const next = deletion.nextScheduledTime(deps.sweepSchedule, new Date());
      return {
        workers: rows.map(workerToProto),
        sweepSchedule: deps.sweepSchedule,
        nextSweepTime: next === undefined ? undefined : timestampFromDate(next),
      };
    },

    async listStores() {
      return { stores: deps.stores.map((s) => ({ name: s.name, kind: s.kind })) };
    },

    async restoreMedia(req, ctx) {
      const id = requireId("media_id", req.mediaId);
      const owner = req.owner === "" ? undefined : requireOwner("owner", req.owner);
      const outcomes = await deletion.restoreMedia(pool, deps.objectStores, deps.leaseTiming, {
        ids: [id],
        owner,
        actor: callerOf(ctx),
        reason: owner === undefined ? "restored by an admin" : "restored by an admin and linked",
        bulkActionId: undefined,
        graceSeconds: deps.gracePeriodSeconds,
      });
      const outcome = outcomes.get(id) ?? { kind: "not_found" };
      switch (outcome.kind) {
        case "restored":
          return { media: mediaToProto(outcome.media) };
        case "not_found":
          throw mediaNotFound(id);
        case "refused":
          throw actionRefused(id, outcome.why, outcome.state);
        case "failed":
          throw storageFailed(id, outcome.why);
        default: {
          const unhandled: never = outcome;
          throw new Error(`unknown restore outcome ${JSON.stringify(unhandled)}`);
        }
      }
    },

    async eraseMedia(req, ctx) {
      const reason = requireText("reason", req.reason, 512);
      if ((req.mediaIds.length === 0) === (req.owner === "")) {
        throw invalidArgument("media_ids", "name the media to erase in media_ids, or an owner, but not both");
      }
      let ids: string[];
      let remaining = 0n;
      const owner = req.owner === "" ? undefined : requireOwner("owner", req.owner);
      if (owner === undefined) ids = requireIds("media_ids", req.mediaIds);
      else {
        const owned = await views.ownerMediaIds(db, owner, deletion.MAX_ERASE_IDS);
        ids = owned.ids;
        remaining = owned.remaining;
      }
      const outcomes = await deletion.eraseMedia(pool, deps.objectStores, deps.leaseTiming, {
        ids,
        owner,
        last: remaining === 0n,
        actor: callerOf(ctx),
        reason,
      });
      return { receipts: ids.map((id) => erasureToProto(id, outcomes.get(id))), remainingCount: remaining };
    },

    ...createBulkActionHandlers(deps),
    ...createReconciliationHandlers(deps),
    ...createAttestationAdminHandlers(deps),
  };
}
