import type { ServiceImpl } from "@connectrpc/connect";
import type { MediaService } from "@media/proto/media/v1/media_service_pb";
import { mediaToProto } from "../media/mapping.ts";
import * as media from "../media/repository.ts";
import { callerOf, type ServiceDeps } from "./context.ts";
import { mediaBeingDeleted, mediaConflict, mediaNotFound } from "./errors.ts";
import {
  optionalText,
  requireId,
  requireIds,
  requireKey,
  requireLabels,
  requireOwner,
  requireSize,
  requireStore,
} from "./validation.ts";

/** Each handler validates, calls the repository, and maps the result. */
export function createMediaService(deps: ServiceDeps): ServiceImpl<typeof MediaService> {
  const { db, pool } = deps;

  function referenceResult(id: string, outcome: media.ReferenceOutcome) {
    if (outcome.kind === "not_found") throw mediaNotFound(id);
    if (outcome.kind === "deleting") throw mediaBeingDeleted(id, outcome.media.state);
    return { media: mediaToProto(outcome.media), changed: outcome.changed };
  }

  return {
    async createMedia(req, ctx) {
      const input = {
        store: requireStore("store", req.store, deps.storeNames),
        key: requireKey("key", req.key),
        contentType: optionalText("content_type", req.contentType, 255),
        sizeBytes: requireSize("size_bytes", req.sizeBytes),
        labels: requireLabels("labels", req.labels),
      };
      const outcome = await media.createMedia(db, input, callerOf(ctx), deps.pendingTtlSeconds);
      switch (outcome.kind) {
        case "created":
        case "exists":
          return { media: mediaToProto(outcome.media), created: outcome.kind === "created" };
        case "conflict":
          throw mediaConflict(input.store, input.key, outcome.media.id, outcome.field);
        case "deleting":
          throw mediaBeingDeleted(outcome.media.id, outcome.media.state);
      }
    },

    async getMedia(req) {
      const id = requireId("id", req.id);
      const row = await deps.mediaLoader.load(id);
      if (row === undefined) throw mediaNotFound(id);
      return { media: mediaToProto(row) };
    },

    async batchGetMedia(req) {
      const ids = requireIds("ids", req.ids);
      const rows = new Map((await media.findMediaByIds(pool, ids)).map((row) => [row.id, row]));
      return {
        media: ids.flatMap((id) => {
          const row = rows.get(id);
          return row === undefined ? [] : [mediaToProto(row)];
        }),
        missingIds: ids.filter((id) => !rows.has(id)).map(BigInt),
      };
    },

    async linkMedia(req, ctx) {
      const id = requireId("media_id", req.mediaId);
      const owner = requireOwner("owner", req.owner);
      return referenceResult(id, await media.linkMedia(pool, id, owner, callerOf(ctx)));
    },

    async unlinkMedia(req, ctx) {
      const id = requireId("media_id", req.mediaId);
      const owner = requireOwner("owner", req.owner);
      return referenceResult(id, await media.unlinkMedia(pool, id, owner, callerOf(ctx), deps.gracePeriodSeconds));
    },

    async unlinkOwner(req, ctx) {
      const owner = requireOwner("owner", req.owner);
      const result = await media.unlinkOwner(db, owner, callerOf(ctx), deps.gracePeriodSeconds);
      return {
        unlinkedMediaIds: result.unlinkedMediaIds.map(BigInt),
        orphanedMediaIds: result.orphanedMediaIds.map(BigInt),
      };
    },
  };
}
