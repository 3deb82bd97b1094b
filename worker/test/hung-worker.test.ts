import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Code, createClient } from "@connectrpc/connect";
import { MediaService } from "@media/proto/media/v1/media_service_pb";
import type { TcpProxy } from "@media/server/testing";
import { expectCode, grpcTransport, killProcess } from "@media/server/testing";
import pg from "pg";
import {
  type DeletionHarness,
  expireLeases,
  type ProxiedHarness,
  startProxiedHarness,
  waitFor,
} from "../testing/harness.ts";
import { spawnWorker } from "../testing/worker-process.ts";

// Nothing a stopped or cut-off session does may take the service down with it:
// a call waiting on a lock ends at its deadline and its query with it, so the
// pool stays free for everyone else; PostgreSQL ends the transaction of a
// worker stopped inside it; and a worker whose connections are cut keeps
// running and finishes its work once the database is back.

const POOL_SIZE = 4;
const STATEMENT_TIMEOUT_SECONDS = 2;
/** A piece of the closing transaction's first statement (finish.ts): it deletes the rows whose files are gone. */
const CLOSING_STATEMENT = "'file and row deleted'";

let h: DeletionHarness;
let proxy: TcpProxy;
let harness: ProxiedHarness;
before(async () => {
  // Workers run as child processes here, reaching the database through a proxy.
  harness = await startProxiedHarness({
    DATABASE_POOL_SIZE: String(POOL_SIZE),
    DATABASE_STATEMENT_TIMEOUT: `${STATEMENT_TIMEOUT_SECONDS}s`,
    SWEEP_SCHEDULE: "0 0 1 1 *",
    BLAST_RADIUS_LIMIT: "1000000",
  });
  ({ h, proxy } = harness);
});
after(() => harness.stop());

const spawnProxiedWorker = () => spawnWorker({ ...h.env, DATABASE_URL: harness.viaProxy, WORKER_CONCURRENCY: "1" });

async function dueNow(ids: readonly bigint[]): Promise<void> {
  await h.t.sql.query("UPDATE media SET delete_time = now() - interval '1 second' WHERE id = ANY($1::bigint[])", [
    ids.map(String),
  ]);
}

const lockWaits = async () => {
  const { rows } = await h.t.sql.query(
    "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
  );
  return rows[0].n as number;
};

describe("hung sessions", () => {
  test("calls waiting on a lock end at their deadline, their queries with them, and the pool stays free", async () => {
    const locked = await h.put("default", "hung/locked.jpg");
    const other = await h.put("default", "hung/other.jpg");
    // A session stopped inside a transaction that holds the row (as a frozen worker's would).
    const holder = new pg.Client({ connectionString: h.t.databaseUrl });
    await holder.connect();
    try {
      await holder.query("BEGIN");
      await holder.query("DELETE FROM media WHERE id = $1", [locked]);
      const grpc = createClient(MediaService, grpcTransport(h.t.service.grpcPort));
      const deadlineMs = 1000;
      const started = performance.now();
      // More waiting calls than the pool has connections, on both ports.
      await Promise.all(
        [h.t.media, grpc].flatMap((client) =>
          Array.from({ length: POOL_SIZE }, () =>
            expectCode(
              client.createMedia(
                { store: "default", key: "hung/locked.jpg", sizeBytes: 10n },
                { timeoutMs: deadlineMs },
              ),
              Code.DeadlineExceeded,
            ),
          ),
        ),
      );
      assert.ok(performance.now() - started < deadlineMs + 1500, "every call answered at its deadline");
      // PostgreSQL stopped waiting too: the connections are back.
      await waitFor(async () => (await lockWaits()) === 0, "the calls' queries to be cancelled", 3000);
      const reads = await Promise.all(
        Array.from({ length: 3 * POOL_SIZE }, (_, i) =>
          (i % 2 === 0 ? h.t.media : grpc).getMedia({ id: other }, { timeoutMs: 2000 }),
        ),
      );
      assert.ok(reads.every((r) => r.media?.id === other));
    } finally {
      await holder.query("ROLLBACK");
      await holder.end();
    }
  });

  test("PostgreSQL ends the transaction of a worker stopped inside it, so its locks go", async () => {
    const id = await h.put("default", "hung/stopped.jpg");
    await dueNow([id]);
    const worker = await spawnProxiedWorker();
    try {
      // Stopped with its closing transaction open: the row is deleted but not committed.
      const held = proxy.holdAnswerTo(CLOSING_STATEMENT);
      await h.t.admin.runSweep({});
      await held.holding;
      worker.child.kill("SIGSTOP");
      held.release();
      const started = performance.now();
      // The call waits on the row until PostgreSQL ends the stopped session, then hears the row is
      // still being deleted (the closing transaction was rolled back).
      await expectCode(
        h.t.media.createMedia({ store: "default", key: "hung/stopped.jpg", sizeBytes: 10n }, { timeoutMs: 20_000 }),
        Code.FailedPrecondition,
        "being deleted",
      );
      const waited = performance.now() - started;
      assert.ok(waited < (STATEMENT_TIMEOUT_SECONDS + 3) * 1000, `the lock went with the session (${waited} ms)`);
      // Woken, the worker finds its connection gone, keeps running, and the claim is finished later.
      worker.child.kill("SIGCONT");
      await expireLeases(h.t.sql);
      await h.t.admin.runSweep({});
      await waitFor(async () => (await h.t.media.getMedia({ id }).catch(() => undefined)) === undefined, "the row");
      assert.equal(worker.child.exitCode, null, worker.output());
    } finally {
      await killProcess(worker);
    }
  });

  test("a worker whose database connections are cut mid-batch keeps running and finishes once it is back", async () => {
    const ids: bigint[] = [];
    for (let i = 0; i < 5; i++) ids.push(await h.put("default", `hung/cut/${i}.jpg`));
    await dueNow(ids);
    const worker = await spawnProxiedWorker();
    try {
      const held = proxy.holdAnswerTo(CLOSING_STATEMENT);
      await h.t.admin.runSweep({});
      await held.holding;
      // The batch's transaction is cut, so the job fails while the database is unreachable:
      // graphile-worker records the failure on a connection that is refused.
      await proxy.cut();
      held.release();
      await waitFor(async () => worker.output().includes("Failed task"), "the job to fail during the cut", 10_000);
      await proxy.restore();
      await expireLeases(h.t.sql);
      await h.t.admin.runSweep({});
      await waitFor(
        async () => {
          const { rows } = await h.t.sql.query("SELECT count(*)::int AS n FROM media WHERE id = ANY($1::bigint[])", [
            ids.map(String),
          ]);
          return rows[0].n === 0;
        },
        "the batch to be finished after the cut",
        30_000,
        async () => worker.output(),
      );
      assert.equal(worker.child.exitCode, null, worker.output());
    } finally {
      await killProcess(worker);
    }
  });
});
