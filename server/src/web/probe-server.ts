import type { AddressInfo } from "node:net";
import { createLimitedServer } from "../api/http-server.ts";
import { limitAuthFailures } from "../api/rate-limit.ts";
import { createAuthenticator } from "../auth/tokens.ts";
import type { Config } from "../config.ts";
import { connectDatabase } from "../db/connect.ts";
import type { Logger } from "../logger.ts";
import { createReadinessCheck } from "./probes.ts";
import { createWebRoutes, type MetricsSource } from "./routes.ts";

export interface ProbeServer {
  readonly port: number;
  /** /readyz answers 503 from now on; /healthz and /metrics still answer. */
  setNotReady(): void;
  /** Closes the listener and its database connection. */
  close(): Promise<void>;
}

/**
 * /healthz, /readyz and /metrics for a process without the API (a worker
 * alone), on METRICS_PORT, with the same token rules as the HTTP port.
 */
export async function startProbeServer(
  config: Config,
  databaseUrl: string,
  log: Logger,
  metrics: MetricsSource,
): Promise<ProbeServer> {
  const database = connectDatabase({ url: databaseUrl, poolSize: 1 });
  let serving = true;
  const routes = createWebRoutes({
    log,
    authenticator: limitAuthFailures(
      createAuthenticator(config.tokens),
      config.limits.authFailuresPerSecond,
      config.limits.authFailureBurst,
    ),
    readiness: createReadinessCheck(database.db, () => serving),
    metrics,
  });
  const server = createLimitedServer(config.limits, (req, res) => routes(req, res));
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(config.metricsPort, config.host, () => resolve());
    });
  } catch (error) {
    await database.close();
    throw new Error(`METRICS_PORT ${config.metricsPort}: ${error instanceof Error ? error.message : String(error)}`);
  }
  return {
    port: (server.address() as AddressInfo).port,
    setNotReady() {
      serving = false;
    },
    async close() {
      serving = false;
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await database.close();
    },
  };
}
