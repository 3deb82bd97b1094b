import type { ServiceImpl } from "@connectrpc/connect";
import type { MediaService } from "@media/proto/media/v1/media_service_pb";
import { batchToProto, mediaToProto, unlinkOwnerToProto } from "../media/mapping.ts";
import type { ReferenceOutcome } from "../media/media-repository.ts";
import { callerOf, type ServiceDeps } from "./context.ts";
import { mediaBeingDeleted, mediaConflict, mediaNotFound, mediaTrashed } from "./errors.ts";
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
  const { media } = deps;

  function referenceResult(id: string, outcome: ReferenceOutcome) {
    switch (outcome.kind) {
      case "ok":
        return { media: mediaToProto(outcome.media), changed: outcome.changed };
      case "not_found":
        throw mediaNotFound(id);
      case "deleting":
        throw mediaBeingDeleted(id, outcome.media.state);
      case "trashed":
        throw mediaTrashed(id);
      default: {
        const unhandled: never = outcome;
        throw new Error(`unknown reference outcome ${JSON.stringify(unhandled)}`);
      }
    }
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
      const owner = req.owner === "" ? undefined : requireOwner("owner", req.owner);
      const outcome = await media.create(input, callerOf(ctx), deps.pendingTtlSeconds, owner);
      switch (outcome.kind) {
        case "created":
        case "exists":
          return { media: mediaToProto(outcome.media), created: outcome.kind === "created" };
        case "conflict":
          throw mediaConflict(input.store, input.key, outcome.media.id, outcome.field);
        case "deleting":
          throw mediaBeingDeleted(outcome.media.id, outcome.media.state);
        default: {
          const unhandled: never = outcome;
          throw new Error(`unknown create outcome ${JSON.stringify(unhandled)}`);
        }
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
      return batchToProto(ids, await media.findByIds(ids));
    },

    async linkMedia(req, ctx) {
      const id = requireId("media_id", req.mediaId);
      const owner = requireOwner("owner", req.owner);
      return referenceResult(id, await media.link(id, owner, callerOf(ctx)));
    },

    async unlinkMedia(req, ctx) {
      const id = requireId("media_id", req.mediaId);
      const owner = requireOwner("owner", req.owner);
      return referenceResult(id, await media.unlink(id, owner, callerOf(ctx), deps.gracePeriodSeconds));
    },

    async unlinkOwner(req, ctx) {
      const owner = requireOwner("owner", req.owner);
      return unlinkOwnerToProto(await media.unlinkOwner(owner, callerOf(ctx), deps.gracePeriodSeconds));
    },

    async replaceOwnerMedia(req, ctx) {
      const owner = requireOwner("owner", req.owner);
      const ids = req.mediaIds.length === 0 ? [] : requireIds("media_ids", req.mediaIds);
      const outcome = await media.replaceOwner(owner, ids, callerOf(ctx), deps.gracePeriodSeconds);
      switch (outcome.kind) {
        case "ok":
          return {
            linkedMediaIds: outcome.linkedMediaIds.map(BigInt),
            unlinkedMediaIds: outcome.unlinkedMediaIds.map(BigInt),
            orphanedMediaIds: outcome.orphanedMediaIds.map(BigInt),
          };
        case "not_found":
          throw mediaNotFound(outcome.mediaId);
        case "deleting":
          throw mediaBeingDeleted(outcome.media.id, outcome.media.state);
        case "trashed":
          throw mediaTrashed(outcome.media.id);
        default: {
          const unhandled: never = outcome;
          throw new Error(`unknown replace outcome ${JSON.stringify(unhandled)}`);
        }
      }
    },
  };
}
