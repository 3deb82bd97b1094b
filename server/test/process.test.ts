import assert from "node:assert/strict";
import { mkdir, mkdtemp, readFile, rm, stat, symlink } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { Code, createClient } from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import { AdminService } from "@media/proto/media/v1/admin_service_pb";
import { MediaService } from "@media/proto/media/v1/media_service_pb";
import { service as healthService } from "grpc-health-check";
import type { PoolClient } from "pg";
import { pino } from "pino";
import { buildInfo } from "../src/build-info.ts";
import { loadConfig } from "../src/config.ts";
import { connectDatabase } from "../src/db/connect.ts";
import { runningEmbeddedPort } from "../src/db/embedded.ts";
import { announceStartup, STARTUP_MESSAGE } from "../src/process.ts";
import {
  killAllProcesses,
  type ServiceProcess,
  spawnServiceProcess,
  workerOnlyArgs,
} from "../testing/service-process.ts";
import {
  connectTransport,
  createTestDatabase,
  expectCode,
  freePort,
  grpcTransport,
  TEST_ADMIN_TOKEN,
  TEST_SERVICE_TOKEN,
  waitFor,
} from "../testing/support.ts";

// `npm run server` as a real child process: what operators see.

after(() => killAllProcesses());

async function startServer(
  env: Record<string, string>,
): Promise<{ proc: ServiceProcess; grpcPort: number; httpPort: number }> {
  const proc = await spawnServiceProcess(["server/src/main.ts"], { GRPC_PORT: "0", HTTP_PORT: "0", ...env });
  const { grpc: grpcPort = 0, http: httpPort = 0 } = proc.startup.ports;
  assert.ok(grpcPort > 0 && httpPort > 0, proc.output());
  return { proc, grpcPort, httpPort };
}

/** Whether a new TCP connection to the port is accepted. */
const accepts = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });

/** JSON log lines: all of the output, stdout not being a terminal (no banner). */
const logLines = (output: string) =>
  output
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as Record<string, unknown>);

test("SIGTERM: health turns NOT_SERVING first, in-flight calls on both ports finish, none fails", async () => {
  const databaseUrl = await createTestDatabase();
  const { proc, grpcPort, httpPort } = await startServer({
    DATABASE_URL: databaseUrl,
    SHUTDOWN_DELAY: "2s",
    LOG_LEVEL: "info",
  });
  const { pool: sql } = connectDatabase({ url: databaseUrl, poolSize: 2 });
  let locker: PoolClient | undefined;
  const Health = grpc.makeGenericClientConstructor(healthService, "Health");
  const health = new Health(`127.0.0.1:${grpcPort}`, grpc.credentials.createInsecure()) as grpc.Client &
    Record<string, Function>;
  try {
    const media = createClient(MediaService, connectTransport(httpPort));
    // One media per call: calls on one media wait their turn inside the service (group commit keeps
    // their order), calls on different media each reach the database.
    const ids: bigint[] = [];
    for (let i = 0; i < 8; i++) {
      ids.push((await media.createMedia({ store: "default", key: `shutdown/${i}.jpg` })).media!.id);
    }

    const statuses: string[] = [];
    const watch = health.watch!.call(health, { service: "" }) as grpc.ClientReadableStream<{ status: string }>;
    const watchEnded = new Promise<void>((resolve) => {
      watch.on("data", (m: { status: string }) => statuses.push(m.status));
      watch.on("error", () => resolve());
      watch.on("end", () => resolve());
    });

    // Hold the rows so the links wait inside the service, in flight, until released.
    locker = await sql.connect();
    await locker.query("BEGIN");
    await locker.query("SELECT * FROM media WHERE id = ANY($1::bigint[]) FOR UPDATE", [ids.map(String)]);
    const clients = [
      createClient(MediaService, grpcTransport(grpcPort)),
      createClient(MediaService, connectTransport(httpPort)),
    ];
    const inFlight = ids.map((id, i) =>
      clients[i % 2]!.linkMedia({ mediaId: id, owner: `posts/${i}` }, { timeoutMs: 20_000 }),
    );
    // In flight: every one of them has reached the database and waits there on its row (together in one
    // group first; past the group's lock wait, each alone).
    await waitFor(async () => {
      const { rows } = await sql.query(
        `SELECT count(*)::int AS n FROM pg_stat_activity
         WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%media_link(%'`,
      );
      return rows[0].n === inFlight.length;
    }, `the ${inFlight.length} links to wait on the row`);
    proc.child.kill("SIGTERM");

    await waitFor(() => statuses.includes("NOT_SERVING"), "health to report NOT_SERVING", 5000);
    assert.deepEqual(statuses, ["SERVING", "NOT_SERVING"]);
    const ready = await fetch(`http://127.0.0.1:${httpPort}/readyz`);
    assert.equal(ready.status, 503);
    assert.equal(((await ready.json()) as { serving: string }).serving, "shutting down");

    // Only once both listeners have closed do the calls get their row: they finish during the close.
    for (const port of [httpPort, grpcPort]) {
      await waitFor(async () => !(await accepts(port)), `port ${port} to stop accepting connections`, 10_000);
    }
    assert.equal(proc.child.exitCode, null, "still running, waiting for its calls");
    await locker.query("COMMIT");
    locker.release();
    locker = undefined;
    const results = await Promise.allSettled(inFlight);
    assert.deepEqual(
      results.map((r) => r.status),
      Array(8).fill("fulfilled"),
      String(results.find((r) => r.status === "rejected")?.reason),
    );
    assert.equal(await proc.exited, 0);
    await watchEnded;
    const { rows } = await sql.query(
      "SELECT count(*)::int AS n FROM media_references WHERE media_id = ANY($1::bigint[])",
      [ids.map(String)],
    );
    assert.equal(rows[0].n, 8);
    const messages = logLines(proc.output()).map((l) => l.msg);
    assert.ok(
      messages.indexOf("health reports NOT_SERVING") < messages.indexOf("listeners closed; in-flight calls finished"),
      messages.join(" | "),
    );
  } finally {
    // A failure above may leave the rows locked: end that connection, or the pool's end waits for it.
    locker?.release(true);
    health.close();
    await sql.end();
  }
});

