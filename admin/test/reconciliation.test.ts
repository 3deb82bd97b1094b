import assert from "node:assert/strict";
import { mkdir, unlink, utimes, writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { TEST_ADMIN_TOKEN } from "@media/server/testing";
import { type DeletionHarness, startDeletionHarness, waitFor } from "@media/worker/testing";
import type { Browser, Page } from "playwright-core";
import { launchBrowser, signIn } from "./browser.ts";

// Storage reconciliation in the dashboard: the Reconciliation page starts a run on the harness's
// disk store, follows its progress, shows its findings (filtered), and adopts the untracked files
// after the blast-radius confirmation; the media browser's "file missing" filter and the detail
// page show the media the run flagged. Files are back-dated, never waited for.

let h: DeletionHarness;
let browser: Browser;
let page: Page;
let base: string;
let goneId: bigint;

const DAY_AGO = new Date(Date.now() - 86_400_000);
const text = async (testId: string) => ((await page.getByTestId(testId).first().textContent()) ?? "").trim();

before(async () => {
  // A blast-radius limit of 2: adopting the 3 untracked files needs the second confirmation.
  h = await startDeletionHarness({ BLAST_RADIUS_LIMIT: "2", SWEEP_SCHEDULE: "0 0 1 1 *" });
  for (const name of ["a.png", "b.png", "c.png"]) {
    const file = path.join(h.diskRoot, "rec/new", name);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, "untracked");
    await utimes(file, DAY_AGO, DAY_AGO);
  }
  const keep = await h.put("default", "rec/keep.png");
  await utimes(path.join(h.diskRoot, "rec/keep.png"), DAY_AGO, DAY_AGO);
  goneId = await h.put("default", "rec/gone.png");
  await unlink(path.join(h.diskRoot, "rec/gone.png"));
  await h.t.sql.query("UPDATE media SET create_time = now() - interval '1 day' WHERE id = ANY($1::bigint[])", [
    [String(keep), String(goneId)],
  ]);

  browser = await launchBrowser();
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: "en-GB" });
  page = await context.newPage();
  base = `http://127.0.0.1:${h.t.service.httpPort}`;
  await page.goto(`${base}/reconciliation`);
  await signIn(page, TEST_ADMIN_TOKEN);
});

after(async () => {
  await browser?.close();
  await h?.stop();
});

describe("reconciliation page", () => {
  test("starts a run and shows its progress until it succeeds", async () => {
    await page.getByRole("link", { name: "Reconciliation" }).click();
    await page.getByTestId("rec-prefix").fill("rec/");
    await page.getByTestId("rec-start").click();
    await page.getByTestId("reconciliation-row").first().waitFor();
    await waitFor(async () => (await text("reconciliation-state")) === "SUCCEEDED", "the run to succeed in the page");
    assert.match(await text("untracked-count"), /^3 /);
    assert.equal(await text("missing-count"), "1");
    assert.equal(await text("objects-scanned"), "4");
  });

  test("lists the run's findings, filtered by kind", async () => {
    await page.getByTestId("reconciliation-row").first().getByRole("link").click();
    await page.getByTestId("finding-row").first().waitFor();
    assert.equal(await page.getByTestId("finding-row").count(), 4);
    await page.getByTestId("finding-kind").selectOption({ label: "Missing" });
    await page.getByTestId("findings").getByRole("button", { name: "Apply" }).click();
    await waitFor(async () => (await page.getByTestId("finding-row").count()) === 1, "only the missing finding");
    assert.equal(await page.getByTestId("finding-row").getAttribute("data-key"), "rec/gone.png");
  });

  test("adopts the untracked files after counting them and confirming past the blast-radius limit", async () => {
    await page.getByTestId("apply-count").click();
    assert.equal(await text("apply-open-count"), "3");
    await page.getByTestId("apply-confirm").click();
    await page.getByTestId("apply-limit").waitFor();
    assert.equal(await text("apply-confirm"), "Yes, adopt all of them");
    const { rows: before } = await h.t.sql.query(
      "SELECT count(*)::int AS n FROM media WHERE labels ? 'reconciliation'",
    );
    assert.equal(before[0].n, 0, "nothing adopted before the second confirmation");
    await page.getByTestId("apply-confirm").click();
    await page.getByTestId("apply-result").waitFor();
    assert.match(await text("apply-result"), /^3 adopted, 0 skipped/);
    const { rows } = await h.t.sql.query("SELECT key, state FROM media WHERE labels ? 'reconciliation' ORDER BY key");
    assert.deepEqual(rows, [
      { key: "rec/new/a.png", state: "PENDING" },
      { key: "rec/new/b.png", state: "PENDING" },
      { key: "rec/new/c.png", state: "PENDING" },
    ]);
    await waitFor(async () => (await text("adopted-count")) === "3", "the adopted count in the runs table");
  });

  test("the media browser filters media whose file is missing, and the detail page says since when", async () => {
    await page.goto(`${base}/media`);
    await page.getByTestId("media-row").first().waitFor();
    assert.ok((await page.getByTestId("media-row").count()) > 1);
    await page.getByTestId("missing-filter").check();
    await page.getByRole("button", { name: "Apply" }).click();
    await waitFor(async () => (await page.getByTestId("media-row").count()) === 1, "only the flagged media");
    assert.match(page.url(), /missing=1/);
    assert.equal(await page.getByTestId("media-row").getAttribute("data-id"), goneId.toString());
    await page.goto(`${base}/media/${goneId}`);
    await page.getByTestId("field-file-missing-time").waitFor();
    assert.match(await text("field-file-missing-time"), /missing/);
    // The timeline names the flag, with who started the run and which run it was.
    const flagged = page.locator("[data-testid=event][data-type=FILE_MISSING]");
    await flagged.waitFor();
    assert.match((await flagged.textContent()) ?? "", /File missing.*by test-admin.*reconciliation \d+/);
  });
});
