import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { TEST_ADMIN_TOKEN } from "@media/server/testing";
import { type DeletionHarness, startDeletionHarness } from "@media/worker/testing";
import type { Browser, Page } from "playwright-core";
import { launchBrowser, signIn } from "./browser.ts";

// The small things of issue 18: times with their zone (and UTC on hover), how many plan samples
// show, a wrong ?hours= said out loud, and a notice after each media action. The browser runs
// in Berlin with British English, so local times read "… CET" in December and "… CEST" in summer.

const PENDING = 22; // plus one orphan: 23 due, of which the plan shows 20

let h: DeletionHarness;
let browser: Browser;
let page: Page;
let base: string;
let orphanId: bigint;
let pendingId: bigint;

const text = async (testId: string) => ((await page.getByTestId(testId).textContent()) ?? "").trim();

before(async () => {
  h = await startDeletionHarness({ GRACE_PERIOD: "1h" });
  for (let i = 0; i < PENDING; i++) {
    const { media } = await h.t.media.createMedia({ store: "default", key: `uploads/${i}.png`, sizeBytes: 10n });
    assert.ok(media);
    pendingId = media.id;
  }
  const { media } = await h.t.media.createMedia({ store: "default", key: "shop/orphan.png", sizeBytes: 10n });
  assert.ok(media);
  orphanId = media.id;
  await h.t.media.linkMedia({ mediaId: orphanId, owner: "shop/items/1" });
  await h.t.media.unlinkMedia({ mediaId: orphanId, owner: "shop/items/1" });

  browser = await launchBrowser();
  const context = await browser.newContext({
    viewport: { width: 1280, height: 900 },
    locale: "en-GB",
    timezoneId: "Europe/Berlin",
  });
  page = await context.newPage();
  base = `http://127.0.0.1:${h.t.service.httpPort}`;
  await page.goto(`${base}/`);
  await signIn(page, TEST_ADMIN_TOKEN);
});

after(async () => {
  await browser?.close();
  await h?.stop();
});

/** "2026-12-03 10:15" of a Date in Berlin: what the page must show before the zone. */
function berlin(date: Date): { local: string; zone: string } {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat("en-GB", {
      timeZone: "Europe/Berlin",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      hourCycle: "h23",
      timeZoneName: "short",
    })
      .formatToParts(date)
      .map((p) => [p.type, p.value]),
  ) as Record<string, string>;
  return {
    local: `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}`,
    zone: parts.timeZoneName ?? "",
  };
}

