// Builds the dashboard (admin/dist) when it is missing or older than its
// sources, so `npm start` and `npm test` always serve the current UI without
// rebuilding on every run. `npm run build` rebuilds unconditionally.
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "..");
const admin = path.join(root, "admin");
const builtIndex = path.join(admin, "dist", "index.html");
const SOURCES = [
  path.join(admin, "src"),
  path.join(admin, "index.html"),
  path.join(admin, "vite.config.ts"),
  path.join(admin, "package.json"),
  path.join(root, "proto", "gen"),
];

/** Newest modification time under a file or folder (0 when it does not exist). */
function newestMtime(target: string): number {
  let stats: ReturnType<typeof statSync>;
  try {
    stats = statSync(target);
  } catch {
    return 0;
  }
  if (!stats.isDirectory()) return stats.mtimeMs;
  return readdirSync(target).reduce((newest, entry) => Math.max(newest, newestMtime(path.join(target, entry))), 0);
}

function dashboardIsStale(): boolean {
  const built = newestMtime(builtIndex);
  return built === 0 || SOURCES.some((source) => newestMtime(source) > built);
}

/** Runs the Vite build; throws with a hint when it fails. */
function buildDashboard(): void {
  process.stdout.write("building the dashboard (admin/dist)...\n");
  const result = spawnSync("npm", ["run", "build", "--silent", "-w", "admin"], { cwd: root, stdio: "inherit" });
  if (result.status !== 0) {
    throw new Error("the dashboard build failed (see above); fix it, or run `npm install` if Vite is missing");
  }
}

/** Builds when stale; a service pointed at another build (DASHBOARD_DIR) needs none from here. */
export function ensureDashboardBuilt(): void {
  if (process.env.DASHBOARD_DIR !== undefined && process.env.DASHBOARD_DIR !== "") return;
  if (dashboardIsStale()) buildDashboard();
}

if (import.meta.filename === process.argv[1]) {
  try {
    if (process.argv.includes("--if-stale")) ensureDashboardBuilt();
    else buildDashboard();
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    process.exit(1);
  }
}
