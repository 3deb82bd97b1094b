// What the list bench reports: one row per filter and order (its progress
// line and its plans for bench/results/list-plans.txt), and the summary table
// with the verdict (no sequential scan of media anywhere).
import path from "node:path";
import type { MediaOrder } from "@media/server/media";
import { root } from "../shared.ts";
import type { Plan, plans } from "./plans.ts";
import type { timeRpc } from "./rpc.ts";
import { DEEP, RESULTS, SLOW_MS } from "./settings.ts";

export interface Row {
  readonly name: string;
  readonly order: MediaOrder;
  readonly rows: number;
  readonly cold: number;
  readonly p1: number;
  readonly deep: number | undefined;
  readonly deepPage: number;
  readonly planMs: number;
  readonly indexes: string[];
  readonly seqScans: string[];
}

export const ms = (n: number | undefined) => (n === undefined || Number.isNaN(n) ? "–" : n.toFixed(1));

const slow = (r: Row) => r.p1 > SLOW_MS || (r.deep ?? 0) > SLOW_MS;

function statementsText(plan: Plan): string[] {
  return plan.statements.flatMap((s, i) => [
    ...(plan.statements.length > 1 ? [`-- statement ${i + 1} of ${plan.statements.length}`] : []),
    s.sql,
    `-- parameters: ${JSON.stringify(s.parameters)}`,
    s.plan,
    "",
  ]);
}

type Plans = Awaited<ReturnType<typeof plans>>;
type Rpc = Awaited<ReturnType<typeof timeRpc>>;

/** One case in one order: its row, its progress line and its section of the plans file. */
export function report(name: string, order: MediaOrder, plan: Plans, rpc: Rpc) {
  const seqScans = [...plan.first.seqScans, ...(plan.deep?.seqScans ?? [])];
  const indexes = [...new Set([...plan.first.indexes, ...(plan.deep?.indexes ?? [])])];
  const row: Row = {
    name,
    order,
    rows: rpc.rows,
    cold: rpc.cold,
    p1: rpc.p1,
    deep: rpc.deep,
    deepPage: rpc.deepPage,
    planMs: plan.first.executionMs,
    indexes,
    seqScans,
  };
  const flags = [
    ...(seqScans.length > 0 ? [`SEQ SCAN on ${[...new Set(seqScans)].join(", ")}`] : []),
    ...(slow(row) ? ["SLOW"] : []),
  ];
  const line =
    `  ${name} | ${order} | ${rpc.rows} rows | page 1 ${ms(rpc.p1)} ms (cold ${ms(rpc.cold)}) | ` +
    `page ${rpc.deepPage} ${ms(rpc.deep)} ms | ${indexes.join(", ") || "no index"}` +
    (flags.length > 0 ? ` | ${flags.join(", ")}` : "");
  const section = [
    `=== ${name} | order ${order} ===`,
    `-- page 1: ${plan.first.rows} rows; RPC median ${ms(rpc.p1)} ms (first call ${ms(rpc.cold)} ms)`,
    ...statementsText(plan.first),
    ...(plan.deep === undefined
      ? []
      : [
          `-- page ${plan.deepPage}: ${plan.deep.rows} rows; RPC median ${ms(rpc.deep)} ms`,
          ...statementsText(plan.deep),
        ]),
  ];
  return { row, line, section };
}

/** The Markdown table and the verdict: ok unless some plan scans media sequentially. */
export function summary(table: readonly Row[]): { lines: string[]; ok: boolean } {
  const lines = [
    "",
    `| filter | order | rows | page 1 ms (median) | page 1 ms (first call) | last page ≤ ${DEEP + 1} ms (median) | page 1 plan ms | indexes (all pages) | flags |`,
    "|---|---|---:|---:|---:|---:|---:|---|---|",
  ];
  for (const r of table) {
    const flags = [
      ...(r.seqScans.length > 0 ? [`SEQ SCAN (${[...new Set(r.seqScans)].join(", ")})`] : []),
      ...(slow(r) ? ["SLOW"] : []),
    ];
    const deep = r.deep === undefined ? "– (1 page)" : `${ms(r.deep)} (p${r.deepPage})`;
    lines.push(
      `| ${r.name} | ${r.order} | ${r.rows} | ${ms(r.p1)} | ${ms(r.cold)} | ${deep} | ${ms(r.planMs)} | ` +
        `${r.indexes.join(", ") || "none"} | ${flags.join(", ")} |`,
    );
  }
  const worst = table.reduce((a, b) => (b.p1 > a.p1 ? b : a));
  const seq = table.filter((r) => r.seqScans.includes("media"));
  lines.push(
    "",
    `slowest page 1: ${ms(worst.p1)} ms (${worst.name}, ${worst.order}); bar: first page under 1 s`,
    `slower than ${SLOW_MS} ms (page 1 or the last page timed): ${table.filter(slow).length} of ${table.length}`,
    `sequential scans on media: ${seq.length} of ${table.length}`,
    `plans written to ${path.relative(root, RESULTS)}`,
  );
  if (seq.length > 0)
    lines.push(`FAIL: sequential scan on media in: ${seq.map((r) => `${r.name} (${r.order})`).join("; ")}`);
  const refScans = table.filter((r) => r.seqScans.includes("media_references") && !r.seqScans.includes("media"));
  if (refScans.length > 0) {
    lines.push(
      `note: sequential scan on media_references only in: ${refScans.map((r) => `${r.name} (${r.order})`).join("; ")}`,
    );
  }
  return { lines, ok: seq.length === 0 };
}
