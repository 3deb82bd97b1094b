// `promtool check metrics` (Prometheus's own linter) on a live /metrics: the
// API's HTTP port and a worker alone's METRICS_PORT. It must be installed
// (Debian's prometheus package, as .ci/run installs it): without it the test
// fails, naming the package, rather than skipping.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import net from "node:net";
import { after, before, describe, test } from "node:test";
import { connectDatabase } from "@media/server/db";
import { requestSweep } from "@media/server/deletion";
import {
  createTestDatabase,
  killAllProcesses,
  metricValue,
  startTestService,
  TEST_ADMIN_TOKEN,
  type TestService,
  waitFor,
} from "@media/server/testing";
import { spawnWorker } from "../testing/worker-process.ts";

const PROMTOOL = process.env.PROMTOOL ?? "promtool";

interface PromtoolResult {
  readonly code: number | null;
  readonly output: string;
}

/** Runs `promtool check metrics` with the exposition on its stdin (it reads nothing else). */
function promtoolCheck(exposition: string): Promise<PromtoolResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(PROMTOOL, ["check", "metrics"], { stdio: ["pipe", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once("error", (error: NodeJS.ErrnoException) =>
      reject(
        error.code === "ENOENT"
          ? new Error(
              `${PROMTOOL} not found: install Debian's prometheus package (apt-get install prometheus), which .ci/run installs, or set PROMTOOL to its path`,
            )
          : error,
      ),
    );
    child.once("close", (code) => resolve({ code, output }));
    child.stdin.on("error", () => {}); // a promtool that exits early closes its stdin; its exit code says why
    child.stdin.end(exposition);
  });
}

async function scrape(port: number): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`, {
    headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` },
  });
  const text = await response.text();
  assert.equal(response.status, 200, text);
  return text;
}

async function assertPromtoolPasses(exposition: string): Promise<void> {
  const { code, output } = await promtoolCheck(exposition);
  assert.equal(code, 0, `promtool check metrics failed (exit ${code}):\n${output}`);
}

/** The series every process exposes, whatever its role. */
function assertProcessSeries(text: string): void {
  assert.match(text, /^media_build_info\{version="[^"]+",node_version="v\d+\.\d+\.\d+"(,commit="[^"]+")?\} 1$/m);
  assert.match(text, /^nodejs_active_handles\{type="[A-Za-z]+"\} \d+$/m, "the by-type handle gauge stays");
  assert.doesNotMatch(text, /^nodejs_active_(handles|requests|resources)_total/m);
}

after(() => killAllProcesses());

describe("promtool check metrics", () => {
  test("promtool is installed (Debian's prometheus package)", async () => {
    // Without it, this and every test below fail with the same message naming the package.
    assert.equal((await promtoolCheck("")).code, 0);
  });

  describe("the API's /metrics", () => {
    let t: TestService;
    before(async () => {
      t = await startTestService({ METRICS_REFRESH: "0s" });
    });
    after(() => t?.stop());

    test("passes after some calls (RPC series, lifecycle gauges, default series)", async () => {
      const { media } = await t.media.createMedia({ store: "default", key: "promtool/a.jpg", sizeBytes: 10n });
      await t.media.linkMedia({ mediaId: media!.id, owner: "posts/1" });
      await t.media.getMedia({ id: media!.id });
      await t.media.getMedia({ id: 987_654n }).catch(() => {}); // a not_found code too
      const text = await scrape(t.service.httpPort);
      assert.equal(metricValue(text, "media_files", { state: "LINKED" }), 1);
      assertProcessSeries(text);
      await assertPromtoolPasses(text);
    });
  });

  test("a worker alone's /metrics passes, after a sweep", async () => {
    const free = net.createServer().listen(0, "127.0.0.1");
    await once(free, "listening");
    const port = (free.address() as net.AddressInfo).port;
    await new Promise((resolve) => free.close(resolve));
    const databaseUrl = await createTestDatabase();
    const worker = await spawnWorker({ DATABASE_URL: databaseUrl, METRICS_PORT: String(port) });
    assert.equal(worker.startup.ports.probes, port, worker.output());
    const { pool } = connectDatabase({ url: databaseUrl, poolSize: 1 });
    try {
      // A sweep, so that the sweep histogram has samples too.
      assert.ok(await requestSweep(pool), "the worker made its job queue");
      let text = "";
      await waitFor(
        async () => {
          text = await scrape(port);
          return metricValue(text, "media_sweep_duration_seconds_count") >= 1;
        },
        "the worker to run the sweep",
        15_000,
        async () => text,
      );
      assert.equal(metricValue(text, "media_deleted_files_total", { store: "default" }), 0);
      assertProcessSeries(text);
      await assertPromtoolPasses(text);
    } finally {
      await pool.end();
      worker.child.kill("SIGTERM");
      assert.equal(await worker.exited, 0, worker.output());
    }
  });

  test("promtool itself refuses a gauge named like a counter (what this suite guards against)", async () => {
    const { code, output } = await promtoolCheck(
      "# HELP nodejs_active_handles_total Total number of active handles.\n" +
        "# TYPE nodejs_active_handles_total gauge\nnodejs_active_handles_total 3\n",
    );
    assert.notEqual(code, 0);
    assert.match(output, /non-counter metrics should not have "_total" suffix/);
  });
});
