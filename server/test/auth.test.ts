import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Code, createClient } from "@connectrpc/connect";
import { AdminService } from "@media/proto/media/v1/admin_service_pb";
import { MediaService } from "@media/proto/media/v1/media_service_pb";
import {
  connectTransport,
  expectCode,
  grpcTransport,
  startTestService,
  TEST_ADMIN_TOKEN,
  TEST_SERVICE_TOKEN,
  type TestService,
} from "../testing/support.ts";

// Who may call what, identically on the gRPC port (grpc-js) and the HTTP port
// (connect-node), and on the plain HTTP routes.

const METRICS_TOKEN = "test-metrics-0123456789abcdef01234567";
const WRONG_TOKEN = "not-a-token-0123456789abcdef0123456789";

let t: TestService;
let mediaId: bigint;
before(async () => {
  t = await startTestService({
    AUTH_TOKENS: `test-admin:admin:${TEST_ADMIN_TOKEN},test-service:service:${TEST_SERVICE_TOKEN},scraper:metrics:${METRICS_TOKEN}`,
  });
  const { media } = await t.media.createMedia({ store: "default", key: "auth/a.png", contentType: "image/png" });
  mediaId = media!.id;
});
after(() => t.stop());

const ports = () =>
  [
    ["gRPC port", (token: string | null) => grpcTransport(t.service.grpcPort, token)],
    ["HTTP port", (token: string | null) => connectTransport(t.service.httpPort, token)],
  ] as const;

describe("the auth matrix is the same on both ports", () => {
  const cases: Array<[string, string | null, Code | "ok", Code | "ok"]> = [
    ["no token", null, Code.Unauthenticated, Code.Unauthenticated],
    ["a wrong token", WRONG_TOKEN, Code.Unauthenticated, Code.Unauthenticated],
    ["the service token", TEST_SERVICE_TOKEN, "ok", Code.PermissionDenied],
    ["the metrics token", METRICS_TOKEN, Code.PermissionDenied, Code.PermissionDenied],
    ["the admin token", TEST_ADMIN_TOKEN, "ok", "ok"],
  ];
  for (const [port, transport] of ports()) {
    for (const [who, token, onMedia, onAdmin] of cases) {
      test(`${port}: ${who} → MediaService ${onMedia === "ok" ? "ok" : Code[onMedia]}, AdminService ${onAdmin === "ok" ? "ok" : Code[onAdmin]}`, async () => {
        const media = createClient(MediaService, transport(token));
        const admin = createClient(AdminService, transport(token));
        if (onMedia === "ok") assert.equal((await media.getMedia({ id: mediaId })).media?.id, mediaId);
        else await expectCode(media.getMedia({ id: mediaId }), onMedia);
        if (onAdmin === "ok") assert.ok((await admin.getStats({})).states.length > 0);
        else await expectCode(admin.getStats({}), onAdmin);
      });
    }
  }

  test("messages say what to do and never echo the token", async () => {
    for (const [port, transport] of ports()) {
      const missing = await expectCode(
        createClient(MediaService, transport(null)).getMedia({ id: mediaId }),
        Code.Unauthenticated,
      );
      assert.match(missing.rawMessage, /authorization: Bearer/, port);
      const wrong = await expectCode(
        createClient(MediaService, transport(WRONG_TOKEN)).getMedia({ id: mediaId }),
        Code.Unauthenticated,
      );
      assert.ok(!wrong.rawMessage.includes(WRONG_TOKEN), port);
      const denied = await expectCode(
        createClient(AdminService, transport(TEST_SERVICE_TOKEN)).getStats({}),
        Code.PermissionDenied,
      );
      assert.match(denied.rawMessage, /token "test-service" .* admin scope/, port);
      assert.ok(!denied.rawMessage.includes(TEST_SERVICE_TOKEN), port);
    }
  });

  test("a header that is not a Bearer token is UNAUTHENTICATED", async () => {
    for (const header of [
      TEST_ADMIN_TOKEN,
      `Basic ${TEST_ADMIN_TOKEN}`,
      `Bearer ${TEST_ADMIN_TOKEN} extra`,
      "Bearer ",
    ]) {
      const res = await fetch(`http://127.0.0.1:${t.service.httpPort}/media.v1.MediaService/GetMedia`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: header },
        body: JSON.stringify({ id: String(mediaId) }),
      });
      assert.equal(res.status, 401, header);
      assert.equal(((await res.json()) as { code: string }).code, "unauthenticated");
    }
  });

  test("events record the token's name as the actor", async () => {
    const media = createClient(MediaService, connectTransport(t.service.httpPort, TEST_SERVICE_TOKEN));
    await media.linkMedia({ mediaId, owner: "posts/1" });
    const { rows } = await t.sql.query("SELECT actor FROM media_events WHERE media_id = $1 AND type = 'LINKED'", [
      String(mediaId),
    ]);
    assert.deepEqual(
      rows.map((r) => r.actor),
      ["test-service"],
    );
  });
});

describe("HTTP routes", () => {
  const get = (path: string, token?: string) =>
    fetch(`http://127.0.0.1:${t.service.httpPort}${path}`, {
      headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
    });

  test("probes need no token", async () => {
    assert.equal((await get("/healthz")).status, 200);
    const ready = await get("/readyz");
    assert.equal(ready.status, 200);
    assert.deepEqual(await ready.json(), {
      status: "ready",
      serving: "yes",
      database: "reachable",
      migrations: "current",
    });
  });

  test("/metrics needs a metrics or admin token", async () => {
    const none = await get("/metrics");
    assert.equal(none.status, 401);
    assert.match(none.headers.get("www-authenticate") ?? "", /^Bearer/);
    assert.equal((await get("/metrics", WRONG_TOKEN)).status, 401);
    assert.equal((await get("/metrics", TEST_SERVICE_TOKEN)).status, 403);
    for (const token of [METRICS_TOKEN, TEST_ADMIN_TOKEN]) {
      const res = await get("/metrics", token);
      assert.equal(res.status, 200);
      assert.match(await res.text(), /^media_rpc_requests_total\{/m);
    }
  });

  test("previews need an admin token; the dashboard's files do not", async () => {
    assert.equal((await get(`/preview/${mediaId}`)).status, 401);
    assert.equal((await get(`/preview/${mediaId}`, TEST_SERVICE_TOKEN)).status, 403);
    assert.equal((await get(`/preview/${mediaId}`, METRICS_TOKEN)).status, 403);
    // The file was never stored, so an admin gets past the check to a 404.
    assert.equal((await get(`/preview/${mediaId}`, TEST_ADMIN_TOKEN)).status, 404);
    assert.notEqual((await get("/")).status, 401);
  });
});
