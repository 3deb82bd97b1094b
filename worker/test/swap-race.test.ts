import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import http from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { TEST_ADMIN_TOKEN } from "@media/server/testing";
import { type DeletionHarness, startDeletionHarness, waitFor } from "../testing/harness.ts";

// A process that can write inside the store exchanges a store folder with a
// symlink to a folder outside the store (renameat2 RENAME_EXCHANGE, in a tight
// loop, exchange-folders.py) while the worker deletes the folder's files and
// the dashboard previews its images. Not one outside file may be deleted or
// served; once the swapping stops, the deletions complete. Twice: deleting
// directly, and moving the files into the store's trash.

const DELETED = 300;
const PREVIEWED = 60;
const SWAP_SECONDS = 4;

let h: DeletionHarness;
let outside: string;

function preview(id: bigint): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(
      { port: h.t.service.httpPort, path: `/preview/${id}`, headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      },
    );
    req.on("error", reject);
  });
}

for (const trashRetention of ["0", "7d"]) {
  describe(trashRetention === "0" ? "deleting directly" : "moving to the trash", () => {
    before(async () => {
      // Small batches: each one meets the folder in whatever state the swapping left it.
      h = await startDeletionHarness({
        PENDING_TTL: "0s",
        BLAST_RADIUS_LIMIT: "1000000",
        DELETE_MAX_ATTEMPTS: "100",
        DELETE_BATCH_SIZE: "5",
        TRASH_RETENTION: trashRetention,
      });
      outside = await mkdtemp(path.join(tmpdir(), "outside-"));
    });
    after(async () => {
      await h.stop();
      await rm(outside, { recursive: true, force: true });
    });

    test("a folder swapped with a symlink to outside the store sends no deletion and no preview outside", async () => {
      const folder = path.join(h.diskRoot, "swap");
      await mkdir(folder, { recursive: true });
      const names = [
        ...Array.from({ length: DELETED }, (_, i) => `del-${i}.jpg`),
        ...Array.from({ length: PREVIEWED }, (_, i) => `pic-${i}.png`),
      ];
      for (const name of names) {
        await writeFile(path.join(folder, name), `inside ${name}`);
        await writeFile(path.join(outside, name), `OUTSIDE ${name}`);
      }
      await symlink(outside, path.join(h.diskRoot, "decoy"));
      // Registered with PENDING_TTL=0: the del- files are due at once (deleted once the swapping
      // starts); the pic- files are linked and kept.
      await h.t.admin.pauseDeletions({ reason: "until the swapping starts" });
      const pics: bigint[] = [];
      for (const name of names) {
        const image = name.startsWith("pic-");
        const { media } = await h.t.media.createMedia({
          store: "default",
          key: `swap/${name}`,
          contentType: image ? "image/png" : "image/jpeg",
          sizeBytes: 10n,
        });
        assert.ok(media);
        if (image) {
          await h.t.media.linkMedia({ mediaId: media.id, owner: `gallery/${name}` });
          pics.push(media.id);
        }
      }

      const swapping = promisify(execFile)("python3", [
        path.join(import.meta.dirname, "exchange-folders.py"),
        folder,
        path.join(h.diskRoot, "decoy"),
        String(SWAP_SECONDS),
      ]);
      let done = false;
      void swapping.finally(() => {
        done = true;
      });
      await h.t.admin.resumeDeletions({});
      const served = { inside: 0, refused: 0 };
      const previews = (async () => {
        while (!done) {
          const results = await Promise.all(pics.map(preview));
          for (const r of results) {
            assert.doesNotMatch(r.body, /OUTSIDE/, "a preview served a file outside the store");
            if (r.status === 200) served.inside++;
            else served.refused++;
          }
        }
      })();
      const sweeps = (async () => {
        while (!done) {
          await h.t.admin.runSweep({});
          // Stays: the pace of sweeps while the swapping lasts (SWAP_SECONDS), not a wait for anything.
          await new Promise((r) => setTimeout(r, 100));
        }
      })();
      const { stdout } = await swapping;
      await Promise.all([previews, sweeps]);
      const exchanges = Number(stdout.trim());

      for (const name of names) {
        assert.equal(await readFile(path.join(outside, name), "utf8"), `OUTSIDE ${name}`, `outside file ${name} kept`);
      }
      const refusals = await h.t.sql.query(
        "SELECT count(*)::int AS n FROM media_events WHERE type = 'DELETE_FAILED' AND reason LIKE '%symbolic link%'",
      );
      // Once the swapping stops, what was refused is retried and deleted.
      await waitFor(
        async () => {
          await h.sweep();
          const { rows } = await h.t.sql.query(
            "SELECT count(*)::int AS n FROM media WHERE key LIKE 'swap/del-%' AND state <> 'TRASHED'",
          );
          return rows[0].n === 0;
        },
        "every del- file to be deleted after the swapping",
        30_000,
      );
      for (const name of names) {
        assert.equal(existsSync(path.join(folder, name)), name.startsWith("pic-"), `swap/${name}`);
        assert.equal(existsSync(path.join(outside, name)), true);
      }
      assert.deepEqual(
        (await readdir(outside)).sort(),
        [...names].sort(),
        "nothing was moved into or out of the outside folder",
      );
      assert.ok(exchanges > 100, `the helper made ${exchanges} exchanges`);
      assert.ok(served.inside > 0 && served.refused > 0, "previews met the folder in both states");
      assert.ok(refusals.rows[0].n > 0, "deletions met the symlink");
      process.stdout.write(
        `# ${exchanges} exchanges; previews: ${served.inside} served from the store, ${served.refused} refused; deletions refused at a symlink: ${refusals.rows[0].n}\n`,
      );
    });
  });
}
