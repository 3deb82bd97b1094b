import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { createClient } from "@connectrpc/connect";
import { MediaService } from "@media/proto/media/v1/media_service_pb";
import {
  connectTransport,
  type IsolatedPostgres,
  startIsolatedPostgres,
  startTestService,
  TEST_ADMIN_TOKEN,
  TEST_SERVICE_TOKEN,
  type TestService,
  waitFor,
} from "@media/server/testing";
import type { Browser, Page } from "playwright-core";
import { launchBrowser, signIn } from "./browser.ts";

// The Audit page: the instance-wide change feed (MediaService.ListEvents) with its filters kept in
// the URL, "Load more" and a "Follow" toggle that long-polls for new events, each row linking to
// its media.

let t: TestService;
let postgres: IsolatedPostgres | undefined;
let dir: string;
let browser: Browser;
let page: Page;
let base: string;
let blogId: bigint;
let shopId: bigint;
const MANY = 60; // more than a page (50)

/** The event rows shown: "<media id>:<type>", in order. */
async function rows(): Promise<string[]> {
  return page
    .getByTestId("event")
    .evaluateAll((items) =>
      items.map(
        (li) => `${li.querySelector("[data-testid=event-media]")?.textContent?.trim()}:${li.getAttribute("data-type")}`,
      ),
    );
}

async function rowsBecome(expected: string[], what: string): Promise<void> {
  let seen: string[] = [];
  await waitFor(
    async () => {
      seen = await rows();
      return JSON.stringify(seen) === JSON.stringify(expected);
    },
    what,
    15_000,
    async () => JSON.stringify(seen),
  );
}

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "audit-"));
  for (const store of ["default", "photos"]) await mkdir(path.join(dir, store));
  // Its own PostgreSQL: another test file's open transaction on the shared one would hold the feed back.
  postgres = await startIsolatedPostgres();
  t = await startTestService(
    {
      STORES: `default=file:${path.join(dir, "default")},photos=file:${path.join(dir, "photos")}`,
      GRACE_PERIOD: "1h",
    },
    postgres.url,
  );
  blogId = (await t.media.createMedia({ store: "default", key: "audit/a.png", sizeBytes: 1n, owner: "blog/1" })).media
    ?.id as bigint;
  shopId = (await t.media.createMedia({ store: "photos", key: "audit/b.png", sizeBytes: 1n })).media?.id as bigint;
  const service = createClient(MediaService, connectTransport(t.service.httpPort, TEST_SERVICE_TOKEN));
  await service.linkMedia({ mediaId: shopId, owner: "shop/9" });

  browser = await launchBrowser();
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: "en-GB" });
  page = await context.newPage();
  base = `http://127.0.0.1:${t.service.httpPort}`;
  await page.goto(`${base}/audit`);
  await signIn(page, TEST_ADMIN_TOKEN);
});

after(async () => {
  await browser?.close();
  await t?.stop();
  await postgres?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe("audit", () => {
  const blog = () => `media ${blogId}`;
  const shop = () => `media ${shopId}`;

  test("the nav leads to the audit log, which lists every event in feed order", async () => {
    await page.goto(`${base}/`);
    await page.getByRole("link", { name: "Audit" }).click();
    await page.waitForURL(`${base}/audit`);
    assert.equal(await page.title(), "Audit log · Media lifecycle");
    await rowsBecome(
      [`${blog()}:CREATED`, `${blog()}:LINKED`, `${shop()}:CREATED`, `${shop()}:LINKED`],
      "the four events",
    );
    assert.match((await page.getByTestId("feed-status").textContent()) ?? "", /latest event/);
  });

  test("filters by type and owner prefix, kept in the URL", async () => {
    await page.goto(`${base}/audit`);
    await page.getByTestId("type-filter").selectOption("LINKED");
    await page.getByTestId("owner-filter").fill("shop/");
    await page.getByRole("button", { name: "Apply" }).click();
    await page.waitForURL(/type=LINKED/);
    assert.match(page.url(), /owner=shop%2F/);
    await rowsBecome([`${shop()}:LINKED`], "the shop link only");
    await page.reload();
    await rowsBecome([`${shop()}:LINKED`], "the same after a reload");
    assert.equal(await page.getByTestId("owner-filter").inputValue(), "shop/");
  });

  test("filters by actor, store and time", async () => {
    await page.goto(`${base}/audit?actor=test-service`);
    await rowsBecome([`${shop()}:LINKED`], "the service token's link");
    await page.goto(`${base}/audit?store=photos`);
    await rowsBecome([`${shop()}:CREATED`, `${shop()}:LINKED`], "the photos store's events");
    await page.goto(`${base}/audit?after=2099-01-01T00:00`);
    await page.getByText("No events match these filters.").waitFor();
    await page.goto(`${base}/audit?after=2099-01-01T00:00&before=2098-01-01T00:00`);
    await page.getByTestId("until-filter").fill("2098-01-01T00:00");
    await page.getByRole("button", { name: "Apply" }).click();
    assert.match((await page.getByTestId("filter-error").textContent()) ?? "", /Until must be later than From/);
  });

  test("load more reads the next page", async () => {
    await t.sql.query(
      `INSERT INTO media_events (media_id, type, from_state, to_state, actor, reason)
       SELECT $1, 'HELD', 'LINKED', 'LINKED', 'bulk-test', 'many' FROM generate_series(1, $2)`,
      [blogId.toString(), MANY],
    );
    await page.goto(`${base}/audit`);
    await waitFor(async () => (await rows()).length === 50, "the first page of 50");
    await page.getByRole("button", { name: "Load more" }).click();
    await waitFor(async () => (await rows()).length === 4 + MANY, "every event after load more");
    assert.equal(await page.getByRole("button", { name: "Load more" }).count(), 0);
  });

  test("follow shows new events as they are committed, each linking to its media", async () => {
    await page.goto(`${base}/audit?type=CREATED`);
    await rowsBecome([`${blog()}:CREATED`, `${shop()}:CREATED`], "the two registrations");
    await page.getByTestId("follow").check();
    await page.getByText("Following: new events appear").waitFor();
    const id = (await t.media.createMedia({ store: "default", key: "audit/new.png", sizeBytes: 1n })).media
      ?.id as bigint;
    await rowsBecome(
      [`${blog()}:CREATED`, `${shop()}:CREATED`, `media ${id}:CREATED`],
      "the new registration, without a reload",
    );
    await page.getByTestId("follow").uncheck();
    await page.getByRole("link", { name: `media ${id}` }).click();
    await page.waitForURL(`${base}/media/${id}`);
  });
});
