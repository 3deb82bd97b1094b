import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import type { MediaService } from "@media/proto/media/v1/media_service_pb";
import type { ServiceDeps } from "./context.ts";

type EventFeedHandlers = Pick<ServiceImpl<typeof MediaService>, "listEvents">;

/** MediaService.ListEvents, the change feed. */
export function createEventFeedHandlers(_deps: ServiceDeps): EventFeedHandlers {
  return {
    async listEvents() {
      throw new ConnectError("ListEvents is not implemented yet", Code.Unimplemented);
    },
  };
}
