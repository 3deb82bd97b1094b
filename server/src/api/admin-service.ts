import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import type { AdminService } from "@media/proto/media/v1/admin_service_pb";
import { MediaState } from "@media/proto/media/v1/media_pb";
import type { MediaStateName } from "../db/schema.ts";
import * as deletion from "../deletion/index.ts";
import * as actions from "../media/admin-actions.ts";
import {
  byteTotal,
  eventToProto,
  MEDIA_STATES,
  mediaToProto,
  referenceToProto,
  stateFromProto,
  stateToProto,
} from "../media/mapping.ts";
import * as media from "../media/repository.ts";
import { callerOf, type ServiceDeps } from "./context.ts";
import { actionRefused, guardNotConfirmed, invalidArgument, mediaNotFound, noWorkerYet } from "./errors.ts";
import { decodePageToken, ID_PART, MICROS_PART, pageOf, TEXT_PART } from "./page-token.ts";
import { optionalText, pageSize, requireId, requireLabels, requireText } from "./validation.ts";

function stateFilter(state: MediaState): MediaStateName | undefined {
  if (state === MediaState.UNSPECIFIED) return undefined;
  const name = stateFromProto(state);
  if (name === undefined) throw invalidArgument("state", `unknown state ${state}`);
  return name;
}

const emptyToUndefined = (value: string) => (value === "" ? undefined : value);

const MEDIA_ORDERS: readonly media.MediaOrder[] = ["create_time desc", "create_time", "delete_time"];

function mediaOrder(orderBy: string): media.MediaOrder {
  const normalized = orderBy.trim().replace(/\s+/g, " ").toLowerCase();
  if (normalized === "") return "create_time desc";
  const order = MEDIA_ORDERS.find((o) => o === normalized);
  if (order === undefined)
    throw invalidArgument("order_by", `must be one of: ${MEDIA_ORDERS.map((o) => `"${o}"`).join(", ")}`);
  return order;
}

/** Each order's token kind and cursor values: a token only continues the order it came from. */
const MEDIA_TOKENS: Record<media.MediaOrder, { kind: string; patterns: readonly RegExp[] }> = {
  "create_time desc": { kind: "m", patterns: [ID_PART] },
  create_time: { kind: "ma", patterns: [ID_PART] },
  delete_time: { kind: "md", patterns: [ID_PART, MICROS_PART] },
};

function labelFilter(labels: Record<string, string>): Record<string, string> | undefined {
  if (Object.keys(labels).length > 8) throw invalidArgument("labels", "must have at most 8 entries");
  const checked = requireLabels("labels", labels);
  return Object.keys(checked).length === 0 ? undefined : checked;
}

function statusToProto(control: deletion.DeletionControl) {
  return {
    paused: control.paused,
    pauseReason: control.pauseReason,
    guardTripTime: control.guardTrippedTime === null ? undefined : timestampFromDate(control.guardTrippedTime),
    guardDueCount: control.guardDueCount ?? 0n,
  };
}

function actionResult(id: string, outcome: actions.ActionOutcome) {
  if (outcome.kind === "not_found") throw mediaNotFound(id);
  if (outcome.kind === "refused") throw actionRefused(id, outcome.why);
  return { media: mediaToProto(outcome.media) };
}

function range(field: string, value: number, min: number, max: number, fallback: number): number {
  if (value === 0) return fallback;
  if (value < min || value > max) throw invalidArgument(field, `must be from ${min} to ${max} (or 0 for ${fallback})`);
  return value;
}

