// OpenTelemetry tracing, as an operator turns it on: `npm start` (the API and a worker in one
// process) with OTEL_EXPORTER_OTLP_ENDPOINT pointing at a local OTLP/HTTP receiver, calls on both
// ports carrying a W3C traceparent, and the spans the receiver gets: the calls' server spans as
// the callers' children, their SQL, the sweep RunSweep asks for and the batch it claims, in the
// same trace, and the trace ids in the log lines. Unset, nothing reaches the receiver.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import { createClient } from "@connectrpc/connect";
import { AdminService } from "@media/proto/media/v1/admin_service_pb";
import { MediaService } from "@media/proto/media/v1/media_service_pb";
import { ConfigError, loadConfig } from "../src/config.ts";
import { parseClaimPayload, parseSweepPayload, TASKS } from "../src/deletion/jobs.ts";
import { describeStatement } from "../src/telemetry/sql-spans.ts";
import {
  killAllProcesses,
  type ServiceProcess,
  spawnServiceProcess,
  workerOnlyArgs,
} from "../testing/service-process.ts";
import { connectTransport, createTestDatabase, grpcTransport, waitFor } from "../testing/support.ts";

after(() => killAllProcesses());

/** One span as the receiver decoded it from an OTLP/HTTP JSON export. */
interface ReceivedSpan {
  readonly service: string;
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string;
  readonly name: string;
  readonly kind: number;
  readonly attributes: Record<string, unknown>;
  readonly status: { code?: number; message?: string };
}

const SPAN_KIND = { server: 2, client: 3, consumer: 5 } as const;
const STATUS_ERROR = 2;

/** OTLP/JSON ids are hex; base64 (the protobuf mapping) is decoded in case. */
const hexId = (id: unknown): string => {
  const text = typeof id === "string" ? id : "";
  return /^[0-9a-f]*$/.test(text) ? text : Buffer.from(text, "base64").toString("hex");
};

interface OtlpValue {
  stringValue?: string;
  intValue?: string | number;
  boolValue?: boolean;
  doubleValue?: number;
}
const attributeValue = (v: OtlpValue): unknown =>
  v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : (v.boolValue ?? v.doubleValue));
const attributesOf = (list: Array<{ key: string; value: OtlpValue }> = []) =>
  Object.fromEntries(list.map((a) => [a.key, attributeValue(a.value)]));

/** A local OTLP/HTTP receiver: records every request, and the spans of POST /v1/traces. */
async function startReceiver() {
  const spans: ReceivedSpan[] = [];
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      requests.push(`${req.method} ${req.url} ${req.headers["content-type"]}`);
      if (req.method === "POST" && req.url === "/v1/traces") {
        const body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
        for (const resourceSpans of body.resourceSpans ?? []) {
          const service = String(attributesOf(resourceSpans.resource?.attributes)["service.name"]);
          for (const scopeSpans of resourceSpans.scopeSpans ?? []) {
            for (const s of scopeSpans.spans ?? []) {
              spans.push({
                service,
                traceId: hexId(s.traceId),
                spanId: hexId(s.spanId),
                parentSpanId: hexId(s.parentSpanId ?? ""),
                name: s.name,
                kind: s.kind,
                attributes: attributesOf(s.attributes),
                status: s.status ?? {},
              });
            }
          }
        }
      }
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    spans,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A fresh W3C traceparent of a sampled caller span. */
function callerTrace() {
  const traceId = randomBytes(16).toString("hex");
  const spanId = randomBytes(8).toString("hex");
  return { traceId, spanId, traceparent: `00-${traceId}-${spanId}-01` };
}

/** JSON log lines: all of the output (stdout is not a terminal: no banner). */
const logLines = (output: string) =>
  output
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as Record<string, unknown>);

/** Media are due at once, and only RunSweep sweeps. */
const SETTINGS = { GRPC_PORT: "0", HTTP_PORT: "0", PENDING_TTL: "0s", SWEEP_SCHEDULE: "0 0 1 1 *" };

