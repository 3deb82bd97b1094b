// `npm test`: builds the dashboard if it is stale, starts one embedded
// PostgreSQL for the whole run (each test file creates its own database in
// it), runs every test file with node's test runner (the dashboard's browser
// tests last, on their own), and stops the server.
// Pass file paths to run only those.
import { spawn } from "node:child_process";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { startEmbeddedPostgres } from "@media/server/db";
import { ensureDashboardBuilt } from "./dashboard-build.ts";

const root = path.resolve(import.meta.dirname, "..");
const TEST_DIRS = ["server/test", "server/test/repository", "worker/test", "admin/test"];

async function testFiles(): Promise<string[]> {
  const files: string[] = [];
  for (const dir of TEST_DIRS) {
    const entries = await readdir(path.join(root, dir)).catch(() => []);
    files.push(...entries.filter((f) => f.endsWith(".test.ts")).map((f) => path.join(dir, f)));
  }
  return files.sort();
}

const files = process.argv.length > 2 ? process.argv.slice(2) : await testFiles();
const isBrowserTest = (file: string) => path.resolve(root, file).startsWith(path.join(root, "admin"));
// The dashboard's end-to-end tests drive the built UI that the server serves.
if (files.some(isBrowserTest)) ensureDashboardBuilt();
const dataDir = await mkdtemp(path.join(tmpdir(), "media-test-"));
const port = 20000 + Math.floor(Math.random() * 20000);
process.stdout.write(`starting embedded PostgreSQL for the tests (port ${port}, ${dataDir})\n`);
const postgres = await startEmbeddedPostgres({ dataDir, port });

function runTests(group: string[], concurrency: number): Promise<number> {
  if (group.length === 0) return Promise.resolve(0);
  return new Promise<number>((resolve) => {
    const child = spawn(process.execPath, ["--test", `--test-concurrency=${concurrency}`, ...group], {
      cwd: root,
      stdio: "inherit",
      env: { ...process.env, TEST_POSTGRES_URL: postgres.urlFor("postgres") },
    });
    child.on("exit", (exitCode, signal) => resolve(exitCode ?? (signal ? 1 : 0)));
  });
}

// Two files at a time, then the browser tests alone: Chromium takes a core of
// its own, and beside the timing-sensitive race and crash suites it starves them.
const serviceCode = await runTests(
  files.filter((file) => !isBrowserTest(file)),
  2,
);
const browserCode = await runTests(files.filter(isBrowserTest), 1);

await postgres.stop();
await rm(dataDir, { recursive: true, force: true });
process.exit(serviceCode !== 0 ? serviceCode : browserCode);
