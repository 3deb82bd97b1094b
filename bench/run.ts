// `npm run bench [core|deletion|disk|s3|claim|list|flood|unlink-owner|footprint|attestation|feed|reconcile ...]`: runs the named suites (all by
// default), one after another, each in its own process.
import { spawnSync } from "node:child_process";
import path from "node:path";

const SUITES = [
  "core",
  "deletion",
  "disk",
  "s3",
  "claim",
  "list",
  "flood",
  "unlink-owner",
  "footprint",
  "stats",
  "attestation",
  "feed",
  "reconcile",
];
const chosen = process.argv.length > 2 ? process.argv.slice(2) : SUITES;
for (const suite of chosen) {
  if (!SUITES.includes(suite)) {
    process.stderr.write(`unknown suite "${suite}"; known: ${SUITES.join(", ")}\n`);
    process.exit(2);
  }
  process.stdout.write(`\n=== bench: ${suite} ===\n`);
  const result = spawnSync(process.execPath, [path.join(import.meta.dirname, `${suite}.ts`)], {
    stdio: "inherit",
  });
  if (result.status !== 0) process.exit(result.status ?? 1);
}
