import assert from "node:assert/strict";
import { once } from "node:events";
import net from "node:net";
import { after, test } from "node:test";
import { createTestDatabase, killAllProcesses, TEST_ADMIN_TOKEN, TEST_SERVICE_TOKEN } from "@media/server/testing";
import { spawnWorker } from "../testing/worker-process.ts";

// `npm run worker` alone: /healthz, /readyz and /metrics on METRICS_PORT, with the HTTP port's token rules.

after(() => killAllProcesses());

test("a worker alone serves probes and metrics on METRICS_PORT, and stops cleanly on SIGTERM", async () => {
  // METRICS_PORT=0 turns the listener off, so borrow a free port.
  const free = net.createServer().listen(0, "127.0.0.1");
  await once(free, "listening");
  const freePort = (free.address() as net.AddressInfo).port;
  await new Promise((resolve) => free.close(resolve));
  const worker = await spawnWorker({ DATABASE_URL: await createTestDatabase(), METRICS_PORT: String(freePort) });
  const port = worker.startup.ports.probes;
  assert.equal(port, freePort, worker.output());
  assert.equal(worker.startup.role, "worker");
  const url = (path: string) => `http://127.0.0.1:${port}${path}`;
  const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });

  assert.equal((await fetch(url("/healthz"))).status, 200);
  const ready = await fetch(url("/readyz"));
  assert.equal(ready.status, 200, await ready.clone().text());
  assert.equal(((await ready.json()) as { migrations: string }).migrations, "current");
  assert.equal((await fetch(url("/metrics"))).status, 401);
  assert.equal((await fetch(url("/metrics"), bearer(TEST_SERVICE_TOKEN))).status, 403);
  const metrics = await fetch(url("/metrics"), bearer(TEST_ADMIN_TOKEN));
  assert.equal(metrics.status, 200);
  assert.match(await metrics.text(), /^media_deleted_files_total\{store="default"\} 0$/m);
  // No dashboard and no previews here.
  assert.equal((await fetch(url("/"))).status, 404);
  assert.equal((await fetch(url("/preview/1"), bearer(TEST_ADMIN_TOKEN))).status, 404);

  worker.child.kill("SIGTERM");
  assert.equal(await worker.exited, 0);
});
