// The catalogue's documents: finance's daily and monthly JSON exports, support
// ticket transcripts, and the two media whose "file" is a folder, so their
// deletions fail for real.
import { DAY, HOUR, MINUTE } from "./common.ts";
import { type Catalogue, type Content, type DemoMedia, demo, LINKED } from "./demo-media.ts";
import { between, type Random } from "./random.ts";

const isoDay = (date: Date) => date.toISOString().slice(0, 10);
const isoMonth = (date: Date) => date.toISOString().slice(0, 7);

function reportJson(random: Random, report: string, period: string, scale: number): Content {
  const channels = ["web", "app", "marketplace"];
  const byChannel = Object.fromEntries(channels.map((ch) => [ch, Math.round(between(random, 40, 400) * scale)]));
  const orders = Object.values(byChannel).reduce((a, b) => a + b, 0);
  const body = {
    report,
    period,
    currency: "EUR",
    orders,
    revenue: Math.round(orders * between(random, 38, 64) * 100) / 100,
    by_channel: byChannel,
    generated_by: "reports-service",
  };
  return { kind: "text", text: `${JSON.stringify(body, null, 2)}\n` };
}

export function exportMedia(c: Catalogue, now: number): DemoMedia[] {
  const base = { labels: { team: "finance" }, actor: "reports-service" };
  const items: DemoMedia[] = [];
  const today = new Date(now);
  const midnight = Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate());
  const daysSince = (time: number) => Math.max(0.01, (now - time) / (DAY * 1000));
  // Daily exports, made at 00:15 UTC after their day; kept (linked) for 7 days, then released.
  for (let days = 14; days >= 1; days--) {
    const dayStart = midnight - days * DAY * 1000;
    const day = isoDay(new Date(dayStart));
    items.push(
      demo({
        ...base,
        key: `demo/exports/daily/orders-${day}.json`,
        content: reportJson(c.random, "orders-daily", day, 1),
        ageDays: daysSince(dayStart + (DAY + 15 * MINUTE) * 1000),
        ...c.references(days > 7, [`reports/daily/${day}#export`]),
        hold: days === 10 ? "audit: keep until the Q4 review" : undefined,
      }),
    );
  }
  // Last month's report, made on the 1st and kept for the board.
  const lastMonth = isoMonth(new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth() - 1, 1)));
  items.push(
    demo({
      ...base,
      key: `demo/exports/report-${lastMonth}.json`,
      content: reportJson(c.random, "orders-monthly", lastMonth, 30),
      ageDays: daysSince(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), 1, 0, 30)),
      owners: [`reports/monthly/${lastMonth}#export`, "finance/board-pack#appendix"],
      fate: LINKED,
    }),
  );
  // This month's report, registered while it is being assembled.
  items.push(
    demo({
      ...base,
      key: `demo/exports/report-${isoMonth(today)}.json`,
      content: reportJson(c.random, "orders-monthly", isoMonth(today), today.getUTCDate()),
      ageDays: 0,
      fate: c.pending(),
    }),
  );
  return items;
}

const COMPLAINTS = [
  "my order arrived with a cracked mug",
  "the invoice shows the wrong address",
  "I was charged twice for one order",
  "the tracking link has not updated for a week",
  "I would like to return a jacket that does not fit",
];

function transcript(random: Random, ticket: string): Content {
  const agent = ["mia", "jonas", "priya", "tom"][Math.floor(random() * 4)];
  const complaint = COMPLAINTS[Math.floor(random() * COMPLAINTS.length)];
  const order = Math.floor(between(random, 40_000, 49_999));
  const lines = [
    `Ticket ${ticket}: chat transcript`,
    `[customer] Hello, ${complaint} (order #${order}).`,
    `[agent:${agent}] Sorry about that! Let me look into order #${order}.`,
    `[agent:${agent}] Sorted: you will get an e-mail confirmation within the hour.`,
    "[customer] Thanks, that was quick.",
  ];
  return { kind: "text", text: `${lines.join("\n")}\n` };
}

export function supportMedia(c: Catalogue): DemoMedia[] {
  const items: DemoMedia[] = [];
  for (let n = 8801; n <= 8812; n++) {
    const ticket = `T-${n}`;
    items.push(
      demo({
        labels: { team: "support" },
        actor: "support-service",
        key: `demo/support/tickets/${ticket}/transcript.txt`,
        content: transcript(c.random, ticket),
        ageDays: ((8813 - n) / 12) * 25,
        // Tickets closed and purged: their transcripts are released.
        ...c.references(n % 3 === 0, [`support/tickets/${ticket}#attachment`]),
      }),
    );
  }
  return items;
}

/** Media whose "file" is a folder: every deletion attempt fails, so they end up FAILED. */
export function brokenMedia(c: Catalogue): DemoMedia[] {
  return [
    demo({
      labels: { team: "blog" },
      actor: "blog-service",
      key: "demo/broken/locked.png",
      content: { kind: "folder", declaredSize: 48_213 },
      ageDays: 20,
      formerOwners: ["blog/posts/98#cover"],
      fate: { kind: "failed", dueIn: -between(c.random, 2 * HOUR, 2 * DAY) },
    }),
    demo({
      labels: { team: "finance" },
      actor: "reports-service",
      key: "demo/broken/report-locked.json",
      content: { kind: "folder", declaredSize: 7_342 },
      ageDays: 16,
      formerOwners: ["reports/adhoc/q3-reconciliation#export"],
      fate: { kind: "failed", dueIn: -between(c.random, 2 * HOUR, 2 * DAY) },
    }),
  ];
}
