// The baseline the deletion benchmark compares against: the naive design, one
// graphile-worker job per file (look the media up, delete the file, then its
// row and event), with no claim and no batch. It runs on the service's pools
// and its lookup by id; deleting the row is its own statement, because the
// engine's (finishBatch) deletes only rows a claim holds.
//   node bench/one-job-per-file.ts <databaseUrl> <diskRoot> <concurrency>
import { unlink } from "node:fs/promises";
import path from "node:path";
import { connectDatabase } from "@media/server/db";
import { createMediaRepository } from "@media/server/media";
import { run } from "graphile-worker";

const [databaseUrl, diskRoot, concurrency] = process.argv.slice(2) as [string, string, string];
const poolSize = Number(concurrency) + 2;
const tasks = connectDatabase({ url: databaseUrl, poolSize });
const queue = connectDatabase({ url: databaseUrl, poolSize });
const media = createMediaRepository(tasks);

const runner = await run({
  pgPool: queue.pool,
  concurrency: Number(concurrency),
  noHandleSignals: false,
  pollInterval: 1000,
  logger: undefined,
  taskList: {
    async delete_one(payload) {
      const id = (payload as { id: string }).id;
      const [row] = await media.findByIds([id]);
      if (row === undefined) return;
      await unlink(path.join(diskRoot, row.key)).catch((e) => {
        if (e.code !== "ENOENT") throw e;
      });
      await tasks.pool.query(
        `WITH gone AS (DELETE FROM media WHERE id = $1 RETURNING id, store)
         INSERT INTO media_events (media_id, type, from_state, actor, reason, store)
         SELECT id, 'DELETED', 'ORPHANED', 'baseline', 'one job per file', store FROM gone`,
        [id],
      );
    },
  },
});
process.stdout.write("baseline worker is up\n");
await runner.promise;
await queue.close();
await tasks.close();
