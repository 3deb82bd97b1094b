// Plumbing shared by the benchmark scripts: an embedded PostgreSQL in a temp
// folder (or BENCH_DATABASE_URL), migrated, and small measurement helpers.
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { connectDatabase, migrateToLatest, startEmbeddedPostgres } from "@media/server/db";

export const root = path.resolve(import.meta.dirname, "..");
export const log = (line: string) => process.stdout.write(`${line}\n`);

/** The one token benchmarks run with: admin scope, and no rate limit, which would cap what they measure. */
export const BENCH_TOKEN = "bench-admin-0123456789abcdef0123456789";
export const BENCH_AUTH_ENV = { AUTH_TOKENS: `bench:admin:${BENCH_TOKEN}`, RATE_LIMIT: "0" };

export interface BenchDatabase {
  readonly url: string;
  stop(): Promise<void>;
}

/** A fresh, migrated database: embedded unless BENCH_DATABASE_URL is set. */
export async function benchDatabase(name: string): Promise<BenchDatabase> {
  let url = process.env.BENCH_DATABASE_URL;
  let stop = async () => {};
  if (url === undefined) {
    const dir = await mkdtemp(path.join(tmpdir(), "media-bench-"));
    const embedded = await startEmbeddedPostgres({ dataDir: dir, port: 20000 + Math.floor(Math.random() * 20000) });
    await embedded.ensureDatabase(name);
    url = embedded.urlFor(name);
    stop = async () => {
      await embedded.stop();
      await rm(dir, { recursive: true, force: true });
    };
  }
  const handle = connectDatabase({ url, poolSize: 2 });
  await migrateToLatest(handle.db);
  await handle.close();
  return { url, stop };
}

/** Peak resident set size of a process so far, in MiB (Linux VmHWM). */
export async function peakRssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8").catch(() => "");
  const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kb / 1024;
}

export const fmt = (n: number) => Math.round(n).toLocaleString("en");

/** The p-quantile (0 to 1) of values sorted ascending; 0 when there are none. */
export const percentile = (sorted: readonly number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;

/** The median of values, in any order; NaN when there are none. */
export const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
};
