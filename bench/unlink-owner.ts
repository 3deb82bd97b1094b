// `npm run bench unlink-owner`: UnlinkOwner for one owner holding BENCH_REFERENCES
// (1,000,000) references, through the repository the API calls, call after call
// until remaining_count is 0. Reports the calls it took, references per second,
// the slowest call, and the largest answer as the API would encode it (the gRPC
// message cap is 4 MiB).
import { create, toBinary } from "@bufbuild/protobuf";
import { UnlinkOwnerResponseSchema } from "@media/proto/media/v1/media_service_pb";
import { connectDatabase } from "@media/server/db";
import { createMediaRepository, unlinkOwnerToProto } from "@media/server/media";
import { benchDatabase, fmt, log } from "./shared.ts";

const REFERENCES = Number(process.env.BENCH_REFERENCES ?? 1_000_000);
const OWNER = "bench/owner";

const db = await benchDatabase("unlink_owner");
const handle = connectDatabase({ url: db.url, poolSize: 4 });
try {
  log(`unlink-owner bench: one owner with ${fmt(REFERENCES)} references`);
  for (let from = 1; from <= REFERENCES; from += 200_000) {
    await handle.pool.query(
      `WITH m AS (
         INSERT INTO media (store, key, state, reference_count)
         SELECT 'default', 'bench/' || g, 'LINKED', 1 FROM generate_series($1::int, $2::int) g RETURNING id
       ) INSERT INTO media_references (media_id, owner) SELECT id, $3 FROM m`,
      [from, Math.min(REFERENCES, from + 199_999), OWNER],
    );
  }
  await handle.pool.query("VACUUM ANALYZE media, media_references");
  const repo = createMediaRepository(handle);
  const started = performance.now();
  let calls = 0;
  let unlinked = 0;
  let slowest = 0;
  let largest = 0;
  for (;;) {
    const t0 = performance.now();
    const result = await repo.unlinkOwner(OWNER, "bench", 3600);
    slowest = Math.max(slowest, performance.now() - t0);
    largest = Math.max(
      largest,
      toBinary(UnlinkOwnerResponseSchema, create(UnlinkOwnerResponseSchema, unlinkOwnerToProto(result))).length,
    );
    calls++;
    unlinked += result.unlinkedCount;
    if (result.remainingCount === 0) break;
  }
  const seconds = (performance.now() - started) / 1000;
  log(
    [
      "",
      "| references | calls | seconds | references/s | slowest call | largest answer |",
      "|---:|---:|---:|---:|---:|---:|",
      `| ${fmt(unlinked)} | ${calls} | ${seconds.toFixed(1)} | ${fmt(unlinked / seconds)} | ${(slowest / 1000).toFixed(2)} s | ${fmt(largest / 1024)} KiB |`,
    ].join("\n"),
  );
} finally {
  await handle.close();
  await db.stop();
}
