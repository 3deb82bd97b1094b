// The rules for what is due, written once: for deletion (SCHEDULED, dueBy)
// and for purging from the trash (IN_TRASH, purgeDueBy). The sweep's claims,
// the blast-radius guard, the overview's due counts, the deletion plan and the
// overdue gauge all build on them. media_due_idx is the first's index (partial
// on exactly SCHEDULED, ordered by delete_time), media_trash_idx the second's
// (purge_time is set exactly on TRASHED rows), so each of them reads only the
// rows it is about however large the table.

/**
 * Unheld PENDING or ORPHANED media that no restore still holds (a restored
 * media stays claimed until its trashed copy is dropped): the rows a deletion
 * time applies to (media_due_idx).
 */
export const SCHEDULED = "state IN ('PENDING', 'ORPHANED') AND hold_reason IS NULL AND claim_token IS NULL";

/** SQL condition on media: scheduled, with a delete_time at or before `at` (an SQL expression). */
export const dueBy = (at: string): string => `${SCHEDULED} AND delete_time <= ${at}`;

/** Due now: what a sweep may claim. */
export const DUE_NOW = dueBy("now()");

/** Unheld TRASHED media that no purge, restore or erasure has claimed (media_trash_idx). */
export const IN_TRASH = "purge_time IS NOT NULL AND hold_reason IS NULL AND claim_token IS NULL";

/** SQL condition on media: in the trash, with a purge_time at or before `at` (an SQL expression). */
export const purgeDueBy = (at: string): string => `${IN_TRASH} AND purge_time <= ${at}`;

/** Due for purging now: what a sweep may claim for a purge. */
export const PURGE_DUE_NOW = purgeDueBy("now()");
