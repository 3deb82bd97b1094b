import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { startTestService, TEST_ADMIN_TOKEN, type TestService } from "@media/server/testing";
import type { Browser, Page } from "playwright-core";
import { launchBrowser, signIn } from "./browser.ts";

// Attestation drift in the dashboard: the latest attestation of each owner
// prefix with its counts (endangered highlighted), and a selected one's items
// linking to their media pages. The attestations are made through the API, as
// an owning service would.

let t: TestService;
let browser: Browser;
let page: Page;
let base: string;
let endangered: bigint;

async function create(owner?: string): Promise<bigint> {
  const { media } = await t.media.createMedia({
    store: "default",
    key: `dash-attest/${Math.random().toString(36).slice(2)}.jpg`,
    sizeBytes: 1n,
    ...(owner === undefined ? {} : { owner }),
  });
  return media?.id ?? 0n;
}

async function attest(prefix: string, pairs: { owner: string; mediaId: bigint }[]): Promise<bigint> {
  const id = (await t.media.startAttestation({ ownerPrefix: prefix })).attestation?.id ?? 0n;
  if (pairs.length > 0) await t.media.attestReferences({ attestationId: id, references: pairs });
  await t.media.finishAttestation({ attestationId: id });
  return id;
}

before(async () => {
  t = await startTestService({ GRACE_PERIOD: "1h" });
  // shop/: an older attestation, then the latest, which finds a PENDING media in use (endangered).
  const kept = await create("shop/1");
  await attest("shop/", []);
  endangered = await create();
  await attest("shop/", [
    { owner: "shop/1", mediaId: kept },
    { owner: "shop/2", mediaId: endangered },
  ]);
  // blog/: no drift at all.
  const post = await create("blog/1");
  await attest("blog/", [{ owner: "blog/1", mediaId: post }]);

  browser = await launchBrowser();
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: "en-GB" });
  page = await context.newPage();
  base = `http://127.0.0.1:${t.service.httpPort}`;
  await page.goto(`${base}/`);
  await signIn(page, TEST_ADMIN_TOKEN);
});

after(async () => {
  await browser?.close();
  await t?.stop();
});

test("the latest attestation per prefix, endangered highlighted; a selected one's items link to their media", async () => {
  await page.getByRole("link", { name: "Attestations" }).click();
  await page.getByRole("heading", { name: "Attestation drift" }).waitFor();
  const rows = page.getByTestId("attestation-row");
  await rows.first().waitFor();
  assert.deepEqual(await rows.evaluateAll((els) => els.map((e) => e.getAttribute("data-prefix"))), ["blog/", "shop/"]);
  const shop = page.locator('[data-testid="attestation-row"][data-prefix="shop/"]');
  assert.equal((await shop.getByTestId("endangered").textContent())?.trim(), "1", "the latest shop/ attestation");
  const blog = page.locator('[data-testid="attestation-row"][data-prefix="blog/"]');
  assert.equal(await blog.getByTestId("endangered").count(), 0, "nothing endangered: not highlighted");
  assert.equal((await blog.getByTestId("endangered-count").textContent())?.trim(), "0");

  await shop.getByRole("link", { name: "shop/" }).click();
  const items = page.getByTestId("drift-item");
  await items.first().waitFor();
  assert.deepEqual(await items.evaluateAll((els) => els.map((e) => e.getAttribute("data-kind"))), ["Endangered"]);
  await items
    .first()
    .getByRole("link", { name: String(endangered) })
    .click();
  await page.waitForURL(`${base}/media/${endangered}`);

  await page.goto(`${base}/attestations`);
  await page.locator('[data-testid="attestation-row"][data-prefix="blog/"]').getByRole("link").click();
  await page.getByText("No drift").waitFor();
});
