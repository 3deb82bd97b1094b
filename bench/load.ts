// Load generator, run as its own process so it does not share an event loop
// with the server. Speaks gRPC over node:http2 directly with pre-encoded
// messages, so that the client costs as little CPU as possible on a machine
// whose cores it shares with the server and PostgreSQL. Keeps `concurrency`
// unary calls in flight on one HTTP/2 connection for `seconds`, then prints
// one JSON line: calls, errors, req/s, p50, p99. The scenario directLinkUnlink
// bypasses the service: the same SQL functions LinkMedia and UnlinkMedia run,
// called straight on PostgreSQL (BENCH_DIRECT_DATABASE_URL), one call per
// transaction, on one connection per call in flight: the floor the service's
// group commit is measured against.
//   node bench/load.ts <port> <scenario> <concurrency> <seconds> [maxId]
import http2 from "node:http2";
import { create, type DescMessage, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import {
  GetMediaRequestSchema,
  LinkMediaRequestSchema,
  UnlinkMediaRequestSchema,
} from "@media/proto/media/v1/media_service_pb";
import pg from "pg";
import { BENCH_TOKEN, percentile } from "./shared.ts";

const [port, scenario, concurrencyArg, secondsArg, maxIdArg] = process.argv.slice(2);
const concurrency = Number(concurrencyArg);
const seconds = Number(secondsArg);
const maxId = Number(maxIdArg ?? 1);

const session = http2.connect(`http://127.0.0.1:${port}`);
session.on("error", (error) => {
  throw error;
});

/** gRPC length-prefixed framing of one message. */
function frame<S extends DescMessage>(schema: S, init: MessageInitShape<S>): Buffer {
  const body = toBinary(schema, create(schema, init));
  const out = Buffer.alloc(5 + body.length);
  out.writeUInt32BE(body.length, 1);
  out.set(body, 5);
  return out;
}

// grpc.health.v1.HealthCheckRequest{service: ""} encodes to zero bytes.
const EMPTY = Buffer.alloc(5);

/** One unary call; rejects unless grpc-status is 0. */
function unary(path: string, message: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const stream = session.request({
      ":method": "POST",
      ":path": path,
      "content-type": "application/grpc",
      te: "trailers",
      authorization: `Bearer ${BENCH_TOKEN}`,
    });
    let status: string | undefined;
    stream.on("response", (headers) => {
      status = headers["grpc-status"] as string | undefined; // trailers-only responses
    });
    stream.on("trailers", (trailers) => {
      status = trailers["grpc-status"] as string | undefined;
    });
    stream.on("data", () => {});
    stream.on("end", () => (status === "0" ? resolve() : reject(new Error(`grpc-status ${status}`))));
    stream.on("error", reject);
    stream.end(message);
  });
}

const randomId = () => BigInt(1 + Math.floor(Math.random() * maxId));

/** For directLinkUnlink: one connection per call in flight, each statement its own transaction. */
const direct: pg.Client[] = [];
if (scenario === "directLinkUnlink") {
  for (let i = 0; i < concurrency; i++) {
    const client = new pg.Client({ connectionString: process.env.BENCH_DIRECT_DATABASE_URL });
    await client.connect();
    direct.push(client);
  }
}

/** Each scenario makes one operation and returns how many RPCs it took. */
const scenarios: Record<string, (worker: number, n: number) => Promise<number>> = {
  // The ceiling: a unary call on the same server that touches no database.
  health: async () => {
    await unary("/grpc.health.v1.Health/Check", EMPTY);
    return 1;
  },
  get: async () => {
    await unary("/media.v1.MediaService/GetMedia", frame(GetMediaRequestSchema, { id: randomId() }));
    return 1;
  },
  // A link and the matching unlink, each its own durable transaction.
  linkUnlink: async (worker, n) => {
    const request = { mediaId: randomId(), owner: `bench/${process.pid}/${worker}/${n}` };
    await unary("/media.v1.MediaService/LinkMedia", frame(LinkMediaRequestSchema, request));
    await unary("/media.v1.MediaService/UnlinkMedia", frame(UnlinkMediaRequestSchema, request));
    return 2;
  },
  // The same pair without the service: media_link and media_unlink called directly, named (prepared)
  // statements as the service's, each call its own durable transaction.
  directLinkUnlink: async (worker, n) => {
    const client = direct[worker] as pg.Client;
    const values = [randomId().toString(), `bench/${process.pid}/${worker}/${n}`, "bench"];
    await client.query({ name: "link", text: "SELECT outcome FROM media_link($1::bigint, $2, $3)", values });
    await client.query({
      name: "unlink",
      text: "SELECT outcome FROM media_unlink($1::bigint, $2, $3, 3600, 'unlinked')",
      values,
    });
    return 2;
  },
};

const operation = scenarios[scenario ?? ""] as ((worker: number, n: number) => Promise<number>) | undefined;
if (operation === undefined)
  throw new Error(`unknown scenario ${scenario}; known: ${Object.keys(scenarios).join(", ")}`);
const run = operation;

const latencies: number[] = [];
let calls = 0;
let errors = 0;
let firstError = "";

async function drive(until: number, record: boolean): Promise<void> {
  await Promise.all(
    Array.from({ length: concurrency }, async (_, worker) => {
      for (let n = 0; performance.now() < until; n++) {
        const t0 = performance.now();
        try {
          const made = await run(worker, record ? n : -1 - n);
          if (!record) continue;
          calls += made;
          latencies.push(performance.now() - t0);
        } catch (error) {
          errors++;
          firstError ||= String(error);
        }
      }
    }),
  );
}

// Warm up the connection and the server's code paths before timing.
await drive(performance.now() + 2000, false);
const started = performance.now();
await drive(started + seconds * 1000, true);
const elapsed = (performance.now() - started) / 1000;
session.close();
await Promise.all(direct.map((client) => client.end()));
latencies.sort((a, b) => a - b);
const pct = (p: number) => percentile(latencies, p);
process.stdout.write(
  `${JSON.stringify({ scenario, calls, errors, firstError, reqPerSec: calls / elapsed, p50Ms: pct(0.5), p99Ms: pct(0.99) })}\n`,
);