/** Read-only views for the dashboard. Each handler validates, queries, maps. */
export function createAdminService(deps: ServiceDeps): ServiceImpl<typeof AdminService> {
  const { db, pool } = deps;
  const status = async () => statusToProto(await deletion.getDeletionControl(pool));
  return {
    async listMedia(req) {
      const limit = pageSize("page_size", req.pageSize, 50);
      const order = mediaOrder(req.orderBy);
      const filter = {
        state: stateFilter(req.state),
        store: emptyToUndefined(optionalText("store", req.store, 63)),
        owner: emptyToUndefined(optionalText("owner", req.owner, 512)),
        keyPrefix: emptyToUndefined(optionalText("key_prefix", req.keyPrefix, 1024)),
        labels: labelFilter(req.labels),
      };
      const { kind, patterns } = MEDIA_TOKENS[order];
      const parts = decodePageToken("page_token", kind, req.pageToken, patterns);
      const after = parts === undefined ? undefined : { id: parts[0] as string, deleteKey: parts[1] };
      const rows = await media.listMedia(db, filter, order, after, limit + 1);
      const { page, nextPageToken } = pageOf(rows, limit, kind, (last) =>
        order === "delete_time" ? [last.id, last.delete_key] : [last.id],
      );
      return { media: page.map(mediaToProto), nextPageToken };
    },

    async listMediaReferences(req) {
      const mediaId = requireId("media_id", req.mediaId);
      const limit = pageSize("page_size", req.pageSize, 100);
      const after = decodePageToken("page_token", "r", req.pageToken, [TEXT_PART])?.[0];
      const rows = await media.listMediaReferences(db, mediaId, after, limit + 1);
      // An empty answer must not hide a wrong id.
      if (rows.length === 0 && (await deps.mediaLoader.load(mediaId)) === undefined) throw mediaNotFound(mediaId);
      const { page, nextPageToken } = pageOf(rows, limit, "r", (last) => [last.owner]);
      return { references: page.map(referenceToProto), nextPageToken };
    },

    async getStats() {
      const stats = await media.getStats(db);
      const byState = new Map(stats.states.map((s) => [s.state, s]));
      return {
        states: MEDIA_STATES.map((state) => ({
          state: stateToProto(state),
          count: BigInt(byState.get(state)?.count ?? 0),
          sizeBytes: byteTotal(byState.get(state)?.sizeBytes ?? 0n),
        })),
        dueNext24hCount: BigInt(stats.dueNext24h.count),
        dueNext24hSizeBytes: byteTotal(stats.dueNext24h.sizeBytes),
        dueNext7dCount: BigInt(stats.dueNext7d.count),
        dueNext7dSizeBytes: byteTotal(stats.dueNext7d.sizeBytes),
      };
    },

    async listMediaEvents(req) {
      const mediaId = requireId("media_id", req.mediaId);
      const limit = pageSize("page_size", req.pageSize, 100);
      const afterId = decodePageToken("page_token", "e", req.pageToken, [ID_PART])?.[0];
      const rows = await media.listMediaEvents(db, mediaId, afterId, limit + 1);
      const { page, nextPageToken } = pageOf(rows, limit, "e", (last) => [last.id]);
      return { events: page.map(eventToProto), nextPageToken };
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
      return actionResult(id, await actions.holdMedia(pool, id, reason, callerOf(ctx)));
    },

    async releaseMedia(req, ctx) {
      const id = requireId("media_id", req.mediaId);
      return actionResult(id, await actions.releaseMedia(pool, id, callerOf(ctx)));
    },

    async deleteMediaNow(req, ctx) {
      const id = requireId("media_id", req.mediaId);
      return actionResult(id, await actions.deleteMediaNow(pool, id, callerOf(ctx)));
    },

    async retryMedia(req, ctx) {
      const id = requireId("media_id", req.mediaId);
      return actionResult(id, await actions.retryMedia(pool, id, callerOf(ctx)));
    },

    async getDeletionPlan(req) {
      const hours = range("within_hours", req.withinHours, 1, 8760, 24);
      const sampleSize = range("sample_size", req.sampleSize, 1, 100, 20);
      const plan = await actions.deletionPlan(pool, hours, sampleSize);
      return {
        count: plan.stores.reduce((sum, s) => sum + BigInt(s.count), 0n),
        sizeBytes: byteTotal(plan.stores.reduce((sum, s) => sum + BigInt(s.sizeBytes), 0n)),
        stores: plan.stores.map((s) => ({ store: s.store, count: BigInt(s.count), sizeBytes: byteTotal(s.sizeBytes) })),
        samples: plan.samples.map(mediaToProto),
        status: await status(),
      };
    },

    async runSweep() {
      if (!(await actions.requestSweep(pool))) throw noWorkerYet();
      return {};
    },

    async getDeletionHistory(req) {
      const hours = range("hours", req.hours, 1, 720, 168);
      const history = await media.deletionHistory(db, hours);
      return {
        hours: history.map((h) => ({
          startTime: timestampFromDate(h.hour),
          deletedCount: BigInt(h.deletedCount),
          deletedSizeBytes: byteTotal(h.deletedBytes),
          failedCount: BigInt(h.failedCount),
        })),
      };
    },
  };
}
