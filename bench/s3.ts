// `npm run bench s3`: the S3 adapter against s3rver (a real S3 HTTP server,
// disk-backed, on loopback) behind the counting proxy the tests use: how many
// keys each DeleteObjects request carries on full batches, and objects deleted
// per second. BENCH_S3_OBJECTS (10,000).

import { createS3Store, fixedWindow, forEachLimited } from "@media/server/storage";
import {
  objectExists,
  putObject,
  S3RVER_CREDENTIALS,
  s3rverClient,
  startS3FaultProxy,
  startS3rver,
} from "@media/server/testing";
import { fmt, log } from "./shared.ts";

const OBJECTS = Number(process.env.BENCH_S3_OBJECTS ?? 10_000);
const BUCKET = "bench";

const s3rver = await startS3rver(BUCKET);
const proxy = await startS3FaultProxy(s3rver.port);
try {
  const direct = s3rverClient(s3rver.port);
  const keys = Array.from({ length: OBJECTS }, (_, i) => `objects/${i % 100}/${i}.bin`);
  log(`s3 bench: ${fmt(OBJECTS)} objects on s3rver`);
  const putStarted = performance.now();
  await forEachLimited(keys, 32, (key) => putObject(direct, BUCKET, `media/${key}`));
  log(`  uploaded in ${((performance.now() - putStarted) / 1000).toFixed(1)} s`);

  const store = createS3Store("s3", {
    bucket: BUCKET,
    prefix: "media/",
    region: "us-east-1",
    endpoint: proxy.endpoint,
    forcePathStyle: true,
    credentials: S3RVER_CREDENTIALS,
  });
  const started = performance.now();
  let failures = 0;
  for (let i = 0; i < keys.length; i += store.keysPerRequest) {
    const result = await store.deleteMany(keys.slice(i, i + store.keysPerRequest), fixedWindow(60), undefined);
    failures += result.failed.size + result.notAttempted.length;
  }
  const seconds = (performance.now() - started) / 1000;
  const full = proxy.deleteRequests.slice(0, Math.floor(OBJECTS / 1000));
  const left = (await Promise.all(keys.slice(0, 50).map((k) => objectExists(direct, BUCKET, `media/${k}`)))).filter(
    Boolean,
  );
  log(
    [
      "",
      "| objects | DeleteObjects requests | keys per request on full batches (min) | seconds | objects/s | failures |",
      "|---:|---:|---:|---:|---:|---:|",
      `| ${fmt(OBJECTS)} | ${proxy.deleteRequests.length} | ${Math.min(...full)} | ${seconds.toFixed(1)} | ${fmt(OBJECTS / seconds)} | ${failures} |`,
      "",
      `full batches carry ${Math.min(...full)} keys (bar >= 900); ${left.length} of 50 sampled objects remain (expect 0)`,
    ].join("\n"),
  );
} finally {
  await proxy.close();
  await s3rver.stop();
}
