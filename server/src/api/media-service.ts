import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import type { MediaService } from "@media/proto/media/v1/media_service_pb";
import { ownerInReach, storeInReach } from "../auth/limits.ts";
import { batchToProto, mediaToProto, unlinkOwnerToProto } from "../media/mapping.ts";
import type { ReferenceOutcome } from "../media/media-repository.ts";
import { createAttestationHandlers } from "./attestations.ts";
import { callerOf, type ServiceDeps, tokenKey } from "./context.ts";
import { mediaBeingDeleted, mediaConflict, mediaNotFound, mediaTrashed, outOfReach } from "./errors.ts";
import { createEventFeedHandlers } from "./event-feed.ts";
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

/**
 * Each handler validates, calls the repository, and maps the result. A
 * limited service token (auth/limits.ts) acts only for owners under its
 * prefixes (else PERMISSION_DENIED) and sees only media of its stores (the
 * others are NOT_FOUND to it, as if they did not exist).
 */
export function createMediaService(deps: ServiceDeps): ServiceImpl<typeof MediaService> {
  const { media } = deps;

  /** The owner, validated and within the calling token's reach. */
  function ownerFor(ctx: HandlerContext, field: string, value: string): string {
    const owner = requireOwner(field, value);
    const token = ctx.values.get(tokenKey);
    if (!ownerInReach(token, owner)) throw outOfReach(token?.name ?? "", "owner", owner);
    return owner;
  }

  /** Throws NOT_FOUND unless the media exists in a store the calling token may see. */
  async function requireVisible(ctx: HandlerContext, id: string): Promise<void> {
    const token = ctx.values.get(tokenKey);
    if (token?.limits?.stores === undefined) return;
    const row = await deps.mediaLoader.load(id);
    if (row === undefined || !storeInReach(token, row.store)) throw mediaNotFound(id);
  }

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
      const token = ctx.values.get(tokenKey);
      const input = {
        store: requireStore("store", req.store, deps.storeNames),
        key: requireKey("key", req.key),
        contentType: optionalText("content_type", req.contentType, 255),
        sizeBytes: requireSize("size_bytes", req.sizeBytes),
        labels: requireLabels("labels", req.labels),
      };
      if (!storeInReach(token, input.store)) throw outOfReach(token?.name ?? "", "store", input.store);
      const owner = req.owner === "" ? undefined : ownerFor(ctx, "owner", req.owner);
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

    async getMedia(req, ctx) {
      const id = requireId("id", req.id);
      const row = await deps.mediaLoader.load(id);
      if (row === undefined || !storeInReach(ctx.values.get(tokenKey), row.store)) throw mediaNotFound(id);
      return { media: mediaToProto(row) };
    },

    async batchGetMedia(req, ctx) {
      const ids = requireIds("ids", req.ids);
      const token = ctx.values.get(tokenKey);
      const rows = (await media.findByIds(ids)).filter((row) => storeInReach(token, row.store));
      return batchToProto(ids, rows);
    },

    async linkMedia(req, ctx) {
      const id = requireId("media_id", req.mediaId);
      const owner = ownerFor(ctx, "owner", req.owner);
      await requireVisible(ctx, id);
      return referenceResult(id, await media.link(id, owner, callerOf(ctx)));
    },

    async unlinkMedia(req, ctx) {
      const id = requireId("media_id", req.mediaId);
      const owner = ownerFor(ctx, "owner", req.owner);
      await requireVisible(ctx, id);
      return referenceResult(id, await media.unlink(id, owner, callerOf(ctx), deps.gracePeriodSeconds));
    },

    async unlinkOwner(req, ctx) {
      const owner = ownerFor(ctx, "owner", req.owner);
      return unlinkOwnerToProto(await media.unlinkOwner(owner, callerOf(ctx), deps.gracePeriodSeconds));
    },

    async replaceOwnerMedia(req, ctx) {
      const owner = ownerFor(ctx, "owner", req.owner);
      const ids = req.mediaIds.length === 0 ? [] : requireIds("media_ids", req.mediaIds);
      const token = ctx.values.get(tokenKey);
      if (token?.limits?.stores !== undefined) {
        const visible = new Set(
          (await media.findByIds(ids)).filter((r) => storeInReach(token, r.store)).map((r) => r.id),
        );
        const hidden = ids.find((id) => !visible.has(id));
        if (hidden !== undefined) throw mediaNotFound(hidden);
      }
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

    ...createEventFeedHandlers(deps),
    ...createAttestationHandlers(deps),
  };
}
