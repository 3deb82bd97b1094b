import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { MediaService } from "@media/proto/media/v1/media_service_pb";
import { loadConfig } from "@media/server/config";
import {
  createTestDatabase,
  grpcTransport,
  startTcpProxy,
  startTestService,
  TEST_TOKENS_ENV,
} from "@media/server/testing";
import { pino } from "pino";
import { startWorker } from "../src/worker.ts";
import { waitFor } from "../testing/harness.ts";

// The database goes away under load (cut at the network by a TCP proxy in
// front of it) and comes back: calls fail fast with UNAVAILABLE meanwhile, and
// the API and the worker recover without a restart.

test("a database outage under load: UNAVAILABLE within a second, then calls and deletions resume by themselves", async () => {
  const direct = new URL(await createTestDatabase());
  const proxy = await startTcpProxy(direct.hostname, Number(direct.port));
  const viaProxy = new URL(direct);
  viaProxy.port = String(proxy.port);
  const root = await mkdtemp(path.join(tmpdir(), "outage-"));
  // The longest a call may wait for a connection: the bound on how long a failing call takes.
  const env = {
    STORES: `default=file:${root}`,
    GRACE_PERIOD: "0s",
    DELETE_RETRY_DELAY: "0s",
    DATABASE_CONNECT_TIMEOUT: "1s",
  };
  const t = await startTestService(env, viaProxy.toString());
  const config = loadConfig({ DATABASE_URL: viaProxy.toString(), ...TEST_TOKENS_ENV, ...env });
  const failWithinMs = config.databaseConnectTimeoutSeconds * 1000;
  const readyz = async () => (await fetch(`http://127.0.0.1:${t.service.httpPort}/readyz`)).status;
  // The worker's warnings and errors, kept: how the test sees that the outage reached the worker too.
  const workerLines: string[] = [];
  const workerLog = pino({ level: "warn", base: undefined }, { write: (line: string) => workerLines.push(line) });
  const worker = await startWorker(config, viaProxy.toString(), workerLog);
  const clients = [createClient(MediaService, grpcTransport(t.service.grpcPort)), t.media];
  try {
    // Load on both ports: each loop creates and reads media until told to stop. Each phase
    // ends once what it is about has been seen on both ports, not after a set time.
    let phase: "before" | "down" | "after" | "stop" = "before";
    const LOOPS = 6;
    const slowFailures: number[] = [];
    const wrongCodes: string[] = [];
    // Per port (loop i uses clients[i % 2]): calls that succeeded before the cut, failed during
    // it, and succeeded again after it, each counted only for calls started in that phase.
    const okBefore = [0, 0];
    const failedDown = [0, 0];
    const okAfter = [0, 0];
    let n = 0;
    const loops = Array.from({ length: LOOPS }, (_, i) =>
      (async () => {
        const client = clients[i % 2]!;
        while (phase !== "stop") {
          const started = performance.now();
          const observedIn = phase;
          try {
            const { media } = await client.createMedia({ store: "default", key: `load/${i}/${n++}` });
            await client.getMedia({ id: media!.id });
            if (observedIn === "before") okBefore[i % 2]!++;
            if (observedIn === "after") okAfter[i % 2]!++;
          } catch (error) {
            const e = ConnectError.from(error);
            if (e.code !== Code.Unavailable) wrongCodes.push(`${Code[e.code]}: ${e.rawMessage}`);
            if (performance.now() - started > failWithinMs) slowFailures.push(performance.now() - started);
            if (observedIn === "down") failedDown[i % 2]!++;
            await new Promise((r) => setTimeout(r, 20)); // a failing loop's pause between calls: load, not a wait
          }
        }
      })(),
    );
    const counts = async () => JSON.stringify({ okBefore, failedDown, okAfter, wrongCodes });
    await waitFor(() => okBefore.every((c) => c >= LOOPS), "calls to succeed on both ports under load", 15_000, counts);
    const workerLinesBeforeCut = workerLines.length;
    await proxy.cut();
    phase = "down";
    await waitFor(
      () => failedDown.every((c) => c > 5),
      "calls on both ports to fail during the outage",
      15_000,
      counts,
    );
    await waitFor(() => workerLines.length > workerLinesBeforeCut, "the worker to report losing the database");
    await waitFor(async () => (await readyz()) === 503, "/readyz to report the database unreachable");
    await proxy.restore();
    phase = "after";
    await waitFor(() => okAfter.every((c) => c >= LOOPS), "calls on both ports to succeed again", 15_000, counts);
    phase = "stop";
    await Promise.all(loops);

    assert.deepEqual(wrongCodes, [], "every failed call is UNAVAILABLE");
    assert.deepEqual(slowFailures, [], `every failure answered within DATABASE_CONNECT_TIMEOUT (${failWithinMs} ms)`);

    // Everything works again, without restarting anything: calls, readiness, and deletion jobs.
    for (const client of clients) await client.createMedia({ store: "default", key: `after/${Math.random()}` });
    // /readyz reuses one database check for a second, so the last one may predate the restore.
    await waitFor(async () => (await readyz()) === 200, "/readyz to report ready again");
    await mkdir(path.join(root, "gone"), { recursive: true });
    await writeFile(path.join(root, "gone/a.txt"), "x");
    const { media } = await t.media.createMedia({ store: "default", key: "gone/a.txt" });
    await t.media.linkMedia({ mediaId: media!.id, owner: "o" });
    await t.media.unlinkMedia({ mediaId: media!.id, owner: "o" });
    await t.admin.runSweep({});
    await waitFor(
      async () => !existsSync(path.join(root, "gone/a.txt")),
      "the worker to delete the orphan after the outage",
    );
  } finally {
    await worker.stop();
    await t.stop();
    await proxy.close();
    await rm(root, { recursive: true, force: true });
  }
});