/** `npm start` (or another entry point) against a fresh database, or the given one. */
async function startProcess(
  dataDir: string,
  env: Record<string, string>,
  entry = ["worker/src/main.ts"],
  databaseUrl?: string,
) {
  const proc = await spawnServiceProcess(entry, {
    DATABASE_URL: databaseUrl ?? (await createTestDatabase()),
    DATA_DIR: dataDir,
    ...SETTINGS,
    ...env,
  });
  const { grpc: grpcPort = 0, http: httpPort = 0 } = proc.startup.ports;
  assert.ok(entry.includes("--worker-only") || (grpcPort > 0 && httpPort > 0), proc.output());
  return { proc, grpcPort, httpPort };
}

async function stopProcess(proc: ServiceProcess): Promise<void> {
  proc.child.kill("SIGTERM");
  assert.equal(await proc.exited, 0, proc.output());
}

describe("tracing on (OTEL_EXPORTER_OTLP_ENDPOINT set)", () => {
  test("calls on both ports continue their callers' traces, with SQL spans; RunSweep's jobs continue its trace; logs carry the ids", async () => {
    const receiver = await startReceiver();
    const dataDir = await mkdtemp(path.join(tmpdir(), "telemetry-"));
    try {
      const { proc, grpcPort, httpPort } = await startProcess(dataDir, {
        LOG_LEVEL: "debug",
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_BSP_SCHEDULE_DELAY: "100",
      });
      const onConnect = callerTrace();
      const onGrpc = callerTrace();
      const sweepTrace = callerTrace();

      const media = createClient(MediaService, connectTransport(httpPort));
      await media.createMedia(
        { store: "default", key: "traced/connect.jpg" },
        { headers: { traceparent: onConnect.traceparent, tracestate: "caller=connect" } },
      );
      const grpcMedia = createClient(MediaService, grpcTransport(grpcPort));
      await grpcMedia.createMedia(
        { store: "default", key: "traced/grpc.jpg" },
        { headers: { traceparent: onGrpc.traceparent } },
      );
      // A failed call: its span has error status and its code.
      await assert.rejects(media.getMedia({ id: 999_999_999n }, { headers: { traceparent: onConnect.traceparent } }));
      const admin = createClient(AdminService, connectTransport(httpPort));
      await admin.runSweep({}, { headers: { traceparent: sweepTrace.traceparent } });

      const find = (traceId: string, name: string, parentSpanId?: string) =>
        receiver.spans.find(
          (s) =>
            s.traceId === traceId && s.name === name && (parentSpanId === undefined || s.parentSpanId === parentSpanId),
        );
      const childrenOf = (span: ReceivedSpan) =>
        receiver.spans.filter((s) => s.traceId === span.traceId && s.parentSpanId === span.spanId);
      const explain = async () =>
        `\nreceived: ${receiver.spans.map((s) => `${s.traceId.slice(0, 8)} ${s.name}`).join(", ")}\n${proc.output().slice(-3000)}`;

      // --- the RPC spans, children of their callers' spans, with SQL children.
      for (const [caller, system] of [
        [onConnect, "connect_rpc"],
        [onGrpc, "grpc"],
      ] as const) {
        await waitFor(
          () => {
            const rpc = find(caller.traceId, "media.v1.MediaService/CreateMedia", caller.spanId);
            return rpc !== undefined && childrenOf(rpc).some((s) => s.attributes["db.system"] === "postgresql");
          },
          `the ${system} CreateMedia span and its SQL spans`,
          15_000,
          explain,
        );
        const rpc = find(caller.traceId, "media.v1.MediaService/CreateMedia", caller.spanId) as ReceivedSpan;
        assert.equal(rpc.kind, SPAN_KIND.server);
        assert.equal(rpc.service, "media-lifecycle-api");
        assert.equal(rpc.attributes["rpc.system"], system);
        assert.equal(rpc.attributes["rpc.service"], "media.v1.MediaService");
        assert.equal(rpc.attributes["rpc.method"], "CreateMedia");
        assert.equal(rpc.attributes["rpc.grpc.status_code"], 0);
        const sql = childrenOf(rpc).filter((s) => s.attributes["db.system"] === "postgresql");
        for (const statement of sql) {
          assert.equal(statement.kind, SPAN_KIND.client);
          assert.equal(typeof statement.attributes["db.operation.name"], "string");
          // What ran, never with what: no statement text, no parameter value.
          assert.equal(statement.attributes["db.query.text"], undefined);
          assert.doesNotMatch(JSON.stringify(statement), /traced\/(connect|grpc)\.jpg/);
        }
      }
      await waitFor(
        () => find(onConnect.traceId, "media.v1.MediaService/GetMedia") !== undefined,
        "the failed GetMedia span",
        15_000,
        explain,
      );
      const failed = find(onConnect.traceId, "media.v1.MediaService/GetMedia") as ReceivedSpan;
      assert.equal(failed.status.code, STATUS_ERROR);
      assert.equal(failed.attributes["rpc.grpc.status_code"], 5);
      assert.equal(failed.attributes["error.type"], "not_found");

      // --- RunSweep → its sweep job → the delete_batch job the sweep enqueued, one trace.
      // Each job's span ends after its children, the batch's after the sweep enqueued it.
      const inSweepTrace = (name: string) =>
        receiver.spans.some((s) => s.traceId === sweepTrace.traceId && s.name === name);
      await waitFor(
        () => ["media.v1.AdminService/RunSweep", "process sweep", "process delete_batch"].every(inSweepTrace),
        "RunSweep's call, sweep and batch spans in its trace",
        30_000,
        explain,
      );
      const runSweep = find(sweepTrace.traceId, "media.v1.AdminService/RunSweep", sweepTrace.spanId) as ReceivedSpan;
      assert.ok(runSweep, await explain());
      const sweep = find(sweepTrace.traceId, "process sweep", runSweep.spanId) as ReceivedSpan;
      assert.ok(sweep, `the sweep continues RunSweep's span${await explain()}`);
      assert.equal(sweep.kind, SPAN_KIND.consumer);
      assert.equal(sweep.attributes["messaging.destination.name"], "sweep");
      assert.equal(sweep.attributes["media.sweep.claimed"], 2);
      assert.ok(
        childrenOf(sweep).some((s) => s.attributes["db.system"] === "postgresql"),
        "the sweep's SQL is traced",
      );
      const batch = find(sweepTrace.traceId, "process delete_batch", sweep.spanId) as ReceivedSpan;
      assert.ok(batch, `the batch continues the sweep's span${await explain()}`);
      assert.match(String(batch.attributes["media.deletion.claim"]), /^[0-9a-f-]{36}$/);
      const storage = childrenOf(batch).filter((s) => s.name.startsWith("storage "));
      // TRASH_RETENTION's default: the files go to the trash.
      assert.deepEqual(storage.map((s) => s.name).sort(), ["storage note", "storage trashMany"]);
      for (const call of storage) {
        assert.equal(call.attributes["media.store.name"], "default");
        assert.equal(call.attributes["media.storage.key_count"], 2);
      }

      // --- Log lines inside a call or a job carry its trace and span ids.
      await waitFor(
        () => logLines(proc.output()).some((l) => l.msg === "batch finished"),
        "the batch's log line",
        15_000,
        explain,
      );
      const lines = logLines(proc.output());
      const rpcLine = lines.find((l) => l.msg === "rpc" && l.trace_id === onConnect.traceId);
      const connectSpan = find(onConnect.traceId, "media.v1.MediaService/CreateMedia") as ReceivedSpan;
      assert.ok(rpcLine, "the call's debug line carries the caller's trace id");
      assert.equal(rpcLine.span_id, connectSpan.spanId);
      const batchLine = lines.find((l) => l.msg === "batch finished");
      assert.equal(batchLine?.trace_id, sweepTrace.traceId);
      assert.equal(batchLine?.span_id, batch.spanId);
      assert.deepEqual(
        lines.filter((l) => l.msg === "rpc" && l.trace_id === undefined),
        [],
        "every call's line has its trace",
      );

      await stopProcess(proc);
      assert.ok(
        receiver.requests.every((r) => r.startsWith("POST /v1/traces application/json")),
        receiver.requests.join("\n"),
      );
    } finally {
      await receiver.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  test("an API process and a worker alone: RunSweep's job continues its trace in the worker, under the worker's name", async () => {
    const receiver = await startReceiver();
    const dataDir = await mkdtemp(path.join(tmpdir(), "telemetry-apart-"));
    try {
      const databaseUrl = await createTestDatabase();
      const tracing = { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_BSP_SCHEDULE_DELAY: "100" };
      // The worker first: it creates the job queue RunSweep adds to.
      const worker = await startProcess(dataDir, tracing, workerOnlyArgs(), databaseUrl);
      const api = await startProcess(dataDir, tracing, ["server/src/main.ts"], databaseUrl);
      const media = createClient(MediaService, grpcTransport(api.grpcPort));
      await media.createMedia({ store: "default", key: "apart/a.jpg" });
      const caller = callerTrace();
      await createClient(AdminService, grpcTransport(api.grpcPort)).runSweep(
        {},
        { headers: { traceparent: caller.traceparent, tracestate: "caller=apart" } },
      );
      const named = (name: string) => receiver.spans.find((s) => s.traceId === caller.traceId && s.name === name);
      await waitFor(
        () => named("process delete_batch") !== undefined && named("process sweep") !== undefined,
        "the worker's job spans in RunSweep's trace",
        30_000,
        async () => `\n${receiver.spans.map((s) => `${s.service} ${s.traceId.slice(0, 8)} ${s.name}`).join(", ")}`,
      );
      const runSweep = named("media.v1.AdminService/RunSweep") as ReceivedSpan;
      const sweep = named("process sweep") as ReceivedSpan;
      const batch = named("process delete_batch") as ReceivedSpan;
      assert.equal(runSweep.service, "media-lifecycle-api");
      assert.equal(runSweep.parentSpanId, caller.spanId);
      assert.equal(sweep.service, "media-lifecycle-worker");
      assert.equal(sweep.parentSpanId, runSweep.spanId);
      assert.equal(batch.service, "media-lifecycle-worker");
      assert.equal(batch.parentSpanId, sweep.spanId);
      await stopProcess(api.proc);
      await stopProcess(worker.proc);
    } finally {
      await receiver.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe("tracing off (OTEL_EXPORTER_OTLP_ENDPOINT unset)", () => {
  test("nothing is exported, even with the SDK's own variables set; logs carry no trace ids", async () => {
    const receiver = await startReceiver();
    const dataDir = await mkdtemp(path.join(tmpdir(), "telemetry-off-"));
    try {
      const { proc, grpcPort, httpPort } = await startProcess(dataDir, {
        LOG_LEVEL: "debug",
        OTEL_EXPORTER_OTLP_ENDPOINT: "",
        // Read by the OpenTelemetry exporter itself, were one ever made; the service reads only the above.
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${receiver.url}/v1/traces`,
        OTEL_BSP_SCHEDULE_DELAY: "100",
      });
      const caller = callerTrace();
      const headers = { traceparent: caller.traceparent };
      await createClient(MediaService, connectTransport(httpPort)).createMedia(
        { store: "default", key: "untraced/a.jpg" },
        { headers },
      );
      await createClient(MediaService, grpcTransport(grpcPort)).createMedia(
        { store: "default", key: "untraced/b.jpg" },
        { headers },
      );
      await createClient(AdminService, connectTransport(httpPort)).runSweep({}, { headers });
      await waitFor(
        () => logLines(proc.output()).some((l) => l.msg === "batch finished"),
        "the swept batch",
        30_000,
        async () => proc.output().slice(-3000),
      );
      // The stop would flush any span still queued.
      await stopProcess(proc);
      assert.deepEqual(receiver.requests, []);
      const lines = logLines(proc.output());
      assert.ok(lines.some((l) => l.msg === "rpc"));
      assert.deepEqual(
        lines.filter((l) => "trace_id" in l || "span_id" in l),
        [],
      );
    } finally {
      await receiver.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe("settings", () => {
  test("the endpoint gets /v1/traces; a bad value stops start-up naming the variable, never quoting headers", () => {
    const base = { AUTH_TOKENS: "" };
    assert.equal(loadConfig(base).telemetry.tracesUrl, undefined);
    const on = loadConfig({ ...base, OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318" }).telemetry;
    assert.equal(on.tracesUrl, "http://collector:4318/v1/traces");
    assert.equal(
      loadConfig({ ...base, OTEL_EXPORTER_OTLP_ENDPOINT: "https://otlp.example/base/" }).telemetry.tracesUrl,
      "https://otlp.example/base/v1/traces",
    );
    assert.equal(on.sampler, "parentbased_always_on");
    assert.equal(on.exportDelayMs, 5000);
    assert.equal(on.serviceName, undefined);
    const headers = loadConfig({ ...base, OTEL_EXPORTER_OTLP_HEADERS: "x-api-key=s%3Dcret, X-Team=media" });
    assert.deepEqual(headers.telemetry.headers, { "x-api-key": "s=cret", "x-team": "media" });
    for (const [name, value] of [
      ["OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318"],
      ["OTEL_EXPORTER_OTLP_ENDPOINT", "ftp://collector"],
      ["OTEL_EXPORTER_OTLP_HEADERS", "secret-without-a-name"],
      ["OTEL_TRACES_SAMPLER", "sometimes"],
      ["OTEL_TRACES_SAMPLER_ARG", "1.5"],
      ["OTEL_BSP_SCHEDULE_DELAY", "5s"],
    ] as const) {
      assert.throws(
        () => loadConfig({ ...base, [name]: value }),
        (error: Error) => {
          assert.ok(error instanceof ConfigError);
          assert.ok(error.message.includes(name), error.message);
          if (name === "OTEL_EXPORTER_OTLP_HEADERS") assert.ok(!error.message.includes("secret"), error.message);
          return true;
        },
      );
    }
  });
});

describe("job payloads", () => {
  const token = "0b4f3c3e-8d3c-4a53-9a8e-1d2f3a4b5c6d";
  const traceparent = `00-${"ab".repeat(16)}-${"cd".repeat(8)}-01`;

  test("delete_batch and sweep payloads accept the trace they continue", () => {
    assert.deepEqual(parseClaimPayload(TASKS.deleteBatch, { token }), { token });
    assert.deepEqual(parseClaimPayload(TASKS.deleteBatch, { token, traceparent }), { token, traceparent });
    assert.deepEqual(parseClaimPayload(TASKS.deleteBatch, { token, traceparent, tracestate: "a=1,b=2" }), {
      token,
      traceparent,
      tracestate: "a=1,b=2",
    });
    assert.deepEqual(parseSweepPayload({}), {});
    assert.deepEqual(parseSweepPayload(null), {});
    assert.deepEqual(parseSweepPayload({ _cron: { ts: "2026-01-01T00:00:00Z", backfilled: false } }), {});
    assert.deepEqual(parseSweepPayload({ traceparent }), { traceparent });
  });

  test("malformed payloads are still refused", () => {
    for (const payload of [
      null,
      {},
      { token: "not-a-uuid", traceparent },
      { token, traceparent: "00-abc-def-01" },
      { token, traceparent: traceparent.toUpperCase() },
      { token, traceparent: 42 },
      { token, tracestate: "a=1" },
      { token, traceparent, tracestate: "bad\nvalue" },
      { token, traceparent, tracestate: "x".repeat(513) },
    ]) {
      assert.throws(() => parseClaimPayload(TASKS.deleteBatch, payload), /delete_batch/, JSON.stringify(payload));
    }
    assert.throws(() => parseSweepPayload({ traceparent: "nope" }), /sweep: the payload's traceparent/);
  });
});

describe("SQL span names", () => {
  test("a statement's name, or its operation and table; never a value", () => {
    const cases: Array<[unknown, string, string]> = [
      [{ name: "media_by_ids", text: "SELECT * FROM media WHERE id = ANY($1)" }, "SELECT", "media_by_ids"],
      ['select "id" from "media" where "key" like $1 order by "id" limit $2', "SELECT", "SELECT media"],
      ["INSERT INTO media_events (media_id, type) VALUES ($1, $2)", "INSERT", "INSERT media_events"],
      ["UPDATE deletion_claims SET renew_time = now() WHERE token = $1", "UPDATE", "UPDATE deletion_claims"],
      [
        "WITH due AS (SELECT id FROM media FOR UPDATE SKIP LOCKED), c AS (UPDATE media m SET state = 'DELETING') SELECT 1",
        "UPDATE",
        "UPDATE media",
      ],
      ["SELECT graphile_worker.add_job('sweep', $1::json)", "SELECT", "SELECT graphile_worker.add_job"],
      ["SELECT extract(epoch FROM now())", "SELECT", "SELECT extract"],
      ["COMMIT", "COMMIT", "COMMIT"],
      ["SELECT 'blog/posts/42' AS owner", "SELECT", "SELECT"],
    ];
    for (const [query, operation, summary] of cases) {
      assert.deepEqual(describeStatement(query), { operation, summary }, JSON.stringify(query));
    }
  });
});
