import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { createClient } from "@connectrpc/connect";
import { MediaService } from "@media/proto/media/v1/media_service_pb";
import { connectDatabase, type DatabaseHandle } from "@media/server/db";
import {
  connectTransport,
  createTestDatabase,
  killAllProcesses,
  killProcess,
  type ServiceProcess,
  spawnServiceProcess,
  TEST_ADMIN_TOKEN,
} from "@media/server/testing";
import type { Browser, Page } from "playwright-core";
import { launchBrowser, signIn } from "./browser.ts";

// The service goes away under an open dashboard and comes back: `npm run server` as a real child
// process on a database that outlives it, restarted on the same HTTP port, the built dashboard in
// Chromium. One banner says the connection is lost, the last data stays on screen marked stale,
// controls stay but are disabled saying why, a page whose code cannot load says so, and when the
// service is back everything recovers without a reload.

let databaseUrl: string;
let dataDir: string;
let httpPort: number;
let service: ServiceProcess | undefined;
let db: DatabaseHandle;
let browser: Browser;
let base: string;
/** Errors no code caught, in any tab: an outage must raise none. */
const uncaught: string[] = [];

/** A port nothing listens on now, so a restarted service can be given the same one. */
const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });

async function startService(): Promise<void> {
  service = await spawnServiceProcess(["server/src/main.ts"], {
    DATABASE_URL: databaseUrl,
    DATA_DIR: dataDir,
    GRPC_PORT: "0",
    HTTP_PORT: String(httpPort),
  });
  assert.equal(service.startup.ports.http, httpPort, service.output());
}

const text = async (page: Page, testId: string) => ((await page.getByTestId(testId).textContent()) ?? "").trim();
const countIs = (page: Page, testId: string, value: string) =>
  page.waitForFunction(
    ([id, v]) => document.querySelector(`[data-testid=${id}]`)?.textContent?.trim() === v,
    [testId, value] as const,
    { timeout: 30_000 },
  );

async function openOverview(): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.on("pageerror", (err) => uncaught.push(err.message));
  await page.goto(`${base}/`);
  await signIn(page, TEST_ADMIN_TOKEN);
  await countIs(page, "state-count-PENDING", "2");
  return page;
}

before(async () => {
  databaseUrl = await createTestDatabase();
  dataDir = await mkdtemp(path.join(tmpdir(), "media-outage-"));
  httpPort = await freePort();
  await startService();
  db = connectDatabase({ url: databaseUrl, poolSize: 1 });
  const media = createClient(MediaService, connectTransport(httpPort));
  for (const key of ["outage/a.png", "outage/b.png"]) await media.createMedia({ store: "default", key });
  base = `http://127.0.0.1:${httpPort}`;
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await killAllProcesses();
  await db?.close();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

test("an outage: one banner, stale data, disabled controls, a page error; all recover without a reload", async () => {
  const page = await openOverview();
  // A second tab, also on the overview, that has not loaded the deletion plan's code.
  const other = await openOverview();
  await page.evaluate(() => {
    (window as unknown as { notReloaded: boolean }).notReloaded = true;
  });
  const pause = page.getByRole("button", { name: "Pause deletions" });
  assert.equal(await pause.isDisabled(), false);
  assert.equal(await page.getByTestId("connection-banner").count(), 0);

  assert.ok(service);
  await killProcess(service, "SIGKILL");
  service = undefined;

  // The tab that only looks at the overview notices by itself (the heartbeat), with one banner.
  const banner = page.getByTestId("connection-banner");
  await banner.waitFor({ timeout: 30_000 });
  assert.equal(await banner.count(), 1);
  assert.match((await banner.textContent()) ?? "", /Connection to the service lost, retrying/);
  assert.match(await text(page, "connection-lost-at"), /^Lost at \d{1,2}:\d{2}:\d{2}/);
  assert.match(await text(page, "connection-next-retry"), /next retry in \d+ s|retrying now/);

  // The old numbers stay, marked stale; no section shows a raw error of its own.
  assert.equal(await text(page, "state-count-PENDING"), "2");
  await page.locator(".async.stale [data-testid=state-count-PENDING]").waitFor();
  await page.getByTestId("stale").first().waitFor();
  assert.match((await page.getByTestId("stale").first().textContent()) ?? "", /^Stale since \d{1,2}:\d{2}/);
  assert.equal(await page.getByTestId("error").count(), 0);
  assert.equal(await page.getByText("Failed to fetch").count(), 0);

  // The pause control is still there, disabled, saying why.
  await page.waitForFunction(() =>
    [...document.querySelectorAll("button")].some((b) => b.textContent === "Pause deletions" && b.disabled),
  );
  assert.equal(await pause.isDisabled(), true);
  assert.match((await pause.getAttribute("title")) ?? "", /connection to the service is lost/);
  assert.match(await text(page, "controls-offline"), /connection to the service is lost/);
  assert.equal(await page.getByTestId("pause-reason").isDisabled(), true);

  // A page whose code was never loaded says it could not be, instead of nothing.
  await other.getByRole("link", { name: "Deletion plan" }).click();
  const pageError = other.getByTestId("page-error");
  await pageError.waitFor();
  assert.match((await pageError.textContent()) ?? "", /could not be loaded/);
  assert.equal(await pageError.getByRole("button", { name: "Reload" }).count(), 1);
  await other.getByTestId("connection-banner").waitFor();

  // Meanwhile the data changes: one more pending media.
  await db.pool.query("INSERT INTO media (store, key) VALUES ('default', 'outage/c.png')");

  await startService();

  // Back: the banner goes, the fresh numbers show, nothing is stale, the controls work again.
  await banner.waitFor({ state: "detached", timeout: 30_000 });
  await countIs(page, "state-count-PENDING", "3");
  await page.getByTestId("stale").waitFor({ state: "detached" });
  await page.waitForFunction(() =>
    [...document.querySelectorAll("button")].some((b) => b.textContent === "Pause deletions" && !b.disabled),
  );
  assert.equal(await pause.getAttribute("title"), null);
  assert.equal(await page.getByTestId("controls-offline").count(), 0);
  assert.equal(
    await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded),
    true,
    "the page was not reloaded",
  );

  // The other tab tries the page again by itself once the service answers.
  await other.getByTestId("connection-banner").waitFor({ state: "detached", timeout: 30_000 });
  await other.getByTestId("plan-count").waitFor({ timeout: 30_000 });
  assert.equal(await other.getByTestId("page-error").count(), 0);

  // And the controls act again: pausing reaches the restarted service.
  await page.getByTestId("pause-reason").fill("after the outage");
  await pause.click();
  await page.waitForFunction(() =>
    document.querySelector("[data-testid=deletion-status]")?.textContent?.startsWith("Paused"),
  );
  assert.match(await text(page, "deletion-status"), /^Paused: after the outage/);
  assert.deepEqual(uncaught, []);
});
