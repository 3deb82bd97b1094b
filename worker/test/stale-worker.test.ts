import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, test } from "node:test";
import { MediaState } from "@media/proto/media/v1/media_pb";
import type { TcpProxy } from "@media/server/testing";
import { killProcess } from "@media/server/testing";
import { trashPathOf } from "../../server/src/storage/disk-trash.ts";
import { type DeletionHarness, type ProxiedHarness, startProxiedHarness, waitFor } from "../testing/harness.ts";
import { spawnWorker, type WorkerProcess } from "../testing/worker-process.ts";

// A worker frozen (SIGSTOP) in the middle of a batch, past its lease. Another
// worker takes the claim back and finishes; the caller registers the same keys
// again with new files and links them; then the first worker wakes up. It
// must not delete one of the new files, and its log must say why it stopped.
//
// It is frozen at a known point: a TCP proxy between it and PostgreSQL holds
// back the answer to one of its statements (the database has run it, the
// worker has not heard), and the test stops the process while it waits.

const LEASE = { CLAIM_TIMEOUT: "3s", STORAGE_TIMEOUT: "1s" };
const FILES = 40;

let h: DeletionHarness;
let proxy: TcpProxy;
let harness: ProxiedHarness;
before(async () => {
  // Workers run as child processes here, reaching the database through a proxy.
  harness = await startProxiedHarness({ ...LEASE, BLAST_RADIUS_LIMIT: "1000000" });
  ({ h, proxy } = harness);
});
after(() => harness.stop());

const workerEnv = (databaseUrl: string, trashRetention: string) => ({
  ...h.env,
  ...LEASE,
  TRASH_RETENTION: trashRetention,
  DATABASE_URL: databaseUrl,
  WORKER_CONCURRENCY: "1",
  // Sweeps only when the test asks, so that the takeover happens when it says.
  SWEEP_SCHEDULE: "0 0 1 1 *",
});

const key = (variant: string, i: number) => `stale/${variant}/${i}.jpg`;

/** Media of these ids not yet deleted (trash retention 0) or moved to the trash (any other). */
async function rowsLeft(ids: readonly bigint[], trashRetention: string): Promise<number> {
  const { rows } = await h.t.sql.query(
    "SELECT count(*)::int AS n FROM media WHERE id = ANY($1::bigint[]) AND ($2 OR state <> 'TRASHED')",
    [ids.map(String), trashRetention === "0"],
  );
  return rows[0].n;
}

const cases = [
  {
    variant: "file-list",
    frozen: "with the list of its files on the way to it",
    // The answer to claimedFiles: it then notes what is at the keys (the new files) and must
    // learn from its next lease confirmation that the claim is gone.
    marker: "SELECT m.id, m.store, m.key FROM deletion_claims",
    occurrence: 1,
    reason: /no longer held: its lease expired and the claim was taken back/,
  },
  {
    variant: "confirmation",
    frozen: "with a lease renewal that succeeded on its way to it",
    // The second renewal (the first is at the job's start): the database extended the lease,
    // but the answer arrives after the lease ran out, too late to leave the safety margin.
    marker: "renew_time = now()",
    occurrence: 2,
    reason: /lease renewal of claim .* took \d+\.\d s: less than the safety margin/,
  },
];

// Deleting directly, and moving files to the trash: the trash's rename is fenced the same way.
for (const trashRetention of ["0", "7d"])
  for (const c of cases) {
    const how = trashRetention === "0" ? "deletes" : "trashes";
    test(`a worker stopped past its lease ${c.frozen} ${how} none of the files registered again meanwhile`, async () => {
      const variant = `${c.variant}-${how}`;
      const ids: bigint[] = [];
      for (let i = 0; i < FILES; i++) {
        const id = await h.put("default", key(variant, i));
        await h.t.admin.deleteMediaNow({ mediaId: id });
        ids.push(id);
      }
      const held = proxy.holdAnswerTo(c.marker, c.occurrence);
      const first = await spawnWorker(workerEnv(harness.viaProxy, trashRetention));
      let second: WorkerProcess | undefined;
      try {
        await h.t.admin.runSweep({});
        await Promise.race([
          held.holding,
          new Promise((_, reject) =>
            setTimeout(
              () => reject(new Error(`no statement with ${JSON.stringify(c.marker)} went through the proxy`)),
              15_000,
            ).unref(),
          ),
        ]);
        first.child.kill("SIGSTOP");

        // Its lease runs out for real (the frozen worker's clocks go on), then another worker takes over.
        await waitFor(
          async () =>
            (await h.t.sql.query("SELECT 1 FROM deletion_claims WHERE lease_expire_time < now()")).rowCount === 1,
          "the frozen worker's lease to expire",
        );
        second = await spawnWorker(workerEnv(h.t.databaseUrl, trashRetention));
        await h.t.admin.runSweep({});
        await waitFor(async () => (await rowsLeft(ids, trashRetention)) === 0, `the second worker to finish the batch`);
        for (let i = 0; i < FILES; i++) assert.equal(await h.exists("default", key(variant, i)), false);

        // The caller stores new files under the same keys, registers and links them.
        const again: bigint[] = [];
        for (let i = 0; i < FILES; i++) {
          const id = await h.put("default", key(variant, i));
          await writeFile(path.join(h.diskRoot, key(variant, i)), `new file ${i}`);
          await h.t.media.linkMedia({ mediaId: id, owner: `album/${i}` });
          again.push(id);
        }

        held.release();
        first.child.kill("SIGCONT");
        await waitFor(async () => c.reason.test(first.output()), "the first worker to say why it stopped", 15_000);
        assert.match(first.output(), /lease lost: stopped without touching storage again/);

        for (let i = 0; i < FILES; i++) {
          const file = path.join(h.diskRoot, key(variant, i));
          assert.equal(await readFile(file, "utf8"), `new file ${i}`, `the new file at ${key(variant, i)} is intact`);
          const media = (await h.t.media.getMedia({ id: again[i]! })).media;
          assert.equal(media?.state, MediaState.LINKED);
          if (trashRetention !== "0") {
            const old = path.join(h.diskRoot, trashPathOf(String(ids[i])));
            assert.equal(await readFile(old, "utf8"), `content of ${key(variant, i)}`, "the old file is in the trash");
          }
        }
      } finally {
        held.release();
        first.child.kill("SIGCONT");
        await killProcess(first, "SIGTERM");
        if (second !== undefined) await killProcess(second, "SIGTERM");
      }
    });
  }
