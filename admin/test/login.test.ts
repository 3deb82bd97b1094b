import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { startTestService, TEST_ADMIN_TOKEN, TEST_SERVICE_TOKEN, type TestService } from "@media/server/testing";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { launchBrowser, signIn } from "./browser.ts";

// Signing in to the dashboard: the built dashboard on a real service that
// accepts TEST_ADMIN_TOKEN (admin scope) and TEST_SERVICE_TOKEN (service
// scope), in Chromium. The token lives in the tab's sessionStorage.

// The dashboard's sessionStorage key (admin/src/api.ts), to plant a token the server does not know.
const TOKEN_KEY = "media-lifecycle.admin-token";

let t: TestService;
let dir: string;
let browser: Browser;
let base: string;
const contexts: BrowserContext[] = [];

/** A page in a new browser context: a new browser session, with nothing stored. */
async function freshPage(): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  contexts.push(context);
  return context.newPage();
}

async function expectSignIn(page: Page): Promise<void> {
  await page.getByRole("heading", { name: "Sign in" }).waitFor();
  assert.equal(await page.title(), "Sign in · Media lifecycle");
  assert.equal(await page.getByRole("navigation", { name: "Main" }).count(), 0, "no navigation before signing in");
  assert.equal(await page.getByTestId("state-count-LINKED").count(), 0, "no data before signing in");
}

async function tryToken(page: Page, token: string): Promise<string> {
  await page.getByLabel("API token").fill(token);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  const error = page.getByTestId("sign-in-error");
  await error.waitFor();
  return (await error.textContent()) ?? "";
}

const storedToken = (page: Page) => page.evaluate((key) => sessionStorage.getItem(key), TOKEN_KEY);

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "login-"));
  t = await startTestService({ STORES: `default=file:${dir}` });
  const { media } = await t.media.createMedia({ store: "default", key: "a.png", sizeBytes: 1n });
  assert.ok(media);
  await t.media.linkMedia({ mediaId: media.id, owner: "blog/posts/1#cover" });
  browser = await launchBrowser();
  base = `http://127.0.0.1:${t.service.httpPort}`;
});

after(async () => {
  for (const context of contexts) await context.close();
  await browser?.close();
  await t?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("signing in to the dashboard", () => {
  test("a first visit shows the sign-in screen, with focus in the token field", async () => {
    const page = await freshPage();
    await page.goto(`${base}/`);
    await expectSignIn(page);
    const input = page.getByLabel("API token");
    assert.equal(await input.getAttribute("type"), "password");
    assert.equal(await page.evaluate(() => document.activeElement?.getAttribute("data-testid")), "sign-in-token");
    assert.equal(await input.getAttribute("aria-describedby"), "sign-in-help");
    assert.match((await page.locator("#sign-in-help").textContent()) ?? "", /admin-token/);
  });

  test("a wrong token is refused and shows no data", async () => {
    const page = await freshPage();
    await page.goto(`${base}/`);
    assert.match(await tryToken(page, "not-a-token-0123456789abcdef0123456789"), /That token was not accepted/);
    await expectSignIn(page);
    assert.equal(await storedToken(page), null);
    // The right token then signs in, and the error goes.
    await signIn(page, TEST_ADMIN_TOKEN);
    await page.getByTestId("state-count-LINKED").waitFor();
    assert.equal(await page.getByTestId("sign-in-error").count(), 0);
  });

  test("the service token is refused as not an admin token", async () => {
    const page = await freshPage();
    await page.goto(`${base}/`);
    assert.match(await tryToken(page, TEST_SERVICE_TOKEN), /That token is not an admin token/);
    await expectSignIn(page);
    assert.equal(await storedToken(page), null);
  });

  test("the admin token signs in, the overview loads, and a reload does not ask again", async () => {
    const page = await freshPage();
    await page.goto(`${base}/`);
    await expectSignIn(page);
    await signIn(page, TEST_ADMIN_TOKEN);
    await page.getByTestId("state-count-LINKED").waitFor();
    assert.equal(await page.getByTestId("state-count-LINKED").textContent(), "1");
    assert.equal(await page.title(), "Overview · Media lifecycle");
    assert.equal(await page.evaluate(() => document.activeElement?.id), "main", "focus moves to the page");
    assert.equal(await storedToken(page), TEST_ADMIN_TOKEN, "kept in sessionStorage");
    assert.equal(
      await page.evaluate(() => localStorage.length + document.cookie.length),
      0,
      "nor in localStorage or cookies",
    );

    await page.reload();
    await page.getByTestId("state-count-LINKED").waitFor();
    assert.equal(await page.getByRole("heading", { name: "Sign in" }).count(), 0);

    // Another browser session asks again.
    const other = await freshPage();
    await other.goto(`${base}/`);
    await expectSignIn(other);
  });

  test("signing in keeps the URL the user opened", async () => {
    const page = await freshPage();
    await page.goto(`${base}/media?state=LINKED`);
    await expectSignIn(page);
    await signIn(page, TEST_ADMIN_TOKEN);
    assert.equal(page.url(), `${base}/media?state=LINKED`);
    await page.getByTestId("media-row").first().waitFor();
    assert.equal(await page.getByTestId("media-row").count(), 1);
    assert.equal(await page.title(), "Media · Media lifecycle");
  });

  test("sign out returns to the sign-in screen and forgets the token", async () => {
    const page = await freshPage();
    await page.goto(`${base}/plan`);
    await signIn(page, TEST_ADMIN_TOKEN);
    await page.getByTestId("plan-count").waitFor();
    await page.getByRole("button", { name: "Sign out" }).click();
    await expectSignIn(page);
    assert.equal(await storedToken(page), null);
    assert.equal(await page.evaluate(() => document.activeElement?.getAttribute("data-testid")), "sign-in-token");
    await page.reload();
    await expectSignIn(page);
  });

  test("a token the server stops accepting sends the user back to sign in, at the same URL", async () => {
    const page = await freshPage();
    await page.goto(`${base}/`);
    await signIn(page, TEST_ADMIN_TOKEN);
    await page.getByTestId("state-count-LINKED").waitFor();
    // As if the token were revoked: the tab holds a token the server does not know.
    await page.evaluate(
      ([key]) => sessionStorage.setItem(key as string, "revoked-0123456789abcdef0123456789"),
      [TOKEN_KEY],
    );
    await page.goto(`${base}/failures`);
    await expectSignIn(page);
    await page.getByTestId("sign-in-expired").waitFor();
    assert.equal(page.url(), `${base}/failures`);
    assert.equal(await storedToken(page), null, "the rejected token is dropped");
    await signIn(page, TEST_ADMIN_TOKEN);
    assert.equal(page.url(), `${base}/failures`);
    await page.getByRole("heading", { name: "Failed deletions" }).waitFor();
  });
});