test("logs are JSON with a request id per call, and never contain a token", async () => {
  const databaseUrl = await createTestDatabase();
  const { proc, grpcPort, httpPort } = await startServer({ DATABASE_URL: databaseUrl, LOG_LEVEL: "debug" });
  const wrong = "wrong-secret-0123456789abcdef0123456789";
  for (const transport of [connectTransport(httpPort), grpcTransport(grpcPort)]) {
    await createClient(MediaService, transport).createMedia({ store: "default", key: `logs/${Math.random()}` });
  }
  await expectCode(
    createClient(MediaService, connectTransport(httpPort, wrong)).getMedia({ id: 1n }),
    Code.Unauthenticated,
  );
  await expectCode(
    createClient(MediaService, grpcTransport(grpcPort, wrong)).getMedia({ id: 1n }),
    Code.Unauthenticated,
  );
  await expectCode(
    createClient(AdminService, connectTransport(httpPort, TEST_SERVICE_TOKEN)).getStats({}),
    Code.PermissionDenied,
  );
  await fetch(`http://127.0.0.1:${httpPort}/metrics`, { headers: { authorization: `Bearer ${wrong}` } });
  proc.child.kill("SIGTERM");
  assert.equal(await proc.exited, 0);

  const output = proc.output();
  for (const secret of [TEST_ADMIN_TOKEN, TEST_SERVICE_TOKEN, wrong]) {
    assert.ok(!output.includes(secret), "a token reached the output");
  }
  const rpcs = logLines(output).filter((l) => l.msg === "rpc");
  assert.equal(rpcs.length, 5);
  assert.equal(new Set(rpcs.map((l) => l.requestId)).size, 5, "one request id per call");
  assert.deepEqual(
    rpcs.map((l) => [l.caller ?? null, l.code]),
    [
      ["test-admin", "ok"],
      ["test-admin", "ok"],
      [null, "unauthenticated"],
      [null, "unauthenticated"],
      [null, "permission_denied"],
    ],
  );
});

test("with no tokens configured, the laptop default creates an admin token in the data folder, named (never shown) in the start-up line", async () => {
  const dataDir = await mkdtemp(path.join(tmpdir(), "token-"));
  const env = {
    DATABASE_URL: "",
    DATA_DIR: dataDir,
    EMBEDDED_POSTGRES_PORT: String(await freePort()),
    AUTH_TOKENS: "",
  };
  const first = await startServer(env);
  const file = path.join(dataDir, "admin-token");
  assert.equal(first.proc.startup.adminTokenFile, file, first.proc.output());
  assert.equal(first.proc.startup.adminTokenCreated, true);
  assert.equal((await stat(file)).mode & 0o777, 0o600);
  const secret = (await readFile(file, "utf8")).trim();
  assert.ok(secret.length >= 24);
  // Stdout is not a terminal here: no banner, so the new token is in the file only, never in the log.
  assert.ok(!first.proc.output().includes(secret), first.proc.output());
  assert.deepEqual(first.proc.startup.tokens, [{ name: "local-admin", scope: "admin" }]);
  assert.deepEqual(first.proc.startup.database, {
    kind: "embedded",
    dataDir: path.join(dataDir, "postgres"),
    port: Number(env.EMBEDDED_POSTGRES_PORT),
  });
  const admin = createClient(AdminService, connectTransport(first.httpPort, secret));
  assert.ok((await admin.getStats({})).states.length > 0);
  await expectCode(
    createClient(AdminService, connectTransport(first.httpPort, null)).getStats({}),
    Code.Unauthenticated,
  );
  first.proc.child.kill("SIGTERM");
  assert.equal(await first.proc.exited, 0);

  const second = await startServer(env);
  assert.ok(!second.proc.output().includes(secret), second.proc.output());
  assert.equal(second.proc.startup.adminTokenFile, file);
  assert.equal(second.proc.startup.adminTokenCreated, false);
  const again = createClient(AdminService, grpcTransport(second.grpcPort, secret));
  assert.ok((await again.getStats({})).states.length > 0);
  second.proc.child.kill("SIGTERM");
  assert.equal(await second.proc.exited, 0);
});

