import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { startEmbeddedPostgres } from "../src/db/embedded.ts";
import { freePort } from "../testing/support.ts";

// `npm run seed:demo` as a newcomer runs it: beside a service whose embedded
// PostgreSQL listens on a port other than the default, with nothing telling the
// seed which one.

const root = path.resolve(import.meta.dirname, "../..");

// After "done" the seed only ends its pool (and stops the PostgreSQL it started, if any): milliseconds.
// A pool left open holds the process until its idle connections time out, the pools'
// idleTimeoutMillis of 30 s (server/src/db/connect.ts), which is the bug this guards against.
// 5 s is a sixth of that, and leaves a loaded two-core machine room for a fast PostgreSQL shutdown.
const EXIT_AFTER_DONE_MS = 5000;

/** Runs the seed; resolves with its output, exit code and how long it ran after printing "done". */
function runSeed(env: Record<string, string>, args: string[] = []) {
  const child = spawn(process.execPath, ["scripts/seed-demo.ts", ...args], {
    cwd: root,
    env: { ...process.env, DATABASE_URL: "", LOG_LEVEL: "warn", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  let doneAt: number | undefined;
  const onData = (chunk: Buffer) => {
    output += chunk.toString();
    if (doneAt === undefined && /^done in /m.test(output)) doneAt = performance.now();
  };
  child.stdout.on("data", onData);
  child.stderr.on("data", onData);
  return new Promise<{ output: string; code: number | null; afterDoneMs: number }>((resolve) => {
    child.on("exit", (code) =>
      resolve({ output, code, afterDoneMs: doneAt === undefined ? Number.NaN : performance.now() - doneAt }),
    );
  });
}

test("seed:demo finds a running embedded PostgreSQL on a non-default port, and exits promptly after done", async () => {
  const dataDir = await mkdtemp(path.join(tmpdir(), "seed-demo-"));
  const port = await freePort();
  // What `npm start` with EMBEDDED_POSTGRES_PORT set does first (server/src/process.ts resolveDatabase).
  const running = await startEmbeddedPostgres({ dataDir, port });
  let stopped = false;
  try {
    await running.ensureDatabase("media");
    // No EMBEDDED_POSTGRES_PORT for the seed (empty means unset: the default), as a newcomer runs it.
    const attached = await runSeed({ DATA_DIR: dataDir, EMBEDDED_POSTGRES_PORT: "" });
    assert.equal(attached.code, 0, attached.output);
    assert.match(attached.output, new RegExp(`the embedded PostgreSQL of the running service \\(port ${port}\\)`));
    assert.ok(attached.afterDoneMs < EXIT_AFTER_DONE_MS, `exited ${attached.afterDoneMs} ms after done`);

    await running.stop();
    stopped = true;
    // No service: the seed starts the embedded PostgreSQL itself on its own port, and stops it again.
    const alone = await runSeed({ DATA_DIR: dataDir, EMBEDDED_POSTGRES_PORT: String(await freePort()) }, ["--reset"]);
    assert.equal(alone.code, 0, alone.output);
    assert.match(alone.output, /no service runs on .*; starting its embedded PostgreSQL/);
    assert.ok(alone.afterDoneMs < EXIT_AFTER_DONE_MS, `exited ${alone.afterDoneMs} ms after done`);
  } finally {
    if (!stopped) await running.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
});
