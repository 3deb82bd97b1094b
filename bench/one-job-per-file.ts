// The baseline the deletion benchmark compares against: the naive design, one
// graphile-worker job per file (delete the file, then its row and event).
//   node bench/one-job-per-file.ts <databaseUrl> <diskRoot> <concurrency>
import { unlink } from "node:fs/promises";
import path from "node:path";
import { run } from "graphile-worker";
import pg from "pg";

const [databaseUrl, diskRoot, concurrency] = process.argv.slice(2) as [string, string, string];
const pool = new pg.Pool({ connectionString: databaseUrl, max: Number(concurrency) + 2 });

const runner = await run({
  connectionString: databaseUrl,
  concurrency: Number(concurrency),
  noHandleSignals: false,
  pollInterval: 1000,
  logger: undefined,
  taskList: {
    async delete_one(payload) {
      const id = (payload as { id: string }).id;
      const { rows } = await pool.query("SELECT key FROM media WHERE id = $1", [id]);
      if (rows[0] === undefined) return;
      await unlink(path.join(diskRoot, rows[0].key)).catch((e) => {
        if (e.code !== "ENOENT") throw e;
      });
      await pool.query(
        `WITH gone AS (DELETE FROM media WHERE id = $1 RETURNING id)
         INSERT INTO media_events (media_id, type, from_state, actor, reason)
         SELECT id, 'DELETED', 'ORPHANED', 'baseline', 'one job per file' FROM gone`,
        [id],
      );
    },
  },
});
process.stdout.write("baseline worker is up\n");
await runner.promise;
await pool.end();
