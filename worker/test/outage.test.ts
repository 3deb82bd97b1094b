import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { MediaService } from "@media/proto/media/v1/media_service_pb";
import { loadConfig } from "@media/server/config";
import { createLogger } from "@media/server/logger";
import {
  createTestDatabase,
  grpcTransport,
  startTcpProxy,
  startTestService,
  TEST_TOKENS_ENV,
} from "@media/server/testing";
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
  const env = { STORES: `default=file:${root}`, GRACE_PERIOD: "0s", DELETE_RETRY_DELAY: "0s" };
  const t = await startTestService(env, viaProxy.toString());
  const config = loadConfig({ DATABASE_URL: viaProxy.toString(), ...TEST_TOKENS_ENV, ...env });
  const worker = await startWorker(config, viaProxy.toString(), createLogger("silent"));
  const clients = [createClient(MediaService, grpcTransport(t.service.grpcPort)), t.media];
  try {
    // Load on both ports: each loop creates and reads media until told to stop.
    let phase: "up" | "down" | "stop" = "up";
    const slowFailures: number[] = [];
    const wrongCodes: string[] = [];
    let failuresWhileDown = 0;
    let n = 0;
    const loops = Array.from({ length: 6 }, (_, i) =>
      (async () => {
        const client = clients[i % 2]!;
        while (phase !== "stop") {
          const started = performance.now();
          const observedIn = phase;
          try {
            const { media } = await client.createMedia({ store: "default", key: `load/${i}/${n++}` });
            await client.getMedia({ id: media!.id });
          } catch (error) {
            const e = ConnectError.from(error);
            if (e.code !== Code.Unavailable) wrongCodes.push(`${Code[e.code]}: ${e.rawMessage}`);
            if (performance.now() - started > 1000) slowFailures.push(performance.now() - started);
            if (observedIn === "down") failuresWhileDown++;
            await new Promise((r) => setTimeout(r, 20));
          }
        }
      })(),
    );
    await new Promise((r) => setTimeout(r, 500));
    await proxy.cut();
    phase = "down";
    await new Promise((r) => setTimeout(r, 2000));
    const readyWhileDown = await fetch(`http://127.0.0.1:${t.service.httpPort}/readyz`);
    assert.equal(readyWhileDown.status, 503);
    await proxy.restore();
    phase = "up";
    await new Promise((r) => setTimeout(r, 1500));
    phase = "stop";
    await Promise.all(loops);

    assert.deepEqual(wrongCodes, [], "every failed call is UNAVAILABLE");
    assert.deepEqual(slowFailures, [], "every failure answered within a second");
    assert.ok(failuresWhileDown > 10, `the outage was felt (${failuresWhileDown} failed calls)`);

    // Everything works again, without restarting anything: calls, readiness, and deletion jobs.
    for (const client of clients) await client.createMedia({ store: "default", key: `after/${Math.random()}` });
    assert.equal((await fetch(`http://127.0.0.1:${t.service.httpPort}/readyz`)).status, 200);
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
