import { AdminService } from "@media/proto/media/v1/admin_service_pb";
import { MediaService } from "@media/proto/media/v1/media_service_pb";
import { createAdminService } from "./api/admin-service.js";
import type { ServiceDeps } from "./api/context.js";
import { createGrpcServer } from "./api/grpc-server.js";
import { guardService } from "./api/guard.js";
import { createHttpServer } from "./api/http-server.js";
import { createMediaService } from "./api/media-service.js";
import type { Config } from "./config.js";
import { connectDatabase } from "./db/connect.js";
import { migrateToLatest } from "./db/migrate.js";
import type { Logger } from "./logger.js";
import { createMediaLoader } from "./media/media-loader.js";
import { createStores } from "./storage/index.js";
import { createDashboardHandler } from "./web/dashboard.js";
import { createPreviewHandler } from "./web/preview.js";
import { createWebRoutes } from "./web/routes.js";

/** Largest request message accepted on either port. */
export const MAX_REQUEST_BYTES = 1024 * 1024;

export interface RunningService {
  readonly grpcPort: number;
  readonly httpPort: number;
  /** Stops taking calls, lets in-flight ones finish for up to graceMs, closes the pool. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Connects to the database at databaseUrl, applies migrations, and serves the
 * same service objects over gRPC (grpc-js) and Connect/gRPC-Web (connect-node).
 */
export async function startService(config: Config, databaseUrl: string, log: Logger): Promise<RunningService> {
  const database = connectDatabase({
    url: databaseUrl,
    poolSize: config.databasePoolSize,
    onIdleError: (err) => log.warn({ err }, "idle database connection failed; the pool will reconnect"),
  });
  try {
    const applied = await migrateToLatest(database.db);
    if (applied.length > 0) log.info({ migrations: applied }, "applied database migrations");
  } catch (error) {
    await database.close();
    throw error;
  }

  const deps: ServiceDeps = {
    db: database.db,
    pool: database.pool,
    mediaLoader: createMediaLoader(database.pool),
    storeNames: new Set(config.stores.keys()),
    gracePeriodSeconds: config.gracePeriodSeconds,
    pendingTtlSeconds: config.pendingTtlSeconds,
    blastRadiusLimit: config.deletion.blastRadiusLimit,
  };
  const services = [
    { service: MediaService, impl: guardService(MediaService, createMediaService(deps), log) },
    { service: AdminService, impl: guardService(AdminService, createAdminService(deps), log) },
  ];

  const grpcServer = createGrpcServer({ services, maxMessageBytes: MAX_REQUEST_BYTES });
  const web = createWebRoutes(
    createDashboardHandler(config.dashboardDir, log),
    createPreviewHandler(deps.mediaLoader, createStores(config.stores), log),
    log,
  );
  const httpServer = createHttpServer({ services, maxMessageBytes: MAX_REQUEST_BYTES, fallback: web });
  try {
    const grpcPort = await grpcServer.listen(config.host, config.grpcPort);
    const httpPort = await httpServer.listen(config.host, config.httpPort);
    return {
      grpcPort,
      httpPort,
      async stop(graceMs = 10_000) {
        await Promise.all([grpcServer.close(graceMs), httpServer.close(graceMs)]);
        await database.close();
      },
    };
  } catch (error) {
    grpcServer.server.forceShutdown();
    httpServer.server.close();
    await database.close();
    throw error;
  }
}
