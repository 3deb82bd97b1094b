import { AdminService } from "@media/proto/media/v1/admin_service_pb";
import { MediaService } from "@media/proto/media/v1/media_service_pb";
import { createAdminService } from "./api/admin-service.ts";
import type { ServiceDeps } from "./api/context.ts";
import { createGrpcServer } from "./api/grpc-server.ts";
import { type Admission, createCallGate, guardService } from "./api/guard.ts";
import { createHttpServer } from "./api/http-server.ts";
import { createMediaService } from "./api/media-service.ts";
import { createRateLimiter, limitAuthFailures } from "./api/rate-limit.ts";
import { createAuthenticator } from "./auth/tokens.ts";
import type { Config } from "./config.ts";
import { connectDatabase } from "./db/connect.ts";
import { migrateDatabase } from "./db/migrate.ts";
import type { Logger } from "./logger.ts";
import { createAdminActions } from "./media/admin-actions.ts";
import { createFeedWatcher } from "./media/feed-watcher.ts";
import { createMediaLoader } from "./media/media-loader.ts";
import { createMediaRepository } from "./media/media-repository.ts";
import { createMetrics, type Metrics, registerLifecycleGauges } from "./metrics/index.ts";
import { openStores } from "./storage/index.ts";
import { createDashboardHandler } from "./web/dashboard.ts";
import { createPreviewHandler } from "./web/preview.ts";
import { createReadinessCheck } from "./web/probes.ts";
import { createWebRoutes } from "./web/routes.ts";

export interface RunningService {
  readonly grpcPort: number;
  readonly httpPort: number;
  /** The registry /metrics serves; a worker in the same process adds its series to it. */
  readonly metrics: Metrics;
  /**
   * Reports NOT_SERVING (gRPC health, /readyz), waits SHUTDOWN_DELAY, stops
   * taking calls, lets in-flight ones finish for up to graceMs, closes the pool.
   */
  stop(graceMs?: number): Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Connects to the database at databaseUrl, applies migrations, and serves the
 * same service objects over gRPC (grpc-js) and Connect/gRPC-Web (connect-node).
 */
export async function startService(
  config: Config,
  databaseUrl: string,
  log: Logger,
  metrics: Metrics = createMetrics(),
): Promise<RunningService> {
  if (config.tokens.length === 0) throw new Error("no API tokens configured: set AUTH_TOKENS or AUTH_TOKENS_FILE");
  // First: overlapping or missing stores stop start-up before anything connects.
  const stores = openStores(config.stores);
  const connectTimeoutMs = config.databaseConnectTimeoutSeconds * 1000;
  const applied = await migrateDatabase(databaseUrl, connectTimeoutMs);
  if (applied.length > 0) log.info({ migrations: applied }, "applied database migrations");
  const database = connectDatabase({
    url: databaseUrl,
    poolSize: config.databasePoolSize,
    connectTimeoutMs,
    onIdleError: (err) => log.warn({ err }, "idle database connection failed; the pool will reconnect"),
    // A call's queries are cancelled when it ends early; no statement outlives the longest
    // deadline a call may ask for, and no transaction sits idle past DATABASE_STATEMENT_TIMEOUT.
    cancelWithCalls: true,
    sessionLimits: {
      statementTimeoutMs: config.limits.maxDeadlineSeconds * 1000,
      idleInTransactionTimeoutMs: config.databaseStatementTimeoutSeconds * 1000,
    },
  });

  const media = createMediaRepository(database);
  const deps: ServiceDeps = {
    db: database.db,
    pool: database.pool,
    media,
    actions: createAdminActions(database.pool),
    mediaLoader: createMediaLoader(media),
    storeNames: new Set(config.stores.keys()),
    stores: [...config.stores.values()]
      .map((s) => ({ name: s.name, kind: s.kind }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
    sweepSchedule: config.deletion.sweepSchedule,
    gracePeriodSeconds: config.gracePeriodSeconds,
    pendingTtlSeconds: config.pendingTtlSeconds,
    blastRadiusLimit: config.deletion.blastRadiusLimit,
    objectStores: stores,
    leaseTiming: config.deletion,
    feedWatcher: createFeedWatcher(database.pool),
  };
  registerLifecycleGauges(metrics, database.pool, { ttlMs: config.metricsRefreshSeconds * 1000, log });
  // One budget of failures per peer address, shared by both ports and the HTTP routes.
  const authenticator = limitAuthFailures(
    createAuthenticator(config.tokens),
    config.limits.authFailuresPerSecond,
    config.limits.authFailureBurst,
  );
  const admission: Admission = {
    log,
    authenticator,
    rateLimiter: createRateLimiter(config.limits.ratePerToken, config.limits.rateBurst),
    limits: config.limits,
    observer: metrics,
  };
  const services = [
    { service: MediaService, impl: guardService(MediaService, createMediaService(deps), "service", admission) },
    { service: AdminService, impl: guardService(AdminService, createAdminService(deps), "admin", admission) },
  ];

  const maxMessageBytes = config.limits.maxRequestBytes;
  const gate = createCallGate(admission);
  const { limits } = config;
  const grpcServer = createGrpcServer({ services, maxMessageBytes, tls: config.grpcTls, gate, limits });
  const web = createWebRoutes({
    log,
    authenticator,
    readiness: createReadinessCheck(database.db, () => grpcServer.health.serving),
    metrics,
    dashboard: createDashboardHandler(config.dashboardDir, log),
    preview: createPreviewHandler(deps.mediaLoader, stores, log),
  });
  const httpServer = createHttpServer({ services, maxMessageBytes, fallback: web, gate, limits });
  try {
    const grpcPort = await grpcServer.listen(config.host, config.grpcPort);
    const httpPort = await httpServer.listen(config.host, config.httpPort);
    return {
      grpcPort,
      httpPort,
      metrics,
      async stop(graceMs = config.shutdown.timeoutSeconds * 1000) {
        grpcServer.health.setNotServing();
        log.info({ delaySeconds: config.shutdown.delaySeconds }, "health reports NOT_SERVING");
        await sleep(config.shutdown.delaySeconds * 1000);
        // Waiting ListEvents calls answer now rather than hold the close up.
        deps.feedWatcher.close();
        await Promise.all([grpcServer.close(graceMs), httpServer.close(graceMs)]);
        log.info("listeners closed; in-flight calls finished");
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
