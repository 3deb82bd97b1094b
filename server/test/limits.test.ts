import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { MediaService } from "@media/proto/media/v1/media_service_pb";
import {
  connectTransport,
  countRows,
  expectCode,
  grpcTransport,
  startTestService,
  TEST_ADMIN_TOKEN,
  TEST_SERVICE_TOKEN,
  type TestService,
} from "../testing/support.ts";

// MAX_REQUEST_BYTES, MAX_DEADLINE and RATE_LIMIT, on both ports.

let t: TestService;
before(async () => {
  t = await startTestService({
    MAX_REQUEST_BYTES: "4096",
    MAX_DEADLINE: "30s",
    RATE_LIMIT: "2",
    RATE_LIMIT_BURST: "20",
  });
});
after(() => t.stop());

const ports = (token: string) =>
  [
    ["gRPC port", createClient(MediaService, grpcTransport(t.service.grpcPort, token))],
    ["HTTP port", createClient(MediaService, connectTransport(t.service.httpPort, token))],
  ] as const;

test("a request over MAX_REQUEST_BYTES is refused with RESOURCE_EXHAUSTED and writes nothing", async () => {
  const before = await countRows(t.sql, "media");
  for (const [port, client] of ports(TEST_ADMIN_TOKEN)) {
    await expectCode(client.createMedia({ store: "default", key: "k".repeat(5000) }), Code.ResourceExhausted);
    const { media } = await client.createMedia({ store: "default", key: `${port}/small` });
    assert.ok(media);
  }
  assert.equal(await countRows(t.sql, "media"), before + 2);
});

test("a deadline longer than MAX_DEADLINE is refused before any work", async () => {
  for (const [port, client] of ports(TEST_ADMIN_TOKEN)) {
    const error = await expectCode(
      client.createMedia({ store: "default", key: `deadline/${port}` }, { timeoutMs: 120_000 }),
      Code.InvalidArgument,
      "deadline: 120s is longer than the maximum of 30s",
    );
    assert.ok(error);
    const { media } = await client.createMedia({ store: "default", key: `deadline/${port}` }, { timeoutMs: 10_000 });
    assert.ok(media);
  }
  const { rows } = await t.sql.query("SELECT count(*)::int AS n FROM media WHERE key LIKE 'deadline/%'");
  assert.equal(rows[0].n, 2);
});

test("a token over its rate limit gets RESOURCE_EXHAUSTED; another token is not slowed", async () => {
  const [, busy] = ports(TEST_SERVICE_TOKEN)[1];
  const started = performance.now();
  const outcomes = await Promise.allSettled(Array.from({ length: 60 }, () => busy.getMedia({ id: 999_999n })));
  const seconds = (performance.now() - started) / 1000;
  const codes = outcomes.map((o) => (o.status === "fulfilled" ? "ok" : Code[ConnectError.from(o.reason).code]));
  const admitted = codes.filter((c) => c !== "ResourceExhausted").length;
  // The burst of 20, plus 2 a second refilled while the 60 were sent.
  assert.ok(
    admitted >= 20 && admitted <= 20 + Math.ceil(2 * seconds),
    `admitted ${admitted} in ${seconds} s: ${codes}`,
  );
  assert.ok(
    codes.every((c) => c === "ResourceExhausted" || c === "NotFound"),
    codes.join(","),
  );
  const error = await expectCode(
    busy.getMedia({ id: 999_999n }),
    Code.ResourceExhausted,
    'token "test-service" is over',
  );
  assert.match(error.rawMessage, /retry with backoff/);

  // The admin token has its own budget, on either port.
  for (const [port, client] of ports(TEST_ADMIN_TOKEN)) {
    const calm = await Promise.allSettled(Array.from({ length: 8 }, () => client.getMedia({ id: 999_999n })));
    const calmCodes = calm.map((o) => (o.status === "fulfilled" ? "ok" : Code[ConnectError.from(o.reason).code]));
    assert.deepEqual(calmCodes, Array(8).fill("NotFound"), port);
  }
});
