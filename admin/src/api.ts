import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { AdminService } from "@media/proto/media/v1/admin_service_pb";
import { MediaService } from "@media/proto/media/v1/media_service_pb";

// The server serves the dashboard and the Connect API on one origin (Vite proxies it in dev).
const transport = createConnectTransport({ baseUrl: window.location.origin, useBinaryFormat: true });

export const adminClient = createClient(AdminService, transport);
export const mediaClient = createClient(MediaService, transport);
