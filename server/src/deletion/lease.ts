import type pg from "pg";
import type { DeletionConfig } from "../config.ts";
import { instantAfter, instantNow, type StorageWindow, secondsSince } from "../storage/window.ts";
import { renewLease } from "./claims.ts";

/** CLAIM_TIMEOUT (how long a renewal keeps a claim) and STORAGE_TIMEOUT (how long one storage request may take). */
export type LeaseTiming = Pick<DeletionConfig, "claimTimeoutSeconds" | "storageTimeoutSeconds">;

/**
 * Lease left at which storage stops acting: twice the request timeout, so a
 * request started just before the window closes is abandoned with at least
 * one STORAGE_TIMEOUT of lease still to run.
 */
const leaseMarginSeconds = (timing: LeaseTiming): number => 2 * timing.storageTimeoutSeconds;

/** The claim is not (or no longer provably) this job's: it must not touch storage. */
export class LeaseLostError extends Error {
  override name = "LeaseLostError";
}

/** A delete_batch job's hold on its claim. */
export class ClaimLease {
  readonly token: string;
  readonly #pool: pg.Pool;
  readonly #timing: LeaseTiming;

  constructor(pool: pg.Pool, token: string, timing: LeaseTiming) {
    this.#pool = pool;
    this.token = token;
    this.#timing = timing;
  }

  /**
   * Renews the lease in the database, the one authority on whether another
   * worker took the claim over, and opens a storage window that closes the
   * margin before the lease ends, counted from when the renewal was sent (the
   * database extended the lease no earlier than that). Throws LeaseLostError
   * when the claim is gone, or when the answer came back so late that the
   * margin is already used up (this process was stopped or starved meanwhile).
   * A database error propagates: the job is retried and confirms again.
   */
  async confirm(): Promise<StorageWindow> {
    const sent = instantNow();
    const held = await renewLease(this.#pool, this.token, this.#timing.claimTimeoutSeconds);
    if (!held) {
      throw new LeaseLostError(
        `claim ${this.token} is no longer held: its lease expired and the claim was taken back, so another worker owns its media`,
      );
    }
    const margin = leaseMarginSeconds(this.#timing);
    const window = this.#timing.claimTimeoutSeconds - margin;
    const took = secondsSince(sent);
    if (took >= window) {
      throw new LeaseLostError(
        `the lease renewal of claim ${this.token} took ${took.toFixed(1)} s: less than the safety margin of ${margin} s is left`,
      );
    }
    return {
      closes: instantAfter(sent, window),
      signal: AbortSignal.timeout(this.#timing.storageTimeoutSeconds * 1000),
    };
  }
}
