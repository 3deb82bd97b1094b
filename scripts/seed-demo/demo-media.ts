// What one demo media is (its file, its references, its fate), the builders of
// an entry, and the Catalogue that hands out fates to the catalogue's parts
// (images.ts, documents.ts).
import type { PictureKind } from "../demo-images.ts";
import { DAY, HOUR, MINUTE } from "./common.ts";
import { between, type Random } from "./random.ts";

/** Where a demo media ends up. Times are in seconds; dueIn < 0 means overdue. */
export type Fate =
  | { readonly kind: "linked" }
  /** Registered `age` seconds ago and never linked. */
  | { readonly kind: "pending"; readonly age: number }
  /** orphaned: waiting for its delete_time. failed: every deletion attempt failed for real.
   *  stuck: claimed by a worker that never finished (DELETING until a sweep reclaims it). */
  | { readonly kind: "orphaned" | "failed" | "stuck"; readonly dueIn: number };

export type Content =
  | {
      readonly kind: "png";
      readonly picture: PictureKind;
      readonly variant: number;
      readonly width: number;
      readonly height: number;
    }
  | { readonly kind: "text"; readonly text: string }
  /** A folder where the file should be: unlink() refuses it, so its deletion fails for real. */
  | { readonly kind: "folder"; readonly declaredSize: number };

export interface DemoMedia {
  readonly key: string;
  readonly contentType: string;
  readonly labels: Readonly<Record<string, string>>;
  /** The service that registers and links it. */
  readonly actor: string;
  readonly content: Content;
  /** References it keeps. */
  readonly owners: readonly string[];
  /** References it had and lost (linked, then unlinked). */
  readonly formerOwners: readonly string[];
  readonly fate: Fate;
  readonly hold: string | undefined;
  /** Roughly how long ago it was registered; orphans are moved earlier to fit their orphan time. */
  readonly ageDays: number;
}

export const LINKED: Fate = { kind: "linked" };

const CONTENT_TYPES: Record<string, string> = { png: "image/png", json: "application/json", txt: "text/plain" };

type Spec = Omit<DemoMedia, "contentType" | "owners" | "formerOwners" | "hold"> &
  Partial<Pick<DemoMedia, "owners" | "formerOwners" | "hold">>;

export function demo(spec: Spec): DemoMedia {
  const extension = spec.key.slice(spec.key.lastIndexOf(".") + 1);
  const contentType = CONTENT_TYPES[extension];
  if (contentType === undefined) throw new Error(`no content type for ${spec.key}`);
  return { owners: [], formerOwners: [], hold: undefined, ...spec, contentType };
}

export const png = (picture: PictureKind, variant: number, width: number, height: number): Content => ({
  kind: "png",
  picture,
  variant,
  width,
  height,
});

/** Shared by the catalogue builders: the random source and the fates they hand out. */
export class Catalogue {
  private orphans = 0;
  readonly random: Random;
  private readonly pendingTtl: number;
  constructor(random: Random, pendingTtl: number) {
    this.random = random;
    this.pendingTtl = pendingTtl;
  }

  /**
   * An orphan's fate. Cycles through "due within 7 days" (half), "due within
   * 24 hours" (three in eight) and "overdue" (one in eight), so the overview's
   * due counts and the deletion plan are never empty.
   */
  orphan(): Fate {
    const bucket = ["week", "soon", "week", "overdue", "soon", "week", "soon", "week"][this.orphans++ % 8];
    const dueIn =
      bucket === "overdue"
        ? -between(this.random, 10 * MINUTE, 6 * HOUR)
        : bucket === "soon"
          ? between(this.random, HOUR, 23 * HOUR)
          : between(this.random, 1.1 * DAY, 6.8 * DAY);
    return { kind: "orphaned", dueIn };
  }

  /** A never-linked upload, due within the pending TTL (or just past it, when overdue). */
  pending(overdue = false): Fate {
    const age = overdue
      ? this.pendingTtl + between(this.random, 10 * MINUTE, 3 * HOUR)
      : Math.min(this.pendingTtl * between(this.random, 0.05, 0.9), 25 * DAY);
    return { kind: "pending", age };
  }

  /** Its references: kept, or all lost when the owner went away. */
  references(ownerGone: boolean, owners: string[]): Pick<DemoMedia, "owners" | "formerOwners" | "fate"> {
    return ownerGone
      ? { owners: [], formerOwners: owners, fate: this.orphan() }
      : { owners, formerOwners: [], fate: LINKED };
  }
}
