import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { type DescMessage, fromBinary, type MessageShape } from "@bufbuild/protobuf";
import { type Any, anyIs, anyUnpack, durationMs } from "@bufbuild/protobuf/wkt";
import { type Client, Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import type * as grpc from "@grpc/grpc-js";
import { credentials, Client as GrpcClient } from "@grpc/grpc-js";
import {
  BadRequestSchema,
  ErrorInfoSchema,
  PreconditionFailureSchema,
  RetryInfoSchema,
} from "@media/proto/google/rpc/error_details_pb";
import { StatusSchema } from "@media/proto/google/rpc/status_pb";
import { AdminService } from "@media/proto/media/v1/admin_service_pb";
import { MediaService } from "@media/proto/media/v1/media_service_pb";
import * as errors from "../src/api/errors.ts";
import { STATUS_DETAILS_TRAILER } from "../src/api/grpc-status.ts";
import { rpcCodeName } from "../src/metrics/rpc-code.ts";
import {
  bearer,
  bearerMetadata,
  expectCode,
  grpcCall,
  grpcJsMediaClient,
  startTestService,
  TEST_ADMIN_TOKEN,
  TEST_SERVICE_TOKEN,
  TEST_TOKENS_ENV,
  type TestService,
} from "../testing/support.ts";

// Structured errors (google.rpc details, docs/api.md#error-details) on every
// protocol of both ports: Connect and gRPC-Web on the HTTP port, gRPC on the
// gRPC port, read back by Connect clients (findDetails) and by a plain grpc-js
// client (the binary google.rpc.Status in grpc-status-details-bin).

const BUSY_TOKEN = "test-busy-0123456789abcdef0123456789abcd";
const RATE_LIMIT = 5;
const WRONG_TOKEN = "not-a-token-0123456789abcdef0123456789";

let t: TestService;
before(async () => {
  t = await startTestService({
    AUTH_TOKENS: `${TEST_TOKENS_ENV.AUTH_TOKENS},test-busy:service:${BUSY_TOKEN}`,
    RATE_LIMIT: String(RATE_LIMIT),
    // Enough for every other call this file makes with one token; the busy token spends it.
    RATE_LIMIT_BURST: "100",
  });
});
after(() => t.stop());

interface Protocol {
  readonly name: string;
  readonly media: Client<typeof MediaService>;
  readonly admin: Client<typeof AdminService>;
}

/** Connect and gRPC-Web on the HTTP port, gRPC (Connect's client) on the gRPC port, from localAddress. */
function protocols(token: string | null = TEST_ADMIN_TOKEN, localAddress = "127.0.0.1"): Protocol[] {
  const http = { baseUrl: `http://127.0.0.1:${t.service.httpPort}`, httpVersion: "1.1" as const };
  const transports = [
    [
      "Connect (HTTP port)",
      createConnectTransport({ ...http, interceptors: [bearer(token)], nodeOptions: { localAddress } }),
    ],
    [
      "gRPC-Web (HTTP port)",
      createGrpcWebTransport({ ...http, interceptors: [bearer(token)], nodeOptions: { localAddress } }),
    ],
    [
      "gRPC (gRPC port)",
      createGrpcTransport({
        baseUrl: `http://127.0.0.1:${t.service.grpcPort}`,
        interceptors: [bearer(token)],
        nodeOptions: {
          createConnection: () => net.connect({ host: "127.0.0.1", port: t.service.grpcPort, localAddress }),
        },
      }),
    ],
  ] as const;
  return transports.map(([name, transport]) => ({
    name,
    media: createClient(MediaService, transport),
    admin: createClient(AdminService, transport),
  }));
}

/** The one detail of a type an error carries (failing when it has none or several). */
function only<Desc extends DescMessage>(error: ConnectError, desc: Desc, where: string): MessageShape<Desc> {
  const found = error.findDetails(desc);
  assert.equal(
    found.length,
    1,
    `${where}: one ${desc.typeName} in ${error.details.map((d) => ("desc" in d ? d.desc.typeName : d.type))}`,
  );
  return found[0] as MessageShape<Desc>;
}

function assertErrorInfo(error: ConnectError, reason: string, metadata: Record<string, string>, where: string) {
  const info = only(error, ErrorInfoSchema, where);
  assert.equal(info.reason, reason, where);
  assert.equal(info.domain, "media-lifecycle", where);
  for (const [key, value] of Object.entries(metadata)) assert.equal(info.metadata[key], value, `${where}: ${key}`);
}

/** Creates a media and forces it into a state no Link may leave, as a worker's claim (or its failures) would. */
async function mediaIn(state: "DELETING" | "FAILED", key: string): Promise<bigint> {
  const { media } = await t.media.createMedia({ store: "default", key });
  assert.ok(media);
  await t.sql.query(
    `UPDATE media SET state = $2::media_state, claim_token = gen_random_uuid(), claim_time = now(),
       delete_time = CASE WHEN $2::media_state = 'FAILED' THEN NULL ELSE delete_time END WHERE id = $1`,
    [media.id.toString(), state],
  );
  return media.id;
}

describe("Connect clients read the details on every protocol of both ports", () => {
  test("a bad CreateMedia: BadRequest names the field, ErrorInfo INVALID_ARGUMENT", async () => {
    for (const { name, media } of protocols()) {
      const error = await expectCode(media.createMedia({ store: "default", key: "" }), Code.InvalidArgument);
      assert.equal(error.rawMessage, "key: must not be empty", name);
      const violation = only(error, BadRequestSchema, name).fieldViolations;
      assert.deepEqual(
        violation.map((v) => [v.field, v.description]),
        [["key", "must not be empty"]],
        name,
      );
      assertErrorInfo(error, "INVALID_ARGUMENT", { field: "key" }, name);

      const label = await expectCode(
        media.createMedia({ store: "default", key: "a.jpg", labels: { "-x": "1" } }),
        Code.InvalidArgument,
      );
      assert.equal(only(label, BadRequestSchema, name).fieldViolations[0]?.field, 'labels["-x"]', name);
    }
  });

  test("GetMedia of an unknown id: ErrorInfo MEDIA_NOT_FOUND with the id", async () => {
    for (const { name, media } of protocols()) {
      const error = await expectCode(media.getMedia({ id: 987_654n }), Code.NotFound);
      assertErrorInfo(error, "MEDIA_NOT_FOUND", { media_id: "987654" }, name);
      assert.deepEqual(error.findDetails(BadRequestSchema), [], name);
    }
  });

  test("LinkMedia on a DELETING or FAILED media: PreconditionFailure on the media's state", async () => {
    for (const state of ["DELETING", "FAILED"] as const) {
      const id = await mediaIn(state, `details/${state}.jpg`);
      for (const { name, media } of protocols()) {
        const where = `${name}, ${state}`;
        const error = await expectCode(media.linkMedia({ mediaId: id, owner: "a/b" }), Code.FailedPrecondition);
        const [violation] = only(error, PreconditionFailureSchema, where).violations;
        assert.equal(violation?.type, "STATE", where);
        assert.equal(violation?.subject, `media/${id}`, where);
        assert.equal(violation?.description, `media is ${state}: it can no longer be linked`, where);
        assertErrorInfo(error, "MEDIA_BEING_DELETED", { media_id: String(id), state }, where);
      }
    }
  });

  test("an admin action the media's state refuses: PreconditionFailure and ACTION_REFUSED", async () => {
    const { media: pending } = await t.media.createMedia({ store: "default", key: "details/pending.jpg" });
    assert.ok(pending);
    for (const { name, admin } of protocols()) {
      const error = await expectCode(admin.retryMedia({ mediaId: pending.id }), Code.FailedPrecondition);
      const [violation] = only(error, PreconditionFailureSchema, name).violations;
      assert.deepEqual(
        [violation?.type, violation?.subject, violation?.description],
        ["STATE", `media/${pending.id}`, "media is PENDING: only FAILED media can be retried"],
        name,
      );
      assertErrorInfo(error, "ACTION_REFUSED", { media_id: String(pending.id), state: "PENDING" }, name);
    }
  });

  test("a token over its rate limit: RetryInfo (1/RATE_LIMIT s) and RATE_LIMIT_EXCEEDED", async () => {
    for (const { name, media } of protocols(BUSY_TOKEN)) {
      let refusal: ConnectError | undefined;
      for (let i = 0; i < 1000 && refusal === undefined; i++) {
        try {
          await media.getMedia({ id: 987_654n });
        } catch (error) {
          const e = ConnectError.from(error);
          if (e.code === Code.ResourceExhausted) refusal = e;
          else assert.equal(e.code, Code.NotFound, `${name}: ${e.message}`);
        }
      }
      assert.ok(refusal, `${name}: no call was refused`);
      const { retryDelay } = only(refusal, RetryInfoSchema, name);
      assert.ok(retryDelay, name);
      assert.equal(durationMs(retryDelay), 1000 / RATE_LIMIT, name);
      assertErrorInfo(refusal, "RATE_LIMIT_EXCEEDED", { token: "test-busy", limit_per_second: "5" }, name);
    }
  });

  test("the gate's refusals (no token, an unknown token, too many of them) carry details too", async () => {
    for (const { name, media } of protocols(null)) {
      assertErrorInfo(await expectCode(media.getMedia({ id: 1n }), Code.Unauthenticated), "TOKEN_MISSING", {}, name);
    }
    for (const { name, media } of protocols(WRONG_TOKEN)) {
      assertErrorInfo(await expectCode(media.getMedia({ id: 1n }), Code.Unauthenticated), "TOKEN_UNKNOWN", {}, name);
    }
    // Each protocol floods from an address of its own: the budget is per address.
    for (const [i, name] of protocols()
      .map((p) => p.name)
      .entries()) {
      const peer = `127.0.0.${20 + i}`;
      const flooding = protocols(WRONG_TOKEN, peer)[i]?.media;
      assert.ok(flooding);
      let refusal: ConnectError | undefined;
      for (let n = 0; n < 1000 && refusal === undefined; n++) {
        try {
          await flooding.getMedia({ id: 1n });
          assert.fail(`${name}: a wrong token was accepted`);
        } catch (error) {
          const e = ConnectError.from(error);
          if (e.code === Code.ResourceExhausted) refusal = e;
          else assert.equal(e.code, Code.Unauthenticated, `${name}: ${e.message}`);
        }
      }
      assert.ok(refusal, name);
      const retryAfter = Number(refusal.metadata.get("retry-after"));
      assert.ok(retryAfter >= 1, `${name}: retry-after ${refusal.metadata.get("retry-after")}`);
      const { retryDelay } = only(refusal, RetryInfoSchema, name);
      assert.ok(retryDelay, name);
      assert.equal(durationMs(retryDelay), retryAfter * 1000, name);
      assertErrorInfo(refusal, "AUTH_FAILURE_LIMIT_EXCEEDED", { peer }, name);
    }
  });

  test("a service token on AdminService: INSUFFICIENT_SCOPE naming the scope it needs", async () => {
    for (const { name, admin } of protocols(TEST_SERVICE_TOKEN)) {
      const error = await expectCode(admin.getStats({}), Code.PermissionDenied);
      assertErrorInfo(error, "INSUFFICIENT_SCOPE", { token: "test-service", needed_scope: "admin" }, name);
    }
  });

  test("a deadline over MAX_DEADLINE: BadRequest on deadline, DEADLINE_TOO_LONG", async () => {
    for (const { name, media } of protocols()) {
      const error = await expectCode(media.getMedia({ id: 1n }, { timeoutMs: 180_000 }), Code.InvalidArgument);
      assert.equal(only(error, BadRequestSchema, name).fieldViolations[0]?.field, "deadline", name);
      assertErrorInfo(error, "DEADLINE_TOO_LONG", { field: "deadline", max_deadline_seconds: "120" }, name);
    }
  });

  test("a request that does not parse (Connect JSON): BadRequest on the field it names, MALFORMED_REQUEST", async () => {
    const answer = await fetch(`http://127.0.0.1:${t.service.httpPort}/media.v1.AdminService/ListMedia`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${TEST_ADMIN_TOKEN}` },
      body: '{"pageSize":"ten"}',
    });
    assert.equal(answer.status, 400);
    const body = (await answer.json()) as {
      message: string;
      details?: Array<{ type: string; value: string; debug?: unknown }>;
    };
    const detail = (desc: DescMessage) => {
      const found = body.details?.find((d) => d.type === desc.typeName);
      assert.ok(found, `${desc.typeName} in ${JSON.stringify(body)}`);
      return fromBinary(desc, Buffer.from(found.value, "base64"));
    };
    const badRequest = detail(BadRequestSchema) as MessageShape<typeof BadRequestSchema>;
    assert.equal(body.message, 'page_size: expected number (int32), got "ten"');
    assert.deepEqual(
      badRequest.fieldViolations.map((v) => [v.field, v.description]),
      [["page_size", 'expected number (int32), got "ten"']],
    );
    const info = detail(ErrorInfoSchema) as MessageShape<typeof ErrorInfoSchema>;
    assert.equal(info.reason, "MALFORMED_REQUEST");
    assert.equal(info.metadata.message_type, "media.v1.ListMediaRequest");
    // What curl shows: each detail as JSON too (docs/api.md#error-details).
    assert.deepEqual(
      body.details?.map((d) => [d.type, d.debug]),
      [
        [
          "google.rpc.ErrorInfo",
          {
            reason: "MALFORMED_REQUEST",
            domain: "media-lifecycle",
            metadata: { message_type: "media.v1.ListMediaRequest", field: "page_size" },
          },
        ],
        [
          "google.rpc.BadRequest",
          { fieldViolations: [{ field: "page_size", description: 'expected number (int32), got "ten"' }] },
        ],
      ],
    );
  });
});

/** The google.rpc.Status a plain grpc-js client finds in the trailers of a failed call. */
function statusOf(error: grpc.ServiceError) {
  const [bytes] = error.metadata.get(STATUS_DETAILS_TRAILER);
  assert.ok(Buffer.isBuffer(bytes), `${STATUS_DETAILS_TRAILER} in ${JSON.stringify(error.metadata.getMap())}`);
  const status = fromBinary(StatusSchema, bytes);
  // The same code and message as the call's own status.
  assert.equal(status.code, error.code);
  assert.equal(status.message, error.details);
  const unpack = <Desc extends DescMessage>(desc: Desc) =>
    status.details.filter((any: Any) => anyIs(any, desc)).map((any: Any) => anyUnpack(any, desc) as MessageShape<Desc>);
  return {
    status,
    info: unpack(ErrorInfoSchema),
    badRequest: unpack(BadRequestSchema),
    precondition: unpack(PreconditionFailureSchema),
    retry: unpack(RetryInfoSchema),
  };
}

const failure = async (call: Promise<unknown>, code: Code): Promise<grpc.ServiceError> => {
  const error = await call.then(
    () => assert.fail(`expected code ${code}`),
    (e: grpc.ServiceError) => e,
  );
  assert.equal(error.code, code, error.details);
  return error;
};

describe("a plain grpc-js client decodes grpc-status-details-bin as google.rpc.Status", () => {
  test("a bad CreateMedia, an unknown id, a Link on a DELETING media", async () => {
    const client = grpcJsMediaClient(t.service.grpcPort);
    try {
      const bad = statusOf(
        await failure(grpcCall(client, "createMedia", { store: "default", key: "" }), Code.InvalidArgument),
      );
      assert.equal(bad.status.message, "key: must not be empty");
      assert.deepEqual(
        bad.badRequest.flatMap((b) => b.fieldViolations.map((v) => v.field)),
        ["key"],
      );
      assert.deepEqual(
        bad.info.map((i) => [i.reason, i.domain]),
        [["INVALID_ARGUMENT", "media-lifecycle"]],
      );

      const missing = statusOf(await failure(grpcCall(client, "getMedia", { id: 987_654n }), Code.NotFound));
      assert.deepEqual(
        missing.info.map((i) => [i.reason, i.metadata.media_id]),
        [["MEDIA_NOT_FOUND", "987654"]],
      );

      const id = await mediaIn("DELETING", "details/grpc-js.jpg");
      const deleting = statusOf(
        await failure(grpcCall(client, "linkMedia", { mediaId: id, owner: "a/b" }), Code.FailedPrecondition),
      );
      assert.deepEqual(
        deleting.precondition.flatMap((p) => p.violations.map((v) => [v.type, v.subject])),
        [["STATE", `media/${id}`]],
      );
      assert.deepEqual(
        deleting.info.map((i) => i.reason),
        ["MEDIA_BEING_DELETED"],
      );
    } finally {
      client.close();
    }
  });

  test("a rate-limit refusal carries RetryInfo", async () => {
    const client = grpcJsMediaClient(t.service.grpcPort, BUSY_TOKEN);
    try {
      let refusal: grpc.ServiceError | undefined;
      for (let i = 0; i < 1000 && refusal === undefined; i++) {
        const error = await grpcCall(client, "getMedia", { id: 987_654n }).then(
          () => assert.fail("an unknown id was found"),
          (e: grpc.ServiceError) => e,
        );
        if ((error.code as number) === Code.ResourceExhausted) refusal = error;
        else assert.equal(error.code as number, Code.NotFound, error.details);
      }
      assert.ok(refusal, "no call was refused");
      const { retry, info } = statusOf(refusal);
      assert.deepEqual(
        retry.map((r) => r.retryDelay && durationMs(r.retryDelay)),
        [1000 / RATE_LIMIT],
      );
      assert.deepEqual(
        info.map((i) => i.reason),
        ["RATE_LIMIT_EXCEEDED"],
      );
    } finally {
      client.close();
    }
  });

  test("the gate's refusal, answered before the request is read, carries the trailer too", async () => {
    const client = grpcJsMediaClient(t.service.grpcPort, WRONG_TOKEN);
    try {
      const refused = statusOf(await failure(grpcCall(client, "getMedia", { id: 1n }), Code.Unauthenticated));
      assert.deepEqual(
        refused.info.map((i) => i.reason),
        ["TOKEN_UNKNOWN"],
      );
    } finally {
      client.close();
    }
  });

  test("bytes that do not parse: BadRequest on the field, MALFORMED_REQUEST", async () => {
    const client = new GrpcClient(`127.0.0.1:${t.service.grpcPort}`, credentials.createInsecure());
    // CreateMediaRequest { store: "default", key: <not UTF-8> }.
    const bytes = Buffer.from([0x0a, 0x07, ...Buffer.from("default"), 0x12, 0x02, 0xff, 0xfe]);
    try {
      const error = await failure(
        new Promise((resolve, reject) =>
          client.makeUnaryRequest(
            "/media.v1.MediaService/CreateMedia",
            (b: Buffer) => b,
            (b: Buffer) => b,
            bytes,
            bearerMetadata(),
            (e, response) => (e ? reject(e) : resolve(response)),
          ),
        ),
        Code.InvalidArgument,
      );
      const { badRequest, info } = statusOf(error);
      assert.deepEqual(
        badRequest.flatMap((b) => b.fieldViolations.map((v) => [v.field, v.description])),
        [["key", "is not valid UTF-8"]],
      );
      assert.deepEqual(
        info.map((i) => [i.reason, i.metadata.message_type]),
        [["MALFORMED_REQUEST", "media.v1.CreateMediaRequest"]],
      );
    } finally {
      client.close();
    }
  });
});

/** Every factory in errors.ts, with arguments that exercise each of its messages. */
const EVERY_ERROR: Array<[string, ConnectError]> = [
  ["invalidArgument", errors.invalidArgument("owner", "must not be empty")],
  [
    "malformedRequest (a field)",
    errors.malformedRequest("media.v1.GetMediaRequest", { field: "id", problem: "is truncated" }),
  ],
  [
    "malformedRequest (no field)",
    errors.malformedRequest("media.v1.GetMediaRequest", { field: undefined, problem: "x" }),
  ],
  ["malformedRequest (nothing found)", errors.malformedRequest("media.v1.GetMediaRequest", undefined)],
  ["mediaNotFound", errors.mediaNotFound("7")],
  ["mediaBeingDeleted", errors.mediaBeingDeleted("7", "DELETING")],
  ["mediaBeingDeleted (FAILED)", errors.mediaBeingDeleted("7", "FAILED")],
  ["mediaTrashed", errors.mediaTrashed("7")],
  ["mediaConflict", errors.mediaConflict("default", "a.jpg", "7", "size_bytes")],
  ["storageFailed", errors.storageFailed("7", "STORAGE_ERROR: x")],
  ["actionRefused", errors.actionRefused("7", "media is not held", "PENDING")],
  ["guardNotConfirmed", errors.guardNotConfirmed(12n)],
  ["guardNotConfirmed (no count)", errors.guardNotConfirmed(null)],
  ["noWorkerYet", errors.noWorkerYet()],
  ["bulkConfirmationRequired", errors.bulkConfirmationRequired("12", 5)],
  ["bulkActionNotFound", errors.bulkActionNotFound("7")],
  ["reconciliationNotFound", errors.reconciliationNotFound("7")],
  ["reconciliationNotFinished", errors.reconciliationNotFinished("7", "RUNNING")],
  ["attestationNotFound", errors.attestationNotFound("7")],
  ["attestationClosed (finished)", errors.attestationClosed("7", "FINISHED")],
  ["attestationClosed (expired)", errors.attestationClosed("7", "EXPIRED")],
  ["feedCursorDropped", errors.feedCursorDropped(7n, new Date("2026-01-01T00:00:00Z"))],
  ["databaseUnavailable", errors.databaseUnavailable()],
  ["transientConflict", errors.transientConflict()],
  ["unauthenticated (missing)", errors.unauthenticated("missing")],
  ["unauthenticated (unknown)", errors.unauthenticated("unknown")],
  ["authFailuresLimited", errors.authFailuresLimited("10.0.0.1", 10, 3)],
  ["permissionDenied", errors.permissionDenied("svc", "admin")],
  ["outOfReach (owner)", errors.outOfReach("svc", "owner", "shop/1")],
  ["outOfReach (store)", errors.outOfReach("svc", "store", "photos")],
  ["rateLimited", errors.rateLimited("svc", 5000)],
  ["deadlineTooLong", errors.deadlineTooLong(180_000, 120)],
  ["deadlineExceeded", errors.deadlineExceeded()],
  ["internalError", errors.internalError("r-1")],
];

describe("every error errors.ts builds", () => {
  test("carries the details its code promises", () => {
    const factories = Object.entries(errors).filter(([, value]) => typeof value === "function");
    const covered = new Set(EVERY_ERROR.map(([name]) => name.split(" ")[0]));
    assert.deepEqual(
      factories.map(([name]) => name).filter((name) => !covered.has(name)),
      [],
      "a factory this test does not build",
    );
    for (const [name, error] of EVERY_ERROR) {
      const info = only(error, ErrorInfoSchema, name);
      assert.match(info.reason, /^[A-Z][A-Z0-9_]+[A-Z0-9]$/, name);
      assert.equal(info.domain, errors.ERROR_DOMAIN, name);
      const field = /^([^ :]+): /.exec(error.rawMessage)?.[1];
      if (error.code === Code.InvalidArgument && field !== undefined) {
        const [violation] = only(error, BadRequestSchema, name).fieldViolations;
        assert.equal(violation?.field, field, name);
        assert.equal(`${violation?.field}: ${violation?.description}`, error.rawMessage, name);
      } else {
        assert.deepEqual(error.findDetails(BadRequestSchema), [], name);
      }
      const precondition = error.findDetails(PreconditionFailureSchema);
      assert.equal(precondition.length, error.code === Code.FailedPrecondition ? 1 : 0, name);
      const retry = error.findDetails(RetryInfoSchema);
      const retryable = error.code === Code.Unavailable || error.code === Code.ResourceExhausted;
      assert.equal(retry.length, retryable ? 1 : 0, name);
      const delay = retry[0]?.retryDelay;
      if (retryable) assert.ok(delay !== undefined && durationMs(delay) > 0, name);
    }
    assert.equal(durationMs(only(errors.databaseUnavailable(), RetryInfoSchema, "db").retryDelay!), 1000);
    assert.equal(durationMs(only(errors.authFailuresLimited("p", 10, 3), RetryInfoSchema, "auth").retryDelay!), 3000);
    // 1/5000 s, rounded up to the millisecond.
    assert.equal(durationMs(only(errors.rateLimited("svc", 5000), RetryInfoSchema, "rate").retryDelay!), 1);
  });

  test("docs/api.md's table of reasons lists every reason, with its code, and no other", () => {
    const doc = readFileSync(path.resolve(import.meta.dirname, "../../docs/api.md"), "utf8");
    const section = doc.slice(doc.indexOf("### Error reasons"));
    const documented = new Map<string, string>();
    for (const line of section.split("\n").slice(1)) {
      const cells = /^\| `([A-Z0-9_]+)` +\| `([A-Z_]+)` +\|/.exec(line);
      if (cells !== null) documented.set(cells[1] as string, cells[2] as string);
      else if (documented.size > 0 && !line.startsWith("|")) break;
    }
    const built = new Map(
      EVERY_ERROR.map(([name, error]) => [only(error, ErrorInfoSchema, name).reason, rpcCode(error.code)]),
    );
    assert.deepEqual([...documented].sort(), [...built].sort(), "docs/api.md#error-reasons against errors.ts");
  });
});

/** INVALID_ARGUMENT for Code.InvalidArgument: the gRPC name (CANCELLED where Connect says canceled). */
const rpcCode = (code: Code) => rpcCodeName(code).toUpperCase().replace("CANCELED", "CANCELLED");
