// Shared test plumbing: a fresh database per test file on the embedded server
// that scripts/test.ts started, a real service on ephemeral ports, and real
// clients for both ports.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { type Client, type Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import { AdminService } from "@media/proto/media/v1/admin_service_pb";
import { MediaService } from "@media/proto/media/v1/media_service_pb";
import pg from "pg";
import { grpcServiceDefinition } from "../src/api/grpc-server.ts";
import { type RunningService, startService } from "../src/app.ts";
import { loadConfig } from "../src/config.ts";
import { connectDatabase, type DatabaseHandle } from "../src/db/connect.ts";
import { startEmbeddedPostgres } from "../src/db/embedded.ts";
import { migrateToLatest } from "../src/db/migrate.ts";
import { createLogger } from "../src/logger.ts";
import type { Metrics } from "../src/metrics/index.ts";

export function testPostgresUrl(): string {
  const url = process.env.TEST_POSTGRES_URL;
  if (url === undefined) throw new Error("TEST_POSTGRES_URL is unset: run the tests with `npm test`");
  return url;
}

/** Tokens every test service accepts; clients made here carry TEST_ADMIN_TOKEN unless told otherwise. */
export const TEST_ADMIN_TOKEN = "test-admin-0123456789abcdef0123456789";
export const TEST_SERVICE_TOKEN = "test-service-0123456789abcdef012345678";
export const TEST_TOKENS_ENV = {
  AUTH_TOKENS: `test-admin:admin:${TEST_ADMIN_TOKEN},test-service:service:${TEST_SERVICE_TOKEN}`,
};

/** Sends `authorization: Bearer <token>` on every call (nothing when token is null). */
export const bearer =
  (token: string | null): Interceptor =>
  (next) =>
  (req) => {
    if (token !== null) req.header.set("authorization", `Bearer ${token}`);
    return next(req);
  };

/** grpc-js call metadata carrying a token. */
export function bearerMetadata(token: string = TEST_ADMIN_TOKEN): grpc.Metadata {
  const metadata = new grpc.Metadata();
  metadata.set("authorization", `Bearer ${token}`);
  return metadata;
}

/** A TCP port free on 127.0.0.1 right now (the OS picks it), for a server a test starts on a fixed port. */
export async function freePort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve, reject) => {
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", resolve);
  });
  const { port } = probe.address() as net.AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/** A PostgreSQL server of a test file's own, with one database, and how to stop it (and remove its folder). */
export interface IsolatedPostgres {
  readonly url: string;
  stop(): Promise<void>;
}

/**
 * Starts a PostgreSQL of its own, for tests whose subject spans the whole
 * server: the change feed's horizon is its oldest running transaction, so
 * another test file's open transaction on the shared server would hold back
 * the events these tests wait for.
 */