test("Ctrl-C on `npm start` (SIGINT to the whole group, embedded PostgreSQL included) stops cleanly", async () => {
  const dataDir = await mkdtemp(path.join(tmpdir(), "ctrl-c-"));
  const env = {
    DATABASE_URL: "",
    DATA_DIR: dataDir,
    EMBEDDED_POSTGRES_PORT: String(await freePort()),
    GRPC_PORT: "0",
    HTTP_PORT: "0",
    SHUTDOWN_TIMEOUT: "3s",
  };
  try {
    // A few stops: the crash this guards against came from a race between PostgreSQL ending the
    // pools' connections and the pools closing, so it showed in some stops only.
    for (let stop = 0; stop < 3; stop++) {
      const proc = await spawnServiceProcess(["worker/src/main.ts"], env, { ownGroup: true });
      const httpPort = proc.startup.ports.http ?? 0;
      const admin = createClient(AdminService, connectTransport(httpPort));
      // The worker busy with a sweep, and a dashboard page open (a keep-alive connection).
      await admin.runSweep({});
      const page = await fetch(`http://127.0.0.1:${httpPort}/`, { keepalive: true });
      assert.equal(page.status, 200);
      const stopped = performance.now();
      process.kill(-(proc.child.pid as number), "SIGINT");
      const code = await proc.exited;
      // Each stage of the shutdown is bounded by SHUTDOWN_TIMEOUT, whatever is left running.
      assert.ok(performance.now() - stopped < 4 * 3000, `stopped in time:\n${proc.output()}`);
      assert.doesNotMatch(proc.output(), /Unhandled|Emitted 'error' event|uncaught/i);
      assert.equal(code, 0, proc.output());
      // PostgreSQL removes its postmaster.pid last: the process exits only after PostgreSQL has stopped,
      // so an `npm start` right after it finds the folder free.
      assert.equal(await runningEmbeddedPort(dataDir), undefined, `PostgreSQL still running:\n${proc.output()}`);
    }
  } finally {
    // A failed stop may leave PostgreSQL finishing its shutdown in the folder: retried, so the cleanup
    // never hides the failure above.
    await rm(dataDir, { recursive: true, force: true, maxRetries: 10 });
  }
});

test("against a shared database, starting without tokens is a configuration error", async () => {
  const env = { DATABASE_URL: await createTestDatabase(), AUTH_TOKENS: "", GRPC_PORT: "0", HTTP_PORT: "0" };
  await assert.rejects(spawnServiceProcess(["server/src/main.ts"], env), (error: Error) => {
    assert.match(error.message, /exited \(2\)/);
    assert.match(error.message, /configuration error: no API tokens: with DATABASE_URL set, configure AUTH_TOKENS/);
    return true;
  });
});

