// The media browser in Chromium: navigation to the first page of rows on
// screen, for a few dashboard views, signed in with the bench's token.
import { launchBrowser, signIn } from "../../admin/test/browser.ts";
import { ensureDashboardBuilt } from "../../scripts/dashboard-build.ts";
import { BENCH_TOKEN, log, median } from "../shared.ts";
import { ms } from "./report.ts";
import { PAGE_SIZE, RUNS } from "./settings.ts";

/** Dashboard views timed in Chromium, from navigation to the first page of rows on screen. */
const BROWSER_VIEWS = ["/media", "/media?state=ORPHANED&order=delete_time", "/media?label=team%3Dblog&order=oldest"];

export async function timeFirstRender(httpPort: number): Promise<string[]> {
  ensureDashboardBuilt();
  const browser = await launchBrowser();
  const lines = ["", "First page of the media browser in Chromium (navigation to 50 rows on screen, median of 5):"];
  try {
    for (const view of BROWSER_VIEWS) {
      const times: number[] = [];
      for (let run = 0; run <= RUNS; run++) {
        const page = await browser.newPage();
        // Signed in first (the token stays in this tab's sessionStorage), so the timed load is a signed-in one.
        await page.goto(`http://127.0.0.1:${httpPort}/`);
        await signIn(page, BENCH_TOKEN);
        const started = performance.now();
        await page.goto(`http://127.0.0.1:${httpPort}${view}`);
        await page
          .getByTestId("media-row")
          .nth(PAGE_SIZE - 1)
          .waitFor();
        if (run > 0) times.push(performance.now() - started);
        await page.close();
      }
      lines.push(`  ${view}: ${ms(median(times))} ms`);
    }
  } finally {
    await browser.close();
  }
  for (const line of lines) log(line);
  return lines;
}
