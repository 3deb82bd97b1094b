import assert from "node:assert/strict";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { TEST_ADMIN_TOKEN } from "@media/server/testing";
import { type DeletionHarness, startDeletionHarness } from "@media/worker/testing";
import type { Browser, Page } from "playwright-core";
import { launchBrowser, signIn } from "./browser.ts";

// The dashboard on a phone (390 × 844, an iPhone 12 to 15): a full page of media with long keys
// must read as compact cards, not as a table whose key column breaks every few characters, and
// no page may be wider than the screen outside a scroll container.
//
// Measured at 390 px with this seed (50 rows of 108 to 128 character keys, a harder case than
// most stores' keys; 20 plan samples):
//   before (the table squeezed to the screen, keys broken every 2 or 3 characters):
//     media list 44,446 px, plan 18,094 px;
//   after (a card per row, keys broken at their "/"): media list 8,987 px, plan 3,936 px.
// The bounds leave about 12 to 15 % for fonts and wrapping to differ between machines, and
// fail long before anything like the old layout comes back.

const MEDIA_LIST_MAX = 10_000;
const PLAN_MAX = 4_500;
const ROWS = 50;

let h: DeletionHarness;
let browser: Browser;
let page: Page;
let base: string;
let failedId: bigint;
let longId: bigint;

/** A realistic long key: a tenant, a date path, a camera file name. */
const keyFor = (i: number) =>
  `tenants/acme-corporation-international/uploads/2026/12/${String((i % 28) + 1).padStart(2, "0")}/` +
  `${"originals/".repeat(i % 3)}IMG_20261203_101500_${String(i).padStart(4, "0")}_edited-final-version.jpeg`;

const scrollHeight = () => page.evaluate(() => document.documentElement.scrollHeight);

/** Elements that stick out past the right edge of the screen without a scroll container around them. */
async function overflowing(): Promise<string[]> {
  return page.evaluate(() => {
    const width = window.innerWidth;
    const out: string[] = [];
    for (const el of document.body.querySelectorAll<HTMLElement>("*")) {
      const rect = el.getBoundingClientRect();
      if (rect.width === 0 || rect.right <= width + 0.5) continue;
      // Inside a horizontally scrolling container the overflow is intended.
      let scroller: HTMLElement | null = el.parentElement;
      while (scroller && scroller !== document.body) {
        const style = getComputedStyle(scroller);
        if (style.overflowX === "auto" || style.overflowX === "scroll" || style.overflowX === "hidden") break;
        scroller = scroller.parentElement;
      }
      if (scroller && scroller !== document.body) continue;
      out.push(`${el.tagName.toLowerCase()}.${el.className} right=${Math.round(rect.right)}`);
    }
    return out.slice(0, 10);
  });
}

async function assertNoHorizontalOverflow(what: string) {
  const { scrollWidth, innerWidth } = await page.evaluate(() => ({
    scrollWidth: document.body.scrollWidth,
    innerWidth: window.innerWidth,
  }));
  const rootWidth = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(scrollWidth <= innerWidth, `${what}: body is ${scrollWidth} px wide on a ${innerWidth} px screen`);
  assert.ok(rootWidth <= innerWidth, `${what}: the page scrolls sideways (${rootWidth} px)`);
  assert.deepEqual(await overflowing(), [], `${what}: elements past the right edge`);
}

before(async () => {
  // DASHBOARD_DIR=<another build> measures that build instead (how the "before" heights were taken).
  const dashboard: Record<string, string> = process.env.DASHBOARD_DIR
    ? { DASHBOARD_DIR: process.env.DASHBOARD_DIR }
    : {};
  h = await startDeletionHarness({ DELETE_MAX_ATTEMPTS: "1", GRACE_PERIOD: "1h", ...dashboard });
  for (let i = 0; i < ROWS; i++) {
    const { media } = await h.t.media.createMedia({ store: "default", key: keyFor(i), sizeBytes: 1_234_567n });
    assert.ok(media);
  }
  // One key with a segment longer than the screen: it must still wrap, not widen the page.
  const long = await h.t.media.createMedia({ store: "default", key: `uploads/${"x".repeat(140)}.png`, sizeBytes: 1n });
  assert.ok(long.media);
  longId = long.media.id;
  // A folder where the file should be: the one allowed attempt fails and the media is FAILED.
  const key = "broken/tenants/acme-corporation-international/a-long-folder-name/stuck-upload.png";
  const failed = await h.t.media.createMedia({ store: "default", key, sizeBytes: 1n });
  assert.ok(failed.media);
  failedId = failed.media.id;
  await mkdir(path.join(h.diskRoot, key, "inside"), { recursive: true });
  await h.t.admin.deleteMediaNow({ mediaId: failedId });
  await h.sweep();

  browser = await launchBrowser();
  page = await browser.newPage({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 1, isMobile: true });
  base = `http://127.0.0.1:${h.t.service.httpPort}`;
  await page.goto(`${base}/`);
  await signIn(page, TEST_ADMIN_TOKEN);
});

