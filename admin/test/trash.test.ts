import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { MediaState } from "@media/proto/media/v1/media_pb";
import { TEST_ADMIN_TOKEN } from "@media/server/testing";
import { type DeletionHarness, startDeletionHarness, waitFor } from "@media/worker/testing";
import type { Browser, Page } from "playwright-core";
import { launchBrowser, signIn } from "./browser.ts";

// Issue "Recoverable deletion" in the dashboard: the Trash page lists what the worker moved to the
// trash and restores it (one, or all that match), the detail page erases with a typed id and shows
// the receipt, and the media browser counts what a bulk action would act on. The media reach the
// trash the real way: back-dated, then swept by the harness's worker.

let h: DeletionHarness;
let browser: Browser;
let page: Page;
let base: string;
let restoreId: bigint;
let takenId: bigint;
let bulkIds: bigint[];
let eraseId: bigint;

const text = async (testId: string) => ((await page.getByTestId(testId).first().textContent()) ?? "").trim();

async function stateOf(id: bigint): Promise<MediaState | undefined> {
  const { rows } = await h.t.sql.query("SELECT state FROM media WHERE id = $1", [id.toString()]);
  return rows[0] === undefined ? undefined : MediaState[rows[0].state as keyof typeof MediaState];
}

/** Makes the media due now and lets the worker move them to the trash. */
async function trash(ids: bigint[]): Promise<void> {
  await h.t.sql.query("UPDATE media SET delete_time = now() - interval '1 second' WHERE id = ANY($1::bigint[])", [
    ids.map(String),
  ]);
  await h.sweep();
  for (const id of ids) {
    await waitFor(async () => (await stateOf(id)) === MediaState.TRASHED, `media ${id} to be TRASHED`, 15_000);
  }
}

before(async () => {
  // A blast-radius limit of 2: restoring the 3 bulk/ media needs the second confirmation. Each sweep
  // below finds at most 2 due, so the deletion guard does not trip.
  h = await startDeletionHarness({ GRACE_PERIOD: "1h", TRASH_RETENTION: "7d", BLAST_RADIUS_LIMIT: "2" });
  restoreId = await h.put("default", "trash/restore-me.png");
  takenId = await h.put("default", "trash/taken.png");
  bulkIds = [
    await h.put("default", "bulk/1.png"),
    await h.put("default", "bulk/2.png"),
    await h.put("default", "bulk/3.png"),
  ];
  eraseId = await h.put("default", "erase/secret.png");
  await trash([restoreId, takenId]);
  await trash(bulkIds.slice(0, 2));
  await trash(bulkIds.slice(2));
  // Its key is free once it is in the trash: a new media takes it, so restoring is refused.
  await h.put("default", "trash/taken.png");

  browser = await launchBrowser();
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: "en-GB" });
  page = await context.newPage();
  base = `http://127.0.0.1:${h.t.service.httpPort}`;
  await page.goto(`${base}/`);
  await signIn(page, TEST_ADMIN_TOKEN);
});

after(async () => {
  await browser?.close();
  await h?.stop();
});

const row = (id: bigint) => page.locator(`[data-testid=trash-row][data-id="${id}"]`);

