// Load generator for `npm run bench flood`, run as its own process. Calls
// GetMedia on random ids from one local address, over gRPC (node:http2, one
// connection) or Connect JSON (HTTP/1.1, keep-alive), with the bench token or
// a wrong one, for `seconds`. `concurrency` calls are kept in flight; with a
// rate, calls start at that rate instead (at most `concurrency` in flight, at
// most `maxCalls` in all), as a flood does. Prints one JSON line: calls, the
// answers by code, calls/s, p50 and p99.
//   node bench/flood-load.ts <grpc|connect> <port> <valid|wrong> <localAddress> <concurrency> <seconds> <maxId> [rate maxCalls]
import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import { create, toBinary } from "@bufbuild/protobuf";
import { GetMediaRequestSchema } from "@media/proto/media/v1/media_service_pb";
import { BENCH_TOKEN, percentile } from "./shared.ts";

const [protocol, port, tokenKind, localAddress = "127.0.0.1", ...numbers] = process.argv.slice(2);
const [concurrency = 1, seconds = 1, maxId = 1, rate = 0, maxCalls = Number.POSITIVE_INFINITY] = numbers.map(Number);
const authorization = `Bearer ${tokenKind === "valid" ? BENCH_TOKEN : "wrong-0123456789abcdef0123456789abcd"}`;
const path = "/media.v1.MediaService/GetMedia";
const randomId = () => BigInt(1 + Math.floor(Math.random() * maxId));

/** Gives the answer's code: a gRPC status name, or the HTTP status of a Connect answer. */
type Call = () => Promise<string>;

const GRPC_CODES: Record<string, string> = {
  "0": "ok",
  "5": "not_found",
  "8": "resource_exhausted",
  "16": "unauthenticated",
};

function grpcCall(): Call {
  const session = http2.connect(`http://127.0.0.1:${port}`, {
    createConnection: () => net.connect({ host: "127.0.0.1", port: Number(port), localAddress }),
  });
  session.on("error", () => {});
  return () =>
    new Promise((resolve) => {
      const body = toBinary(GetMediaRequestSchema, create(GetMediaRequestSchema, { id: randomId() }));
      const framed = Buffer.alloc(5 + body.length);
      framed.writeUInt32BE(body.length, 1);
      framed.set(body, 5);
      const stream = session.request({
        ":method": "POST",
        ":path": path,
        "content-type": "application/grpc",
        te: "trailers",
        authorization,
      });
      let status = "no status";
      stream.on("response", (headers) => {
        status = (headers["grpc-status"] as string | undefined) ?? status;
      });
      stream.on("trailers", (trailers) => {
        status = (trailers["grpc-status"] as string | undefined) ?? status;
      });
      stream.on("data", () => {});
      stream.on("close", () => resolve(GRPC_CODES[status] ?? `grpc-status ${status}`));
      stream.on("error", () => {});
      stream.end(framed);
    });
}

const HTTP_CODES: Record<number, string> = {
  200: "ok",
  404: "not_found",
  429: "resource_exhausted",
  401: "unauthenticated",
};

function connectCall(): Call {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  return () =>
    new Promise((resolve) => {
      const request = http.request(
        {
          host: "127.0.0.1",
          port: Number(port),
          path,
          method: "POST",
          agent,
          localAddress,
          headers: { "content-type": "application/json", authorization },
        },
        (res) => {
          res.resume();
          res.on("end", () => resolve(HTTP_CODES[res.statusCode ?? 0] ?? `http ${res.statusCode}`));
        },
      );
      request.on("error", (error) => resolve(error.message));
      request.end(JSON.stringify({ id: String(randomId()) }));
    });
}

const call = protocol === "grpc" ? grpcCall() : connectCall();
const latencies: number[] = [];
const codes: Record<string, number> = {};
let started = 0;
let inFlight = 0;

async function one(): Promise<void> {
  started++;
  inFlight++;
  const t0 = performance.now();
  const code = await call();
  latencies.push(performance.now() - t0);
  codes[code] = (codes[code] ?? 0) + 1;
  inFlight--;
}

const begin = performance.now();
const until = begin + seconds * 1000;
if (rate > 0) {
  // Open loop: calls start on schedule whatever the answers' latency, up to the in-flight cap.
  const pending = new Set<Promise<void>>();
  while (performance.now() < until && started < maxCalls) {
    const due = Math.min(maxCalls, Math.floor(((performance.now() - begin) / 1000) * rate));
    while (started < due && inFlight < concurrency) {
      const p: Promise<void> = one().then(() => {
        pending.delete(p);
      });
      pending.add(p);
    }
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  await Promise.all(pending);
} else {
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < until) await one();
    }),
  );
}
const elapsed = (performance.now() - begin) / 1000;
latencies.sort((a, b) => a - b);
const pct = (p: number) => percentile(latencies, p);
process.stdout.write(
  `${JSON.stringify({ calls: latencies.length, codes, perSecond: latencies.length / elapsed, p50Ms: pct(0.5), p99Ms: pct(0.99) })}\n`,
);
process.exit(0);