after(async () => {
  await browser?.close();
  await h?.stop();
});

describe("the dashboard on a 390 px phone", () => {
  test(`the media list with ${ROWS} long keys is compact and fits the screen`, async () => {
    await page.goto(`${base}/media`);
    await page.getByTestId("media-row").first().waitFor();
    assert.equal(await page.getByTestId("media-row").count(), ROWS);
    const height = await scrollHeight();
    process.stdout.write(`# media list at 390 px: ${height} px for ${ROWS} rows\n`);
    assert.ok(height <= MEDIA_LIST_MAX, `the media list is ${height} px tall (at most ${MEDIA_LIST_MAX})`);
    await assertNoHorizontalOverflow("media list");

    // Each row is a card no taller than a few lines, with its key, state, size and times readable.
    const row = page.getByTestId("media-row").nth(5);
    const box = await row.boundingBox();
    assert.ok(box && box.height <= 200, `a card is ${box?.height} px tall`);
    assert.ok(box && box.width <= 390, `a card is ${box?.width} px wide`);
    const textOf = ((await row.textContent()) ?? "").replace(/\s+/g, " ");
    assert.match(textOf, /PENDING/);
    assert.match(textOf, /1\.2 MiB/);
    for (const label of ["Store", "Size", "Created", "Deletes"]) {
      assert.equal(await row.locator(`[data-label=${label}]`).isVisible(), true, `${label} shows on the card`);
    }
    // The key breaks at its path separators, not every few characters: its lines are few.
    const keyCell = row.locator(".key");
    const keyBox = await keyCell.boundingBox();
    const lineHeight = await keyCell.evaluate((el) => Number.parseFloat(getComputedStyle(el).lineHeight) || 20);
    assert.ok(keyBox && keyBox.height / lineHeight <= 5, `the key takes ${keyBox && keyBox.height / lineHeight} lines`);
  });

  test("the deletion plan with 20 samples is compact and fits the screen", async () => {
    await page.goto(`${base}/plan?hours=48`);
    await page.getByTestId("plan-count").waitFor();
    assert.equal(await page.getByTestId("plan-samples").getByTestId("media-row").count(), 20);
    const height = await scrollHeight();
    process.stdout.write(`# plan at 390 px: ${height} px for 20 samples\n`);
    assert.ok(height <= PLAN_MAX, `the plan is ${height} px tall (at most ${PLAN_MAX})`);
    await assertNoHorizontalOverflow("plan");
  });

  test("the failures page and the detail page fit the screen", async () => {
    await page.goto(`${base}/failures`);
    await page.getByTestId("failure-row").first().waitFor();
    await assertNoHorizontalOverflow("failures");
    const row = page.getByTestId("failure-row").first();
    assert.ok(((await row.boundingBox())?.height ?? 0) <= 300, "a failure is a compact card");

    await page.goto(`${base}/media/${failedId}`);
    await page.getByTestId("field-key").waitFor();
    await page.getByTestId("timeline").getByTestId("event").first().waitFor();
    await assertNoHorizontalOverflow("detail");

    await page.goto(`${base}/media/${longId}`);
    await page.getByTestId("field-key").waitFor();
    await assertNoHorizontalOverflow("detail with a 150-character key segment");

    await page.goto(`${base}/`);
    await page.getByTestId("deletion-chart").waitFor();
    await assertNoHorizontalOverflow("overview");
  });
});