test("the API and a worker alone refuse to start with overlapping stores, naming both", async () => {
  const dir = await mkdtemp(path.join(tmpdir(), "overlap-process-"));
  try {
    await mkdir(path.join(dir, "media"));
    await symlink(path.join(dir, "media"), path.join(dir, "alias"));
    const env = {
      DATABASE_URL: await createTestDatabase(),
      GRPC_PORT: "0",
      HTTP_PORT: "0",
      STORES: `a=file:${dir}/media,b=file:${dir}/alias`,
    };
    for (const entry of [["server/src/main.ts"], workerOnlyArgs()]) {
      await assert.rejects(spawnServiceProcess(entry, env), (error: Error) => {
        assert.match(error.message, /exited \(2\)/);
        assert.match(error.message, /configuration error: STORES: stores "a" \(.*\) and "b" \(.*\) overlap/);
        return true;
      });
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("the start-up line: one JSON line whatever LOG_LEVEL, naming ports, stores, the database (never its password) and the build", async () => {
  const databaseUrl = await createTestDatabase();
  const password = decodeURIComponent(new URL(databaseUrl).password);
  assert.ok(password.length > 0, "the test database has a password, to look for");
  // LOG_LEVEL=warn (spawnServiceProcess's default): the line is written all the same.
  const { proc, grpcPort, httpPort } = await startServer({ DATABASE_URL: databaseUrl });
  const startups = logLines(proc.output()).filter((l) => l.msg === STARTUP_MESSAGE);
  assert.equal(startups.length, 1, proc.output());
  const { level, time, stores, ...fields } = startups[0]!;
  assert.equal(level, 30);
  assert.equal(typeof time, "number");
  const build = buildInfo();
  assert.deepEqual(fields, {
    msg: STARTUP_MESSAGE,
    version: build.version,
    node: process.version,
    ...(build.commit === undefined ? {} : { commit: build.commit }),
    pid: proc.child.pid,
    role: "api",
    host: "127.0.0.1",
    ports: { grpc: grpcPort, http: httpPort },
    worker: false,
    database: {
      kind: "external",
      host: "127.0.0.1",
      port: Number(new URL(databaseUrl).port),
      name: new URL(databaseUrl).pathname.slice(1),
    },
    tokens: [
      { name: "test-admin", scope: "admin" },
      { name: "test-service", scope: "service" },
    ],
  });
  assert.deepEqual(
    (stores as Array<{ name: string; kind: string; location: string }>).map((s) => [
      s.name,
      s.kind,
      path.basename(s.location),
    ]),
    [["default", "disk", "files"]],
  );
  assert.ok(!proc.output().includes(password), "the database password reached the output");
  assert.ok(!proc.output().includes("media lifecycle service is up"), "no banner when stdout is not a terminal");
  proc.child.kill("SIGTERM");
  assert.equal(await proc.exited, 0);
});

test("announceStartup: the banner only on a terminal, the new admin token in it and never in the log", () => {
  const config = loadConfig({ DATABASE_URL: "postgres://app:s3cret-pw@db.internal:5433/media", LOG_LEVEL: "error" });
  const secret = "new-admin-token-0123456789abcdef";
  const localConfig = {
    ...config,
    databaseUrl: undefined,
    tokens: [{ name: "local-admin", scope: "admin" as const, secret }],
  };
  for (const isTTY of [false, true]) {
    const logged: string[] = [];
    const printed: string[] = [];
    const log = pino({ level: "error", base: undefined }, { write: (line: string) => logged.push(line) });
    const parts = { grpcPort: 50051, httpPort: 8080, worker: true, createdAdminToken: secret };
    announceStartup(log, localConfig, parts, { isTTY, write: (text: string) => printed.push(text) });
    announceStartup(
      log,
      config,
      { probesPort: 9464, worker: true },
      { isTTY, write: (text: string) => printed.push(text) },
    );
    // Two lines at LOG_LEVEL=error: the start-up line is written whatever the level.
    assert.equal(logged.length, 2);
    const [local, external] = logged.map((line) => JSON.parse(line) as Record<string, unknown>);
    assert.equal(local!.msg, STARTUP_MESSAGE);
    assert.equal(local!.role, "api+worker");
    assert.equal(local!.adminTokenCreated, true);
    assert.deepEqual(external!.database, { kind: "external", host: "db.internal", port: 5433, name: "media" });
    assert.deepEqual(external!.ports, { probes: 9464 });
    assert.equal(external!.role, "worker");
    assert.ok(!logged.join("").includes(secret) && !logged.join("").includes("s3cret-pw"), logged.join(""));
    if (isTTY) {
      assert.equal(printed.length, 2);
      assert.match(printed[0]!, /media lifecycle service is up/);
      assert.match(printed[0]!, new RegExp(`admin token +${secret} +\\(new; kept in `));
      assert.match(printed[0]!, /dashboard +http:\/\/127\.0\.0\.1:8080/);
      assert.match(printed[1]!, /probes, metrics http:\/\/127\.0\.0\.1:9464/);
      assert.doesNotMatch(printed[1]!, /s3cret-pw/);
    } else {
      assert.deepEqual(printed, [], "no banner when stdout is not a terminal");
    }
  }
  // LOG_LEVEL=silent means silent: no line at all.
  const logged: string[] = [];
  const silent = pino({ level: "silent", base: undefined }, { write: (line: string) => logged.push(line) });
  announceStartup(silent, { ...config, logLevel: "silent" }, { worker: true }, { isTTY: false, write: () => {} });
  assert.deepEqual(logged, []);
});
