// The server's Prometheus series, read back from metrics.text() the way a scrape
// reads them: the lifecycle gauges' cache and their behaviour when the database
// cannot be read, and the RPC series. The worker's counters, and the gauges
// after real deletions, are in worker/test/metrics.test.ts.
import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, test } from "node:test";
import { Code } from "@connectrpc/connect";
import { pino } from "pino";
import { buildInfo } from "../src/build-info.ts";
import { connectDatabase } from "../src/db/connect.ts";
import { createMetrics, type Metrics, registerLifecycleGauges, rpcCodeName } from "../src/metrics/index.ts";
import { metricSample, metricValue } from "../testing/prometheus.ts";
import { startTestService, type TestService, waitFor } from "../testing/support.ts";

const STATES = ["PENDING", "LINKED", "ORPHANED", "DELETING", "FAILED"] as const;

const metrics: Metrics = createMetrics({ defaultMetrics: false });
let t: TestService;

before(async () => {
  // A fresh read on every scrape of the service's own gauges, so assertions see the database as it is.
  t = await startTestService({ METRICS_REFRESH: "0s" }, undefined, metrics);
});
after(() => t.stop());

describe("metrics", () => {
  test("lifecycle gauges reuse one read for the TTL, shared by concurrent scrapes", async () => {
    const { pool } = connectDatabase({ url: t.databaseUrl, poolSize: 2 });
    let reads = 0;
    pool.on("acquire", () => reads++);
    try {
      const cached = createMetrics({ defaultMetrics: false });
      registerLifecycleGauges(cached, pool, { ttlMs: 60_000 });
      const texts = await Promise.all([cached.text(), cached.text(), cached.text()]);
      assert.equal(reads, 1, "three concurrent scrapes, one read");
      const pending = metricValue(texts[0]!, "media_files", { state: "PENDING" });
      for (const text of texts) assert.equal(metricValue(text, "media_files", { state: "PENDING" }), pending);

      await t.media.createMedia({ store: "default", key: "c/new-pending.jpg", sizeBytes: 1n });
      const later = await cached.text();
      assert.equal(reads, 1, "within the TTL, no new read");
      assert.equal(metricValue(later, "media_files", { state: "PENDING" }), pending);
      assert.equal(metricValue(await metrics.text(), "media_files", { state: "PENDING" }), pending + 1);
    } finally {
      await pool.end();
    }
  });

  test("when the database cannot be read, a scrape answers at once with the last values, marked stale", async () => {
    const { pool } = connectDatabase({ url: t.databaseUrl, poolSize: 1 });
    const m = createMetrics({ defaultMetrics: false });
    // Long, so that answering sooner shows the scrape did not wait for it.
    const scrapeWaitMs = 5000;
    registerLifecycleGauges(m, pool, { ttlMs: 0, scrapeWaitMs });
    const good = await m.text();
    assert.equal(metricValue(good, "media_lifecycle_metrics_stale"), 0);
    await pool.end(); // every later read fails
    const started = performance.now();
    const bad = await m.text();
    assert.ok(performance.now() - started < scrapeWaitMs, `the scrape took ${performance.now() - started} ms`);
    assert.equal(metricValue(bad, "media_lifecycle_metrics_stale"), 1);
    for (const state of STATES) {
      assert.equal(metricValue(bad, "media_files", { state }), metricValue(good, "media_files", { state }));
      assert.equal(metricValue(bad, "media_bytes", { state }), metricValue(good, "media_bytes", { state }));
    }
    assert.equal(metricValue(bad, "media_deletions_paused"), metricValue(good, "media_deletions_paused"));

    // A database that accepts connections and never answers: the scrape waits scrapeWaitMs, not the read,
    // which goes on until the pool's connect timeout ends it.
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((socket) => {
      sockets.add(socket);
      socket.on("error", () => {});
    });
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const port = (silent.address() as net.AddressInfo).port;
    const connectTimeoutMs = 2000;
    const { pool: hung } = connectDatabase({ url: `postgres://x@127.0.0.1:${port}/x`, poolSize: 1, connectTimeoutMs });
    const logged: string[] = [];
    const log = pino(
      { level: "warn", base: undefined },
      { write: (line: string) => logged.push(JSON.parse(line).msg) },
    );
    try {
      const never = createMetrics({ defaultMetrics: false });
      registerLifecycleGauges(never, hung, { ttlMs: 0, scrapeWaitMs: 200, log });
      const t0 = performance.now();
      const text = await never.text();
      const took = performance.now() - t0;
      assert.ok(took < connectTimeoutMs, `the scrape took ${took} ms`);
      assert.equal(logged.length, 0, "the scrape answered while the read was still running");
      assert.equal(metricValue(text, "media_lifecycle_metrics_stale"), 1);
      assert.equal(metricSample(text, "media_files", { state: "PENDING" }), undefined, "no values before a first read");
      // The read ends at the connect timeout, and says so.
      await waitFor(
        () => logged.some((msg) => msg.startsWith("lifecycle metrics: reading the database failed")),
        "the read to fail at the connect timeout",
        connectTimeoutMs + 5000,
        async () => JSON.stringify(logged),
      );
    } finally {
      await hung.end();
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  test("RPC series by method and code, and the process's default series", async () => {
    const m = createMetrics();
    m.observeRpc("media.v1.MediaService/GetMedia", rpcCodeName(undefined), 0.003);
    m.observeRpc("media.v1.MediaService/GetMedia", rpcCodeName(Code.NotFound), 0.02);
    m.observeRpc("media.v1.MediaService/GetMedia", rpcCodeName(Code.NotFound), 4);
    const text = await m.text();
    const method = "media.v1.MediaService/GetMedia";
    assert.equal(metricValue(text, "media_rpc_requests_total", { method, code: "ok" }), 1);
    assert.equal(metricValue(text, "media_rpc_requests_total", { method, code: "not_found" }), 2);
    assert.equal(metricValue(text, "media_rpc_duration_seconds_bucket", { method, le: "0.001" }), 0);
    assert.equal(metricValue(text, "media_rpc_duration_seconds_bucket", { method, le: "0.005" }), 1);
    assert.equal(metricValue(text, "media_rpc_duration_seconds_bucket", { method, le: "0.025" }), 2);
    assert.equal(metricValue(text, "media_rpc_duration_seconds_bucket", { method, le: "10" }), 3);
    assert.equal(metricValue(text, "media_rpc_duration_seconds_count", { method }), 3);
    assert.equal(rpcCodeName(Code.Unauthenticated), "unauthenticated");
    assert.equal(rpcCodeName(Code.FailedPrecondition), "failed_precondition");
    assert.equal(rpcCodeName(Code.Canceled), "canceled");
    assert.ok(metricValue(text, "process_cpu_user_seconds_total") >= 0);
    assert.ok(metricValue(text, "nodejs_eventloop_lag_seconds") >= 0);
    assert.ok(metricValue(text, "process_resident_memory_bytes") > 0);
    assert.match(m.contentType, /^text\/plain; version=0\.0\.4/);
    // prom-client's gauges named like counters are left out (promtool refuses them); their by-type gauges stay.
    assert.doesNotMatch(text, /^# TYPE nodejs_active_(handles|requests|resources)_total /m);
    assert.match(text, /^# TYPE nodejs_active_handles gauge$/m);
  });

  test("media_build_info: 1, labelled with the version, Node.js and the commit when it is known", async () => {
    const build = buildInfo();
    const labels = {
      version: build.version,
      node_version: process.version,
      ...(build.commit === undefined ? {} : { commit: build.commit }),
    };
    assert.equal(metricValue(await createMetrics().text(), "media_build_info", labels), 1);
    const known = createMetrics({
      defaultMetrics: false,
      buildInfo: { version: "1.2.3", node: "v24.0.0", commit: "0123abc" },
    });
    const text = await known.text();
    assert.equal(
      metricValue(text, "media_build_info", { version: "1.2.3", node_version: "v24.0.0", commit: "0123abc" }),
      1,
    );
    const unknown = createMetrics({
      defaultMetrics: false,
      buildInfo: { version: "unknown", node: "v24.0.0", commit: undefined },
    });
    assert.equal(
      metricValue(await unknown.text(), "media_build_info", { version: "unknown", node_version: "v24.0.0" }),
      1,
    );
  });
});