export async function startIsolatedPostgres(): Promise<IsolatedPostgres> {
  const dir = await mkdtemp(path.join(tmpdir(), "media-pg-"));
  const server = await startEmbeddedPostgres({ dataDir: dir, port: await freePort() });
  await server.ensureDatabase("isolated");
  return {
    url: server.urlFor("isolated"),
    async stop() {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Creates an empty database and returns its URL. */
export async function createTestDatabase(): Promise<string> {
  const name = `test_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: testPostgresUrl() });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(testPostgresUrl());
  url.pathname = `/${name}`;
  return url.toString();
}

export interface MigratedDatabase {
  readonly url: string;
  /** The pool and Kysely instance, from the service's own pool factory (connectDatabase). */
  readonly handle: DatabaseHandle;
  close(): Promise<void>;
}

/**
 * Creates a fresh database, applies every migration, and connects to it, with
 * no service started: for tests of the SQL and the repositories themselves.
 */
export async function createMigratedDatabase(poolSize = 4): Promise<MigratedDatabase> {
  const url = await createTestDatabase();
  const handle = connectDatabase({ url, poolSize });
  try {
    await migrateToLatest(handle.db);
  } catch (error) {
    await handle.close();
    throw error;
  }
  return { url, handle, close: () => handle.close() };
}

export interface TestService {
  readonly service: RunningService;
  readonly databaseUrl: string;
  /** A pg pool on the service's database, for assertions and fault injection. */
  readonly sql: pg.Pool;
  /** Connect protocol over HTTP/1.1 to the HTTP port. */
  readonly media: Client<typeof MediaService>;
  readonly admin: Client<typeof AdminService>;
  stop(): Promise<void>;
}

/** Starts the real service on ephemeral ports against a fresh database (or the given one). */
export async function startTestService(
  env: Record<string, string> = {},
  existingDatabaseUrl?: string,
  metrics?: Metrics,
): Promise<TestService> {
  const databaseUrl = existingDatabaseUrl ?? (await createTestDatabase());
  const config = loadConfig({ GRPC_PORT: "0", HTTP_PORT: "0", DATABASE_URL: databaseUrl, ...TEST_TOKENS_ENV, ...env });
  const service = await startService(config, databaseUrl, createLogger("silent"), metrics);
  const assertions = connectDatabase({ url: databaseUrl, poolSize: 4 });
  const sql = assertions.pool;
  const transport = connectTransport(service.httpPort);
  return {
    service,
    databaseUrl,
    sql,
    media: createClient(MediaService, transport),
    admin: createClient(AdminService, transport),
    async stop() {
      await assertions.close();
      await service.stop(1000);
    },
  };
}

export const connectTransport = (httpPort: number, token: string | null = TEST_ADMIN_TOKEN) =>
  createConnectTransport({
    baseUrl: `http://127.0.0.1:${httpPort}`,
    httpVersion: "1.1",
    interceptors: [bearer(token)],
  });

export const grpcTransport = (grpcPort: number, token: string | null = TEST_ADMIN_TOKEN) =>
  createGrpcTransport({ baseUrl: `http://127.0.0.1:${grpcPort}`, interceptors: [bearer(token)] });

/** A plain @grpc/grpc-js client (not Connect) for MediaService, promisified. */
export function grpcJsMediaClient(
  grpcPort: number,
  token: string | null = TEST_ADMIN_TOKEN,
): grpc.Client & Record<string, Function> {
  const Ctor = grpc.makeGenericClientConstructor(grpcServiceDefinition(MediaService), "MediaService");
  const withToken: grpc.Interceptor = (options, nextCall) =>
    new grpc.InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        if (token !== null) metadata.set("authorization", `Bearer ${token}`);
        next(metadata, listener);
      },
    });
  return new Ctor(`127.0.0.1:${grpcPort}`, grpc.credentials.createInsecure(), { interceptors: [withToken] }) as never;
}

/** Calls a unary method on a generic grpc-js client and resolves with the response message. */
export function grpcCall<T>(
  client: grpc.Client & Record<string, Function>,
  method: string,
  request: unknown,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const fn = client[method];
    if (fn === undefined) throw new Error(`no method ${method}`);
    fn.call(client, request, (error: grpc.ServiceError | null, response: T) =>
      error ? reject(error) : resolve(response),
    );
  });
}

/** Rows currently in a table of the service's database. */
export async function countRows(sql: pg.Pool, table: "media" | "media_references" | "media_events"): Promise<number> {
  const result = await sql.query(`SELECT count(*)::int AS n FROM ${table}`);
  return result.rows[0].n as number;
}

/** Asserts that the call fails with the given code and, optionally, a message containing text. */
export async function expectCode(call: Promise<unknown>, code: Code, text?: string): Promise<ConnectError> {
  try {
    await call;
  } catch (error) {
    const e = ConnectError.from(error);
    assert.equal(e.code, code, `expected code ${code}, got ${e.code}: ${e.rawMessage}`);
    if (text !== undefined) assert.ok(e.rawMessage.includes(text), `"${e.rawMessage}" should mention "${text}"`);
    return e;
  }
  assert.fail(`expected the call to fail with code ${code}`);
}

/**
 * Polls check() every 50 ms until it holds and resolves with the milliseconds that took; fails after
 * timeoutMs naming what it waited for (and explain()'s account of the state, if given).
 */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 15_000,
  explain: () => Promise<string> = async () => "",
): Promise<number> {
  const started = performance.now();
  while (!(await check())) {
    if (performance.now() - started > timeoutMs) {
      assert.fail(`timed out after ${timeoutMs} ms waiting for ${what} ${await explain()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return performance.now() - started;
}
