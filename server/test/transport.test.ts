import assert from "node:assert/strict";
import http2 from "node:http2";
import { after, before, describe, test } from "node:test";
import { Code, createClient } from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import { MediaService } from "@media/proto/media/v1/media_service_pb";
import { service as healthService } from "grpc-health-check";
import {
  connectTransport,
  countRows,
  expectCode,
  grpcTransport,
  startTestService,
  TEST_ADMIN_TOKEN,
  type TestService,
  waitFor,
} from "../testing/support.ts";

let t: TestService;
before(async () => {
  t = await startTestService();
});
after(() => t.stop());

/** Both ports, through Connect's clients: the gRPC port over HTTP/2, the HTTP port over HTTP/1.1. */
const bothPorts = () =>
  [
    ["gRPC port", createClient(MediaService, grpcTransport(t.service.grpcPort))],
    ["HTTP port", createClient(MediaService, connectTransport(t.service.httpPort))],
  ] as const;

describe("limits and failures look the same on both ports", () => {
  test("a request over 1 MiB is refused with RESOURCE_EXHAUSTED and writes nothing", async () => {
    const before = await countRows(t.sql, "media");
    for (const [, client] of bothPorts()) {
      await expectCode(
        client.createMedia({ store: "default", key: "k".repeat(1024 * 1024 + 10) }),
        Code.ResourceExhausted,
      );
    }
    assert.equal(await countRows(t.sql, "media"), before);
  });

  test("the client's deadline is honoured while the database is blocked", async () => {
    const { media } = await t.media.createMedia({ store: "default", key: "deadline/blocked.jpg" });
    const locker = await t.sql.connect();
    try {
      await locker.query("BEGIN");
      await locker.query("SELECT * FROM media WHERE id = $1 FOR UPDATE", [media!.id.toString()]);
      for (const [port, client] of bothPorts()) {
        const started = Date.now();
        await expectCode(
          client.linkMedia({ mediaId: media!.id, owner: "waits" }, { timeoutMs: 300 }),
          Code.DeadlineExceeded,
        );
        const elapsed = Date.now() - started;
        assert.ok(elapsed < 1500, `${port}: answered after ${elapsed} ms`);
      }
    } finally {
      await locker.query("ROLLBACK");
      locker.release();
    }
  });

  test("a call its client cancels stops waiting on the database at once", async () => {
    const { media } = await t.media.createMedia({ store: "default", key: "cancel/blocked.jpg" });
    const waitingLinks = async () => {
      const { rows } = await t.sql.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity
         WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%media_link(%'`,
      );
      return rows[0]?.n ?? 0;
    };
    const locker = await t.sql.connect();
    try {
      await locker.query("BEGIN");
      await locker.query("SELECT * FROM media WHERE id = $1 FOR UPDATE", [media!.id.toString()]);
      for (const [port, client] of bothPorts()) {
        const cancel = new AbortController();
        // A deadline far past the test's: only the cancel can end the wait in time.
        const call = client.linkMedia(
          { mediaId: media!.id, owner: "cancelled" },
          { signal: cancel.signal, timeoutMs: 60_000 },
        );
        await waitFor(async () => (await waitingLinks()) === 1, `${port}: the link to wait on the row`);
        cancel.abort();
        await expectCode(call, Code.Canceled);
        await waitFor(async () => (await waitingLinks()) === 0, `${port}: the cancelled link's query to stop`, 5000);
      }
    } finally {
      await locker.query("ROLLBACK");
      locker.release();
    }
    assert.equal((await t.media.getMedia({ id: media!.id })).media?.referenceCount, 0n, "no reference was added");
  });

  test("internal errors reach callers as INTERNAL without SQL, names or stacks", async () => {
    const { media } = await t.media.createMedia({ store: "default", key: "internal/error.jpg" });
    await t.sql.query("ALTER FUNCTION media_link(bigint, text, text) RENAME TO media_link_gone");
    try {
      for (const [, client] of bothPorts()) {
        const error = await expectCode(client.linkMedia({ mediaId: media!.id, owner: "o" }), Code.Internal);
        assert.match(error.rawMessage, /^internal error; the service logged it as request [0-9a-f-]{36}$/);
      }
    } finally {
      await t.sql.query("ALTER FUNCTION media_link_gone(bigint, text, text) RENAME TO media_link");
    }
  });

  test("a malformed message is INVALID_ARGUMENT with the same message on both ports", async () => {
    // Field 1 with wire type 7, which does not exist.
    const garbage = Buffer.from([0x0f, 0x01]);
    const framed = Buffer.concat([Buffer.from([0, 0, 0, 0, garbage.length]), garbage]);
    const session = http2.connect(`http://127.0.0.1:${t.service.grpcPort}`);
    const grpcAnswer = await new Promise<{ code?: string; message?: string }>((resolve, reject) => {
      const stream = session.request({
        ":method": "POST",
        ":path": "/media.v1.MediaService/GetMedia",
        "content-type": "application/grpc",
        te: "trailers",
        authorization: `Bearer ${TEST_ADMIN_TOKEN}`,
      });
      const status: { code?: string; message?: string } = {};
      const take = (headers: http2.IncomingHttpHeaders) => {
        status.code = (headers["grpc-status"] as string | undefined) ?? status.code;
        const message = headers["grpc-message"] as string | undefined;
        if (message !== undefined) status.message = decodeURIComponent(message);
      };
      stream.on("response", take);
      stream.on("trailers", take);
      stream.on("data", () => {});
      stream.on("end", () => resolve(status));
      stream.on("error", reject);
      stream.end(framed);
    }).finally(() => session.close());
    assert.equal(grpcAnswer.code, String(Code.InvalidArgument));
    assert.match(grpcAnswer.message ?? "", /^the request is not a valid media\.v1\.GetMediaRequest message: /);
    const answer = await fetch(`http://127.0.0.1:${t.service.httpPort}/media.v1.MediaService/GetMedia`, {
      method: "POST",
      headers: { "content-type": "application/proto", authorization: `Bearer ${TEST_ADMIN_TOKEN}` },
      body: garbage,
    });
    const body = (await answer.json()) as { code: string; message: string; details?: Array<{ type: string }> };
    assert.deepEqual([body.code, body.message], ["invalid_argument", grpcAnswer.message]);
    // Its details (docs/api.md#error-details): the ErrorInfo, with no field to name in a BadRequest.
    assert.deepEqual(
      body.details?.map((d) => d.type),
      ["google.rpc.ErrorInfo"],
    );
  });

  test("grpc.health.v1 reports SERVING on the gRPC port", async () => {
    const Health = grpc.makeGenericClientConstructor(healthService, "Health");
    const client = new Health(`127.0.0.1:${t.service.grpcPort}`, grpc.credentials.createInsecure()) as grpc.Client &
      Record<string, Function>;
    try {
      for (const name of ["", "media.v1.MediaService", "media.v1.AdminService"]) {
        const status = await new Promise<{ status: string }>((resolve, reject) =>
          client.check!.call(client, { service: name }, (e: Error | null, r: { status: string }) =>
            e ? reject(e) : resolve(r),
          ),
        );
        assert.equal(status.status, "SERVING", `health of "${name}"`);
      }
    } finally {
      client.close();
    }
  });
});
