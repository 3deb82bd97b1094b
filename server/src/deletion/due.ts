// The rule for what is due for deletion, written once. The sweep's claim, the
// blast-radius guard, the overview's due counts, the deletion plan and the
// overdue gauge all build on it, and media_due_idx is its index (partial on
// exactly SCHEDULED, ordered by delete_time), so each of them reads only
// scheduled rows however large the table.

/** Unheld PENDING or ORPHANED media: the rows a deletion time applies to (media_due_idx). */
export const SCHEDULED = "state IN ('PENDING', 'ORPHANED') AND hold_reason IS NULL";

/** SQL condition on media: scheduled, with a delete_time at or before `at` (an SQL expression). */
export const dueBy = (at: string): string => `${SCHEDULED} AND delete_time <= ${at}`;

/** Due now: what a sweep may claim. */
export const DUE_NOW = dueBy("now()");
