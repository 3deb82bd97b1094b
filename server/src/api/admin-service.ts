import type { ServiceImpl } from "@connectrpc/connect";
import type { AdminService } from "@media/proto/media/v1/admin_service_pb";
import { MediaState } from "@media/proto/media/v1/media_pb";
import type { MediaStateName } from "../db/schema.js";
import { eventToProto, MEDIA_STATES, mediaToProto, stateFromProto, stateToProto } from "../media/mapping.js";
import * as media from "../media/repository.js";
import type { ServiceDeps } from "./context.js";
import { invalidArgument } from "./errors.js";
import { decodePageToken, encodePageToken } from "./page-token.js";
import { optionalText, pageSize, requireId } from "./validation.js";

function stateFilter(state: MediaState): MediaStateName | undefined {
  if (state === MediaState.UNSPECIFIED) return undefined;
  const name = stateFromProto(state);
  if (name === undefined) throw invalidArgument("state", `unknown state ${state}`);
  return name;
}

const emptyToUndefined = (value: string) => (value === "" ? undefined : value);

/** Read-only views for the dashboard. Each handler validates, queries, maps. */
export function createAdminService(deps: ServiceDeps): ServiceImpl<typeof AdminService> {
  const { db } = deps;
  return {
    async listMedia(req) {
      const limit = pageSize("page_size", req.pageSize, 50);
      const beforeId = decodePageToken("page_token", "m", req.pageToken);
      const filter = {
        state: stateFilter(req.state),
        store: emptyToUndefined(optionalText("store", req.store, 63)),
        owner: emptyToUndefined(optionalText("owner", req.owner, 512)),
        keyPrefix: emptyToUndefined(optionalText("key_prefix", req.keyPrefix, 1024)),
      };
      // One extra row tells whether another page exists.
      const rows = await media.listMedia(db, filter, beforeId, limit + 1);
      const page = rows.slice(0, limit);
      const last = page.at(-1);
      return {
        media: page.map(mediaToProto),
        nextPageToken: rows.length > limit && last !== undefined ? encodePageToken("m", last.id) : "",
      };
    },

    async getStats() {
      const stats = await media.getStats(db);
      const byState = new Map(stats.states.map((s) => [s.state, s]));
      return {
        states: MEDIA_STATES.map((state) => ({
          state: stateToProto(state),
          count: BigInt(byState.get(state)?.count ?? 0),
          sizeBytes: BigInt(byState.get(state)?.sizeBytes ?? 0),
        })),
        dueNext24hCount: BigInt(stats.dueNext24hCount),
        dueNext24hSizeBytes: BigInt(stats.dueNext24hSizeBytes),
      };
    },

    async listMediaEvents(req) {
      const mediaId = requireId("media_id", req.mediaId);
      const limit = pageSize("page_size", req.pageSize, 100);
      const afterId = decodePageToken("page_token", "e", req.pageToken);
      const rows = await media.listMediaEvents(db, mediaId, afterId, limit + 1);
      const page = rows.slice(0, limit);
      const last = page.at(-1);
      return {
        events: page.map(eventToProto),
        nextPageToken: rows.length > limit && last !== undefined ? encodePageToken("e", last.id) : "",
      };
    },
  };
}