describe("details", () => {
  test("absolute times show their time zone, and UTC on hover", async () => {
    await page.goto(`${base}/media/${orphanId}`);
    const created = page.getByTestId("field-create-time").locator("time");
    await created.waitFor();
    const iso = (await created.getAttribute("datetime")) ?? "";
    const date = new Date(iso);
    assert.ok(!Number.isNaN(date.getTime()), `datetime=${iso}`);
    const { local, zone } = berlin(date);
    assert.match(zone, /^CES?T$/);
    assert.equal(await text("field-create-time"), `${local} ${zone}`);
    assert.equal(await created.getAttribute("title"), `${iso.slice(0, 19).replace("T", " ")} UTC`);
    // The timeline's times too.
    assert.match(
      (await page.getByTestId("event").first().locator("time").textContent()) ?? "",
      /^\d{4}-\d\d-\d\d \d\d:\d\d CES?T$/,
    );
    // Relative times ("in 1 h") carry both in their tooltip.
    const relative = page.getByTestId("field-delete-time").locator("time").nth(1);
    assert.match((await relative.getAttribute("title")) ?? "", /^\d{4}-\d\d-\d\d \d\d:\d\d CES?T \(.* UTC\)$/);
  });

  test("the plan says how many of the due files its samples show", async () => {
    await page.goto(`${base}/plan?hours=48`);
    await page.getByTestId("plan-count").waitFor();
    assert.equal(await text("plan-count"), "23");
    assert.equal(await page.getByTestId("plan-samples").getByTestId("media-row").count(), 20);
    assert.match(await text("plan-samples-count"), /^Showing 20 of 23\b/);

    // All of them shown: nothing to say.
    await page.goto(`${base}/plan?hours=2`);
    await page.getByTestId("plan-count").waitFor();
    assert.equal(await text("plan-count"), "1");
    assert.equal(await page.getByTestId("plan-samples-count").count(), 0);
  });

  test("hours the URL gets wrong are said so, with the valid range, and load no plan", async () => {
    for (const bad of ["abc", "0", "9000", "1.5"]) {
      await page.goto(`${base}/plan?hours=${bad}`);
      const message = page.getByTestId("plan-hours-error");
      await message.waitFor();
      assert.equal(await message.getAttribute("role"), "alert");
      assert.match(await text("plan-hours-error"), new RegExp(`“${bad.replace(".", "\\.")}”.*from 1 to 8,760`));
      assert.equal(await page.getByTestId("plan-count").count(), 0, `no plan for ?hours=${bad}`);
      assert.ok(page.url().endsWith(`?hours=${bad}`), "the URL stays what the user gave");
    }
    // Fixing it in the form loads the plan under an honest URL.
    await page.getByLabel("Within hours").fill("48");
    await page.getByRole("button", { name: "Apply" }).click();
    await page.waitForURL(/\?hours=48$/);
    await page.getByTestId("plan-count").waitFor();
    assert.equal(await page.getByTestId("plan-hours-error").count(), 0);
  });

  test("hold, release and delete now each confirm with a notice; a failure shows its error", async () => {
    await page.goto(`${base}/media/${orphanId}`);
    const notice = page.getByTestId("action-notice");
    await page.getByTestId("hold-reason").fill("legal hold");
    await page.getByRole("button", { name: "Hold", exact: true }).click();
    await page.waitForFunction(() =>
      /^Held/.test(document.querySelector("[data-testid=action-notice]")?.textContent ?? ""),
    );
    assert.equal(await notice.getAttribute("role"), "status");

    await page.getByRole("button", { name: "Release" }).click();
    await page.waitForFunction(() =>
      /^Released/.test(document.querySelector("[data-testid=action-notice]")?.textContent ?? ""),
    );

    await page.getByTestId("delete-confirm").fill(String(orphanId));
    await page.getByRole("button", { name: "Delete now" }).click();
    await page.waitForFunction(() =>
      /^Deletion requested/.test(document.querySelector("[data-testid=action-notice]")?.textContent ?? ""),
    );
    assert.equal(await page.getByTestId("action-error").count(), 0);

    // Linked behind the page's back, the media can no longer be deleted: the error shows, no notice.
    await page.goto(`${base}/media/${pendingId}`);
    await page.getByTestId("delete-confirm").fill(String(pendingId));
    await h.t.media.linkMedia({ mediaId: pendingId, owner: "blog/posts/1" });
    await page.getByRole("button", { name: "Delete now" }).click();
    await page.getByTestId("action-error").waitFor();
    assert.match(await text("action-error"), /LINKED/);
    assert.equal(await text("action-notice"), "");
  });

  test("a timeline whose first events EVENTS_RETENTION dropped says where its kept events begin", async () => {
    // As after a drop: the first partition marked dropped, and a media whose CREATED event went with it.
    await h.t.sql.query("UPDATE media_event_partitions SET drop_time = now() WHERE name = 'media_events_legacy'");
    const { rows } = await h.t.sql.query<{ id: string }>(
      "INSERT INTO media (store, key, state, delete_time) VALUES ('default', 'old/kept.png', 'PENDING', now() + interval '1 day') RETURNING id::text",
    );
    const oldId = rows[0]?.id as string;
    await h.t.sql.query(
      "INSERT INTO media_events (media_id, type, from_state, to_state, actor, reason) VALUES ($1, 'HELD', 'PENDING', 'PENDING', 'admin', 'kept')",
      [oldId],
    );
    await page.goto(`${base}/media/${oldId}`);
    await page.getByTestId("events-dropped").waitFor();
    assert.match(await text("events-dropped"), /^Events before .+ are no longer kept \(EVENTS_RETENTION\)\.$/);
    // A media created since keeps its whole timeline: no note.
    await page.goto(`${base}/media/${orphanId}`);
    await page.getByTestId("event").first().waitFor();
    assert.equal(await page.getByTestId("events-dropped").count(), 0);
  });
});
