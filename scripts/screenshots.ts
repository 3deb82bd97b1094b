// `npm run screenshots`: refreshes docs/screenshots/ from a throwaway service
// filled by `npm run seed:demo`: a temp data folder, the seed, the service
// (first without a worker, so the seeded overdue orphans stay visible; then
// with one, for the Jobs page after a sweep), Chromium.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Browser, Page } from "playwright-core";
import { launchBrowser, signIn } from "../admin/test/browser.ts";
import { ensureDashboardBuilt } from "./dashboard-build.ts";

const root = path.resolve(import.meta.dirname, "..");
const out = path.join(root, "docs", "screenshots");
const port = 20000 + Math.floor(Math.random() * 20000);
const env = {
  ...process.env,
  DATA_DIR: await mkdtemp(path.join(tmpdir(), "media-screenshots-")),
  EMBEDDED_POSTGRES_PORT: String(port),
  HTTP_PORT: String(port + 1),
  GRPC_PORT: String(port + 2),
  RUN_WORKER: "false",
  LOG_LEVEL: "warn",
};
const base = `http://127.0.0.1:${env.HTTP_PORT}`;

function run(args: string[], extraEnv: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, [...args], {
    cwd: root,
    env: { ...env, ...extraEnv },
    stdio: ["ignore", "inherit", "inherit"],
  });
}

async function waitForHealthy(service: ChildProcess): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (service.exitCode !== null) throw new Error("the service exited before it served");
    if (
      await fetch(`${base}/healthz`).then(
        (r) => r.ok,
        () => false,
      )
    )
      return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("the service did not come up within a minute");
}

/** Each main view: file name, path, and the element that says the data is on screen. */
const VIEWS = [
  ["overview", "/", "deletion-chart"],
  ["media", "/media?label=team%3Dblog", "media-row"],
  ["detail", "", "timeline"],
  ["failures", "/failures", "failure-row"],
  ["plan", "/plan?hours=168", "plan-count"],
] as const;

/** Stops a child and waits for it, whether or not it is still running. */
async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  await exited;
}

const save = (name: string) => {
  process.stdout.write(`saved docs/screenshots/${name}.png\n`);
  return path.join(out, `${name}.png`);
};

/** A signed-in page at the given viewport. */
async function signedIn(browser: Browser, viewport: { width: number; height: number }): Promise<Page> {
  const page = await browser.newPage({ viewport });
  // The service made this token on its first start in the throwaway data folder.
  await page.goto(base);
  await signIn(page, (await readFile(path.join(env.DATA_DIR, "admin-token"), "utf8")).trim());
  return page;
}

async function capture(): Promise<void> {
  const browser = await launchBrowser();
  try {
    await mkdir(out, { recursive: true });
    const page = await signedIn(browser, { width: 1280, height: 860 });
    for (const [name, route, ready] of VIEWS) {
      if (name === "detail") {
        // The first blog cover in the list: an image with references and a timeline.
        await page.goto(`${base}/media?prefix=demo%2Fblog%2Fposts%2F&order=oldest`);
        await page.getByTestId("media-row").first().getByRole("link").click();
        await page.getByTestId("preview").waitFor();
      } else {
        await page.goto(base + route);
      }
      await page.getByTestId(ready).first().waitFor();
      await page.waitForLoadState("networkidle");
      await page.screenshot({ path: save(name), fullPage: true });
    }
    await page.emulateMedia({ colorScheme: "dark" });
    await page.goto(`${base}/`);
    await page.getByTestId("deletion-chart").waitFor();
    await page.screenshot({ path: save("overview-dark"), fullPage: true });
    // A phone: the media browser's rows as cards, the first screen of it.
    const phone = await signedIn(browser, { width: 390, height: 844 });
    await phone.goto(`${base}/media?label=team%3Dblog`);
    await phone.getByTestId("media-row").first().waitFor();
    await phone.waitForLoadState("networkidle");
    await phone.screenshot({ path: save("phone-media") });
  } finally {
    await browser.close();
  }
}

/** The Jobs page after a sweep the page itself asked for, with the worker that ran it. */
async function captureJobs(): Promise<void> {
  const browser = await launchBrowser();
  try {
    const page = await signedIn(browser, { width: 1280, height: 860 });
    await page.goto(`${base}/jobs`);
    await page.getByTestId("worker").first().waitFor();
    await page.getByRole("button", { name: "Run sweep now" }).click();
    await page.getByTestId("sweep-job-id").waitFor();
    const job = ((await page.getByTestId("sweep-job-id").textContent()) ?? "").trim();
    const giveUp = Date.now() + 60_000;
    // The runs list shows the sweep once its worker has recorded it (Refresh reloads the lists).
    for (let found = false; !found; ) {
      if (Date.now() > giveUp) throw new Error(`the worker recorded no run of sweep job ${job} within a minute`);
      await page.getByRole("button", { name: "Refresh" }).click();
      found = await page
        .locator(`[data-testid="run"][data-job="${job}"]`)
        .first()
        .waitFor({ timeout: 2000 })
        .then(
          () => true,
          () => false,
        );
    }
    await page.waitForLoadState("networkidle");
    await page.screenshot({ path: save("jobs"), fullPage: true });
  } finally {
    await browser.close();
  }
}

ensureDashboardBuilt();
try {
  const seed = run(["scripts/seed-demo.ts"]);
  const seeded = await new Promise<number | null>((resolve) => seed.on("exit", resolve));
  if (seeded !== 0) throw new Error("npm run seed:demo failed (see above)");
  const service = run(["worker/src/main.ts"]);
  try {
    await waitForHealthy(service);
    await capture();
  } finally {
    await stop(service);
  }
  const withWorker = run(["worker/src/main.ts"], { RUN_WORKER: "true" });
  try {
    await waitForHealthy(withWorker);
    await captureJobs();
  } finally {
    await stop(withWorker);
  }
} finally {
  await rm(env.DATA_DIR, { recursive: true, force: true });
}
