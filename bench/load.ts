// Load generator, run as its own process so it does not share an event loop
// with the server. Keeps `concurrency` unary calls in flight over one grpc-js
// channel for `seconds`, then prints one JSON line: calls, errors, req/s, p50, p99.
//   node --import tsx bench/load.ts <port> <scenario> <concurrency> <seconds> [maxId]
import * as grpc from "@grpc/grpc-js";
import { MediaService } from "@media/proto/media/v1/media_service_pb";
import { service as healthService } from "grpc-health-check";
import { grpcServiceDefinition } from "../server/src/api/grpc-server.ts";

type Call = (client: grpc.Client & Record<string, Function>, worker: number, n: number) => Promise<number>;

const [port, scenario, concurrencyArg, secondsArg, maxIdArg] = process.argv.slice(2);
const concurrency = Number(concurrencyArg);
const seconds = Number(secondsArg);
const maxId = Number(maxIdArg ?? 1);

function unary(client: grpc.Client & Record<string, Function>, method: string, request: unknown): Promise<void> {
  return new Promise((resolve, reject) =>
    client[method]!.call(client, request, (error: Error | null) => (error ? reject(error) : resolve())),
  );
}

const randomId = () => BigInt(1 + Math.floor(Math.random() * maxId));

/** Each scenario makes one "operation" and returns how many RPCs it took. */
const scenarios: Record<string, { service: grpc.ServiceDefinition; call: Call }> = {
  // The ceiling: a unary call on the same server that touches no database.
  health: {
    service: healthService as grpc.ServiceDefinition,
    call: async (c) => {
      await unary(c, "check", { service: "" });
      return 1;
    },
  },
  get: {
    service: grpcServiceDefinition(MediaService),
    call: async (c) => {
      await unary(c, "getMedia", { id: randomId() });
      return 1;
    },
  },
  // A link and the matching unlink, each its own durable transaction.
  linkUnlink: {
    service: grpcServiceDefinition(MediaService),
    call: async (c, worker, n) => {
      const mediaId = randomId();
      const owner = `bench/${process.pid}/${worker}/${n}`;
      await unary(c, "linkMedia", { mediaId, owner });
      await unary(c, "unlinkMedia", { mediaId, owner });
      return 2;
    },
  },
};

const chosen = scenarios[scenario ?? ""];
if (chosen === undefined) throw new Error(`unknown scenario ${scenario}; known: ${Object.keys(scenarios).join(", ")}`);
const Client = grpc.makeGenericClientConstructor(chosen.service, "Bench");
const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as grpc.Client &
  Record<string, Function>;

const latencies: number[] = [];
let calls = 0;
let errors = 0;
let firstError = "";

// Warm up the channel and the server's code paths before timing.
const warmUntil = performance.now() + 1000;
while (performance.now() < warmUntil) await chosen.call(client, 0, -1);

const started = performance.now();
const stopAt = started + seconds * 1000;
await Promise.all(
  Array.from({ length: concurrency }, async (_, worker) => {
    for (let n = 0; performance.now() < stopAt; n++) {
      const t0 = performance.now();
      try {
        calls += await chosen.call(client, worker, n);
        latencies.push(performance.now() - t0);
      } catch (error) {
        errors++;
        firstError ||= String(error);
      }
    }
  }),
);
const elapsed = (performance.now() - started) / 1000;
latencies.sort((a, b) => a - b);
const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? 0;
client.close();
process.stdout.write(
  `${JSON.stringify({ scenario, calls, errors, firstError, reqPerSec: calls / elapsed, p50Ms: pct(0.5), p99Ms: pct(0.99) })}\n`,
);
