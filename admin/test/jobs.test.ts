import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, test } from "node:test";
import { TEST_ADMIN_TOKEN } from "@media/server/testing";
import { type DeletionHarness, startDeletionHarness, waitFor } from "@media/worker/testing";
import type { Browser, Page } from "playwright-core";
import { launchBrowser, signIn } from "./browser.ts";

// The Jobs page, in Debian's Chromium against a real service and worker: the
// runs a sweep and its batch left, the worker's heartbeat, the next scheduled
// sweep, "Run sweep now" saying which job it queued, and the media list's
// store filter offering the configured stores.

let h: DeletionHarness;
let browser: Browser;
let page: Page;
let base: string;

async function dueFile(key: string): Promise<bigint> {
  const file = path.join(h.diskRoot, key);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, "bytes");
  const { media } = await h.t.media.createMedia({ store: "default", key, sizeBytes: 5n });
  assert.ok(media);
  await h.t.admin.deleteMediaNow({ mediaId: media.id });
  return media.id;
}

before(async () => {
  // Sweeps run only when asked: the schedule names midnight on January 1st.
  h = await startDeletionHarness({ SWEEP_SCHEDULE: "0 0 1 1 *" });
  await dueFile("jobs/one.png");
  await dueFile("jobs/two.png");
  await h.sweep();
  browser = await launchBrowser();
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  base = `http://127.0.0.1:${h.t.service.httpPort}`;
  await page.goto(`${base}/`);
  await signIn(page, TEST_ADMIN_TOKEN);
});

after(async () => {
  await browser?.close();
  await h?.stop();
});

test("the Jobs page shows the sweep and its batch, the worker and the next sweep", async () => {
  await page.getByRole("link", { name: "Jobs" }).click();
  await page.waitForURL(`${base}/jobs`);
  await page.getByTestId("run").first().waitFor();
  const sweep = page.locator("[data-testid=run][data-kind=sweep]").first();
  const batch = page.locator("[data-testid=run][data-kind=batch]").first();
  assert.match((await sweep.getByTestId("run-files").textContent()) ?? "", /2 claimed/);
  assert.match((await batch.getByTestId("run-files").textContent()) ?? "", /^\s*2\s*$/);
  assert.match((await batch.textContent()) ?? "", /10 B/);

  const [worker] = (await h.t.admin.listWorkers({})).workers;
  assert.ok(worker);
  const row = page.locator(`[data-testid=worker][data-worker="${worker.id}"]`);
  await row.waitFor();
  assert.match((await row.textContent()) ?? "", new RegExp(worker.host));
  assert.doesNotMatch((await row.textContent()) ?? "", /silent/);
  assert.match((await page.getByTestId("next-sweep").textContent()) ?? "", /0 0 1 1 \*/);
  assert.equal(await page.title(), "Jobs · Media lifecycle");
});

test("Run sweep now says which job it queued, and Refresh shows the run it left", async () => {
  await dueFile("jobs/three.png");
  await page.goto(`${base}/jobs`);
  await page.getByTestId("run").first().waitFor();
  await page.getByRole("button", { name: "Run sweep now" }).click();
  await page.getByTestId("sweep-queued").waitFor();
  const jobId = ((await page.getByTestId("sweep-job-id").textContent()) ?? "").trim();
  assert.match(jobId, /^[1-9][0-9]*$/);
  await waitFor(
    async () =>
      (await h.t.sql.query("SELECT 1 FROM deletion_runs WHERE kind = 'sweep' AND job_id = $1", [jobId])).rowCount === 1,
    "the queued sweep's run",
  );
  await page.getByRole("button", { name: "Refresh" }).click();
  const run = page.locator(`[data-testid=run][data-kind=sweep][data-job="${jobId}"]`);
  await run.waitFor();
  assert.match((await run.getByTestId("run-files").textContent()) ?? "", /1 claimed/);
});

test("the media list's store filter offers the configured stores", async () => {
  await page.goto(`${base}/media`);
  const select = page.getByTestId("store-filter");
  await select.waitFor();
  const options = await select.locator("option").evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value));
  assert.deepEqual(options, ["", "default", "s3"]);
  await select.selectOption("s3");
  await page.getByRole("button", { name: "Apply" }).click();
  await page.waitForURL(/store=s3/);
});
