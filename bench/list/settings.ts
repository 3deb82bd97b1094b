// The list bench's sizes and bars, shared by its parts: the table size
// (BENCH_LIST_ROWS), timed runs per page (BENCH_LIST_RUNS), the dashboard's page
// size, how deep the deep page is, what counts as slow, where the plans go.
import path from "node:path";
import { root } from "../shared.ts";

export const ROWS = Number(process.env.BENCH_LIST_ROWS ?? 10_000_000);
/** Timed runs per page, after one warm-up. */
export const RUNS = Number(process.env.BENCH_LIST_RUNS ?? 5);
/** The dashboard's page size; listMedia is asked for one more row. */
export const PAGE_SIZE = 50;
/** Pages followed from page 1 to reach the deep page. */
export const DEEP = 20;
/** Page 1 slower than this (median) is reported as slow. */
export const SLOW_MS = 300;
export const RESULTS = path.join(root, "bench/results/list-plans.txt");