describe("trash", () => {
  test("the overview counts the trash and says when the next purge is", async () => {
    await page.goto(`${base}/`);
    await page.getByTestId("state-count-TRASHED").waitFor();
    assert.equal(await text("state-count-TRASHED"), "5");
    assert.equal(await text("state-bytes-TRASHED"), "50 B");
    assert.equal(await text("purge-24h-count"), "0");
    assert.match(await text("next-purge"), /in 7 d/);
  });

  test("the trash lists trashed media with their times; restoring one takes it out, ORPHANED again", async () => {
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Trash" }).click();
    await page.waitForURL(/\/trash$/);
    await row(restoreId).waitFor();
    assert.equal(await page.getByTestId("trash-row").count(), 5);
    assert.match((await row(restoreId).getByTestId("trash-time").textContent()) ?? "", /ago|now/);
    assert.match((await row(restoreId).getByTestId("purge-time").textContent()) ?? "", /in 7 d/);

    await row(restoreId).getByRole("button", { name: "Restore" }).click();
    await row(restoreId).waitFor({ state: "detached" });
    assert.match(await text("restore-notice"), new RegExp(`Restored media ${restoreId}`));
    assert.equal(await stateOf(restoreId), MediaState.ORPHANED);
    assert.equal(await h.exists("default", "trash/restore-me.png"), true);

    await page.goto(`${base}/media/${restoreId}`);
    await page.getByTestId("media-state").waitFor();
    assert.equal(await text("media-state"), "ORPHANED");
    const types = await page.getByTestId("event").evaluateAll((els) => els.map((e) => e.getAttribute("data-type")));
    assert.deepEqual(types.slice(-2), ["TRASHED", "RESTORED"]);
    assert.equal(await page.locator("[data-testid=event][data-type=TRASHED] .event-type").textContent(), "Trashed");
  });

  test("a restore the server refuses (its key is taken) shows the server's message and keeps the row", async () => {
    await page.goto(`${base}/trash`);
    await row(takenId).getByRole("button", { name: "Restore" }).click();
    await row(takenId).getByTestId("restore-error").waitFor();
    assert.match((await row(takenId).getByTestId("restore-error").textContent()) ?? "", /key|taken/i);
    assert.equal(await stateOf(takenId), MediaState.TRASHED);
  });

  test("a trashed media's detail shows its trash and purge times and offers Restore", async () => {
    await page.goto(`${base}/media/${takenId}`);
    await page.getByTestId("media-state").waitFor();
    assert.equal(await text("media-state"), "TRASHED");
    assert.match(await text("field-trash-time"), /^\d{4}-\d\d-\d\d \d\d:\d\d/);
    assert.match(await text("field-purge-time"), /in 7 d/);
    assert.equal(await page.getByRole("button", { name: "Restore", exact: true }).count(), 1);
  });

  test("the trash filters by when media were trashed, and by key prefix, in its URL", async () => {
    await page.goto(`${base}/trash`);
    await row(takenId).waitFor();
    await page.getByTestId("trashed-before").fill("2000-01-01T00:00");
    await page.getByRole("button", { name: "Apply" }).click();
    await page.waitForURL(/before=2000-01-01T00%3A00/);
    await page.getByTestId("empty").waitFor();
    assert.equal(await page.getByTestId("trash-row").count(), 0);

    await page.getByTestId("trashed-before").fill("");
    await page.getByTestId("trashed-after").fill("2000-01-01T00:00");
    await page.getByLabel("Key prefix").fill("trash/");
    await page.getByRole("button", { name: "Apply" }).click();
    await row(takenId).waitFor();
    assert.equal(await page.getByTestId("trash-row").count(), 1);
  });

  test("restore all matching counts first, asks again over the blast-radius limit, then follows the job", async () => {
    await page.goto(`${base}/trash?prefix=bulk%2F`);
    await row(bulkIds[0] as bigint).waitFor();
    assert.equal(await page.getByTestId("trash-row").count(), 3);
    const panel = page.getByTestId("bulk-panel");
    await panel.getByTestId("bulk-reason").fill("restore ticket 7");
    await panel.getByRole("button", { name: "Restore all matching" }).click();
    await panel.getByTestId("bulk-preview-count").waitFor();
    assert.equal(await text("bulk-preview-count"), "3");
    assert.equal(await text("bulk-preview-bytes"), "30 B");
    // Nothing changed by counting.
    assert.equal(await stateOf(bulkIds[0] as bigint), MediaState.TRASHED);

    // 3 match, over the limit of 2: the server asks for the second confirmation.
    await panel.getByTestId("bulk-confirm").click();
    await panel.getByTestId("bulk-limit").waitFor();
    assert.equal(await stateOf(bulkIds[0] as bigint), MediaState.TRASHED);
    assert.match((await panel.getByTestId("bulk-confirm").textContent()) ?? "", /^Yes, restore all 3 media/);
    await panel.getByTestId("bulk-confirm").click();
    await page.waitForFunction(
      () => document.querySelector("[data-testid=bulk-state]")?.textContent === "SUCCEEDED",
      undefined,
      { timeout: 20_000 },
    );
    assert.equal(await text("bulk-done"), "3");
    assert.equal(await text("bulk-failed"), "0");
    for (const id of bulkIds) assert.equal(await stateOf(id), MediaState.ORPHANED);
    await page.getByTestId("empty").waitFor();

    // The timeline names the bulk action that restored it.
    const bulkId = (await page.getByTestId("bulk-progress").getAttribute("data-id")) ?? "";
    await page.goto(`${base}/media/${bulkIds[0]}`);
    await page.locator("[data-testid=event][data-type=RESTORED]").waitFor();
    assert.equal(
      (
        await page.locator("[data-testid=event][data-type=RESTORED]").getByTestId("event-bulk-action").textContent()
      )?.trim(),
      `bulk action #${bulkId}`,
    );
  });

  test("the media browser counts what a bulk hold would act on", async () => {
    await page.goto(`${base}/media?prefix=bulk%2F`);
    await page.getByTestId("media-row").first().waitFor();
    const panel = page.getByTestId("bulk-panel");
    await panel.getByTestId("bulk-action").selectOption({ label: "Hold" });
    await panel.getByTestId("bulk-reason").fill("legal hold 9");
    await panel.getByRole("button", { name: "Count matching media" }).click();
    await panel.getByTestId("bulk-preview-count").waitFor();
    assert.equal(await text("bulk-preview-count"), "3");
    assert.equal(await text("bulk-preview-bytes"), "30 B");
    // Counting changed nothing.
    assert.equal(
      (await h.t.sql.query("SELECT count(*)::int AS n FROM media WHERE hold_reason IS NOT NULL")).rows[0].n,
      0,
    );
    // The restore of the test before is among the recent bulk actions.
    await page.getByTestId("bulk-action-row").first().waitFor();
    assert.match((await page.getByTestId("bulk-action-row").first().textContent()) ?? "", /Restore.*SUCCEEDED/);
  });

  test("erase needs a reason and the typed id, then shows the receipt", async () => {
    await page.goto(`${base}/media/${eraseId}`);
    await page.getByTestId("media-state").waitFor();
    const erase = page.getByRole("button", { name: "Erase now" });
    assert.equal(await erase.isDisabled(), true);
    await page.getByTestId("erase-reason").fill("GDPR request 123");
    assert.equal(await erase.isDisabled(), true, "no id typed");
    await page.getByTestId("erase-confirm").fill(String(eraseId + 1n));
    assert.equal(await erase.isDisabled(), true, "another id typed");
    await page.getByTestId("erase-confirm").fill(String(eraseId));
    assert.equal(await erase.isDisabled(), false);
    await erase.click();

    await page.getByTestId("erase-receipt").waitFor();
    assert.equal(await text("receipt-outcome"), "ERASED");
    assert.match(await text("receipt-verified"), /^Yes/);
    assert.match(await text("receipt-time"), /^\d{4}-\d\d-\d\d \d\d:\d\d/);
    assert.equal(await h.exists("default", "erase/secret.png"), false);
    // The row is gone; the receipt stays on the page above the events.
    await page.getByTestId("media-deleted").waitFor();
  });
});
