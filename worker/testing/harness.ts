// A real service (API) and a real worker in this process, on a fresh database,
// with a disk store in a temp folder and an S3 store on s3rver behind the fault
// proxy.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { S3Client } from "@aws-sdk/client-s3";
import { loadConfig } from "@media/server/config";
import { createLogger } from "@media/server/logger";
import type { Metrics } from "@media/server/metrics";
import {
  killAllProcesses,
  objectExists,
  putObject,
  type S3FaultProxy,
  S3RVER_CREDENTIALS,
  s3rverClient,
  startS3FaultProxy,
  startS3rver,
  startTcpProxy,
  startTestService,
  type TcpProxy,
  type TestService,
  waitFor,
} from "@media/server/testing";
import type pg from "pg";
import { type RunningWorker, startWorker } from "../src/worker.ts";

// The one polling helper lives with the rest of the shared test support; the worker's tests take it from here too.
export { waitFor };

export const BUCKET = "media";
export const S3_PREFIX = "pfx/";

export interface DeletionHarness {
  readonly t: TestService;
  readonly diskRoot: string;
  readonly proxy: S3FaultProxy;
  readonly s3: S3Client;
  worker: RunningWorker | undefined;
  readonly env: Record<string, string>;
  /** Stores a file and registers it; returns the media id. */
  put(store: "default" | "s3", key: string): Promise<bigint>;
  exists(store: "default" | "s3", key: string): Promise<boolean>;
  /** Runs a sweep and waits until the job queue is empty. */
  sweep(): Promise<void>;
  startWorker(): Promise<void>;
  stop(): Promise<void>;
}

/** metrics: what the harness's service and worker count into (each start of the worker), as in `npm start`. */
export async function startDeletionHarness(
  extraEnv: Record<string, string> = {},
  metrics?: Metrics,
): Promise<DeletionHarness> {
  const dir = await mkdtemp(path.join(tmpdir(), "deletion-"));
  const diskRoot = path.join(dir, "files");
  await mkdir(diskRoot, { recursive: true });
  const s3server = await startS3rver(BUCKET);
  const proxy = await startS3FaultProxy(s3server.port);
  // The worker's S3 client takes credentials from the usual AWS chain.
  process.env.AWS_ACCESS_KEY_ID = S3RVER_CREDENTIALS.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = S3RVER_CREDENTIALS.secretAccessKey;
  const env = {
    STORES: `default=file:${diskRoot},s3=s3://${BUCKET}/${S3_PREFIX}?endpoint=${proxy.endpoint}&forcePathStyle=true&region=us-east-1`,
    GRACE_PERIOD: "1h",
    DELETE_RETRY_DELAY: "0s",
    // Files deleted directly unless a suite turns the trash on (trash.test.ts does):
    // the suites written before the trash check that a deletion leaves no row.
    TRASH_RETENTION: "0",
    ...extraEnv,
  };
  const t = await startTestService(env, undefined, metrics);
  const s3 = s3rverClient(s3server.port);
  const config = loadConfig({ DATABASE_URL: t.databaseUrl, ...env });
  const harness: DeletionHarness = {
    t,
    diskRoot,
    proxy,
    s3,
    worker: undefined,
    env,
    async put(store, key) {
      if (store === "default") {
        await mkdir(path.dirname(path.join(diskRoot, key)), { recursive: true });
        await writeFile(path.join(diskRoot, key), `content of ${key}`);
      } else {
        await putObject(s3, BUCKET, S3_PREFIX + key);
      }
      const { media } = await t.media.createMedia({ store, key, sizeBytes: 10n });
      assert.ok(media);
      return media.id;
    },
    async exists(store, key) {
      if (store === "s3") return objectExists(s3, BUCKET, S3_PREFIX + key);
      return existsSync(path.join(diskRoot, key));
    },
    async sweep() {
      await t.admin.runSweep({});
      await waitFor(
        async () => {
          const { rows } = await t.sql.query(
            "SELECT count(*)::int AS n FROM graphile_worker.jobs WHERE attempts < max_attempts",
          );
          return rows[0].n === 0;
        },
        "the job queue to drain",
        15_000,
        async () => {
          const { rows } = await t.sql.query("SELECT task_identifier, attempts, last_error FROM graphile_worker.jobs");
          return JSON.stringify(rows);
        },
      );
    },
    async startWorker() {
      harness.worker = await startWorker(config, t.databaseUrl, createLogger("silent"), metrics);
    },
    async stop() {
      await harness.worker?.stop();
      await t.stop();
      await proxy.close();
      await s3server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
  await harness.startWorker();
  return harness;
}

export interface ProxiedHarness {
  readonly h: DeletionHarness;
  /** In front of the harness's database, for workers run as child processes. */
  readonly proxy: TcpProxy;
  /** The database URL through the proxy. */
  readonly viaProxy: string;
  stop(): Promise<void>;
}

/** A harness whose workers run as child processes (started by the test), reaching its database through a TCP proxy. */
export async function startProxiedHarness(extraEnv: Record<string, string>): Promise<ProxiedHarness> {
  const h = await startDeletionHarness(extraEnv);
  await h.worker?.stop();
  h.worker = undefined;
  const direct = new URL(h.t.databaseUrl);
  const proxy = await startTcpProxy(direct.hostname, Number(direct.port));
  const viaProxy = new URL(direct);
  viaProxy.port = String(proxy.port);
  return {
    h,
    proxy,
    viaProxy: viaProxy.toString(),
    async stop() {
      await killAllProcesses();
      await proxy.close();
      await h.stop();
    },
  };
}

/** Makes every claim's lease run out now, as if its job had stopped renewing it CLAIM_TIMEOUT ago. */
export async function expireLeases(sql: pg.Pool): Promise<void> {
  await sql.query("UPDATE deletion_claims SET lease_expire_time = now() - interval '1 second'");
}
