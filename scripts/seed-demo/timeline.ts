// Back-dated times: when things happened to a demo media (registered, linked,
// orphaned, due), so the lists look lived-in, and the state each fate leaves.
import type { Config } from "@media/server/config";
import type { MediaStateName } from "@media/server/db";
import { DAY, HOUR, MINUTE } from "./common.ts";
import type { DemoMedia, Fate } from "./demo-media.ts";
import { between, type Random } from "./random.ts";

/** When things happened to a media, so the lists look lived-in. Events keep their real times. */
export interface Timeline {
  readonly create: Date;
  /** Undefined: keep the real update_time (failed and stuck media changed just now). */
  readonly update: Date | undefined;
  readonly orphan: Date | null;
  readonly due: Date | null;
  readonly references: ReadonlyMap<string, Date>;
}

export function timeline(item: DemoMedia, random: Random, now: number, config: Config): Timeline {
  // Negative: in the future (a delete_time).
  const at = (secondsAgo: number) => new Date(now - secondsAgo * 1000);
  const fate = item.fate;
  if (fate.kind === "pending") {
    const create = at(fate.age);
    const due = new Date(create.getTime() + config.pendingTtlSeconds * 1000);
    return { create, update: create, orphan: null, due, references: new Map() };
  }
  const grace = config.gracePeriodSeconds;
  // Seconds ago. delete_time = orphan_time + grace, as media_unlink sets it.
  const orphaned = fate.kind === "linked" ? undefined : Math.max(MINUTE, grace - fate.dueIn);
  // An orphan was registered a while before it lost its last reference.
  const created =
    orphaned === undefined
      ? item.ageDays * DAY
      : Math.max(item.ageDays * DAY, orphaned + between(random, HOUR, 3 * DAY));
  const references = new Map<string, Date>();
  item.owners.forEach((owner, i) => {
    // The first reference comes right after the upload, later ones any time since.
    const ago = i === 0 ? created - between(random, MINUTE, 10 * MINUTE) : between(random, 0, created);
    references.set(owner, at(Math.max(0, ago)));
  });
  if (orphaned === undefined) {
    const unlinked = item.formerOwners.length > 0 ? between(random, 0, created * 0.8) : created;
    const linked = [...references.values()].map((d) => (now - d.getTime()) / 1000);
    return {
      create: at(created),
      update: at(Math.min(created, unlinked, ...linked)),
      orphan: null,
      due: null,
      references,
    };
  }
  return {
    create: at(created),
    // Failed and stuck media changed just now: their claims and deletion attempts are real.
    update: fate.kind === "orphaned" ? at(orphaned) : undefined,
    orphan: at(orphaned),
    // A FAILED row has no delete_time: it waits for an admin's Retry.
    due: fate.kind === "failed" ? null : at(orphaned - grace),
    references,
  };
}

export const FINAL_STATE: Record<Fate["kind"], MediaStateName> = {
  linked: "LINKED",
  pending: "PENDING",
  orphaned: "ORPHANED",
  failed: "FAILED",
  stuck: "DELETING",
};
