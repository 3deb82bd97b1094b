import assert from "node:assert/strict";
import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import { after, before, describe, test } from "node:test";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { MediaService } from "@media/proto/media/v1/media_service_pb";
import { TIMEOUT_CHECK_MS } from "../src/api/http-server.ts";
import { limitAuthFailures, peerKeyOf } from "../src/api/rate-limit.ts";
import { createAuthenticator } from "../src/auth/tokens.ts";
import { loadConfig } from "../src/config.ts";
import {
  bearer,
  expectCode,
  startTestService,
  TEST_ADMIN_TOKEN,
  type TestService,
  waitFor,
} from "../testing/support.ts";

// Floods: calls without a valid token, limited per peer address and refused
// before their request is read; streams, connections and requests that never
// finish, bounded on both ports.

const ENV = {
  AUTH_FAILURE_LIMIT: "2",
  AUTH_FAILURE_BURST: "5",
  REQUEST_TIMEOUT: "1s",
  MAX_CONCURRENT_STREAMS: "8",
  MAX_CONNECTIONS: "16",
};
const limits = loadConfig(ENV).limits;
const WRONG_TOKEN = "not-a-token-0123456789abcdef0123456789";

let t: TestService;
let mediaId: bigint;
before(async () => {
  t = await startTestService(ENV);
});
after(() => t.stop());

/** MediaService clients on both ports whose connections come from localAddress (any 127.x.y.z is loopback). */
const clientsFrom = (localAddress: string, token: string) =>
  [
    [
      "gRPC port",
      createClient(
        MediaService,
        createGrpcTransport({
          baseUrl: `http://127.0.0.1:${t.service.grpcPort}`,
          interceptors: [bearer(token)],
          nodeOptions: {
            createConnection: () => net.connect({ host: "127.0.0.1", port: t.service.grpcPort, localAddress }),
          },
        }),
      ),
    ],
    [
      "HTTP port",
      createClient(
        MediaService,
        createConnectTransport({
          baseUrl: `http://127.0.0.1:${t.service.httpPort}`,
          httpVersion: "1.1",
          interceptors: [bearer(token)],
          nodeOptions: { localAddress },
        }),
      ),
    ],
  ] as const;

// First, while no test has opened connections of its own.
test("each port closes connections over MAX_CONNECTIONS as they arrive", async () => {
  for (const port of [t.service.grpcPort, t.service.httpPort]) {
    const closed = new Set<net.Socket>();
    const sockets = Array.from({ length: limits.maxConnections + 1 }, () => {
      const socket = net.connect({ host: "127.0.0.1", port });
      socket.on("error", () => {});
      socket.on("close", () => closed.add(socket));
      return socket;
    });
    try {
      // Sooner than REQUEST_TIMEOUT, which would close an HTTP connection that sends nothing.
      await waitFor(
        () => closed.size > 0,
        `port ${port}: a connection over the limit to close`,
        limits.requestTimeoutSeconds * 500,
      );
      assert.ok(sockets.length - closed.size <= limits.maxConnections, `port ${port}: ${closed.size} closed`);
    } finally {
      for (const socket of sockets) socket.destroy();
    }
  }
  // Once the server has seen them close, new connections are taken again.
  await waitFor(
    () =>
      Promise.all(
        clientsFrom("127.0.0.1", TEST_ADMIN_TOKEN).map(([, client]) =>
          client.createMedia({ store: "default", key: "floods/a.jpg" }),
        ),
      ).then(
        ([created]) => {
          mediaId = created!.media!.id;
          return true;
        },
        () => false,
      ),
    "a call on each port to be answered",
    2000,
  );
});

describe("calls without a valid token", () => {
  test("a peer over AUTH_FAILURE_LIMIT is refused, valid callers elsewhere are not, and its own valid calls once its budget refills", async () => {
    const others = clientsFrom("127.0.0.1", TEST_ADMIN_TOKEN);
    // Each port's flood comes from its own address: the budget is per address, across ports.
    for (const [index, localAddress] of ["127.0.0.2", "127.0.0.3"].entries()) {
      const [port, valid] = clientsFrom(localAddress, TEST_ADMIN_TOKEN)[index]!;
      const [, wrong] = clientsFrom(localAddress, WRONG_TOKEN)[index]!;
      const [, other] = others[index]!;
      // Successes never count.
      for (let i = 0; i < 3 * limits.authFailureBurst; i++) await valid.getMedia({ id: mediaId });

      const started = performance.now();
      const codes: string[] = [];
      let refusal: ConnectError | undefined;
      while (refusal === undefined) {
        try {
          await wrong.getMedia({ id: mediaId });
          assert.fail(`${port}: a wrong token was accepted`);
        } catch (error) {
          const e = ConnectError.from(error);
          codes.push(Code[e.code]);
          if (e.code === Code.ResourceExhausted) refusal = e;
        }
      }
      const seconds = (performance.now() - started) / 1000;
      const allowed = limits.authFailureBurst + Math.ceil(limits.authFailuresPerSecond * seconds);
      assert.ok(codes.length - 1 >= limits.authFailureBurst && codes.length - 1 <= allowed, `${port}: ${codes}`);
      assert.ok(
        codes.slice(0, -1).every((c) => c === "Unauthenticated"),
        `${port}: ${codes}`,
      );
      assert.match(
        refusal.rawMessage,
        new RegExp(
          `^too many calls without a valid API token from ${localAddress.replaceAll(".", "\\.")} .* retry in \\d+s$`,
        ),
      );
      const retryAfter = Number(refusal.metadata.get("retry-after"));
      assert.ok(retryAfter >= 1, `${port}: retry-after ${refusal.metadata.get("retry-after")}`);

      // Another address is not slowed; the refused one is refused whatever its token, until it waits.
      assert.equal((await other.getMedia({ id: mediaId })).media?.id, mediaId);
      await expectCode(
        valid.getMedia({ id: mediaId }),
        Code.ResourceExhausted,
        "too many calls without a valid API token",
      );
      // Stays a timed wait: that waiting out the Retry-After the server answered is enough is the behaviour.
      await new Promise((resolve) => setTimeout(resolve, retryAfter * 1000));
      assert.equal((await valid.getMedia({ id: mediaId })).media?.id, mediaId, port);
    }
  });

  test("/metrics shares the limit: 401, then 429 with Retry-After", async () => {
    const get = () =>
      new Promise<http.IncomingMessage>((resolve, reject) =>
        http
          .get(
            {
              host: "127.0.0.1",
              port: t.service.httpPort,
              path: "/metrics",
              localAddress: "127.0.0.5",
              agent: false,
              headers: { authorization: `Bearer ${WRONG_TOKEN}` },
            },
            (res) => resolve(res.resume()),
          )
          .on("error", reject),
      );
    const statuses: number[] = [];
    let refused: http.IncomingMessage | undefined;
    while (refused === undefined && statuses.length <= 3 * limits.authFailureBurst) {
      const res = await get();
      statuses.push(res.statusCode ?? 0);
      if (res.statusCode === 429) refused = res;
    }
    assert.ok(refused, `${statuses}`);
    assert.ok(
      statuses.slice(0, -1).every((s) => s === 401) && statuses.length > limits.authFailureBurst,
      `${statuses}`,
    );
    assert.ok(Number(refused.headers["retry-after"]) >= 1);
  });

  test("is refused before its request is read", async () => {
    // Over MAX_REQUEST_BYTES: the token is what is refused, not the size.
    for (const [, client] of clientsFrom("127.0.0.4", WRONG_TOKEN)) {
      await expectCode(
        client.createMedia({ store: "default", key: "k".repeat(2 * 1024 * 1024) }),
        Code.Unauthenticated,
        "the API token was not accepted",
      );
    }
  });
});

describe("requests that never finish", () => {
  test("the gRPC port advertises MAX_CONCURRENT_STREAMS and resets a stream not received in full within REQUEST_TIMEOUT", async () => {
    const session = http2.connect(`http://127.0.0.1:${t.service.grpcPort}`);
    session.on("error", () => {});
    try {
      await new Promise((resolve) => session.once("remoteSettings", resolve));
      assert.equal(session.remoteSettings.maxConcurrentStreams, limits.maxConcurrentStreams);
      // HEADERS sent, the body never ended: half with a valid token, half without.
      const streams = Array.from({ length: limits.maxConcurrentStreams }, (_, i) => {
        const stream = session.request(
          {
            ":method": "POST",
            ":path": "/media.v1.MediaService/GetMedia",
            "content-type": "application/grpc",
            te: "trailers",
            ...(i % 2 === 0 ? { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } : {}),
          },
          { endStream: false },
        );
        const seen = { status: undefined as string | undefined, closed: false };
        stream.on("response", (headers) => {
          seen.status = headers["grpc-status"] as string | undefined;
        });
        stream.on("error", () => {});
        stream.on("close", () => {
          seen.closed = true;
        });
        return { stream, seen, authorized: i % 2 === 0 };
      });
      // The ones without a token are answered at once, unread.
      await waitFor(
        () => streams.every((s) => s.authorized || s.seen.status !== undefined),
        "UNAUTHENTICATED for the streams without a token",
        1000,
      );
      for (const s of streams.filter((s) => !s.authorized)) assert.equal(s.seen.status, String(Code.Unauthenticated));

      const waited = await waitFor(
        () => streams.every((s) => s.seen.closed),
        "every half-open stream to be reset",
        limits.requestTimeoutSeconds * 1000 + 1000,
      );
      assert.ok(waited >= limits.requestTimeoutSeconds * 1000 - 100, `reset after ${waited} ms`);
      for (const { stream } of streams) assert.equal(stream.rstCode, http2.constants.NGHTTP2_CANCEL);
      assert.ok(!session.closed && !session.destroyed, "the connection itself stays open");
    } finally {
      session.destroy();
    }
  });

  test("the HTTP port answers a request not received in full within REQUEST_TIMEOUT with 408 and closes it", async () => {
    const partial = [
      // The headers never end.
      "POST /media.v1.MediaService/GetMedia HTTP/1.1\r\nHost: media\r\n",
      // The body never comes (with a valid token, so the gate lets it through to be read).
      `POST /media.v1.MediaService/GetMedia HTTP/1.1\r\nHost: media\r\nContent-Type: application/json\r\nAuthorization: Bearer ${TEST_ADMIN_TOKEN}\r\nContent-Length: 100\r\n\r\n{"id":`,
    ];
    for (const request of partial) {
      const socket = net.connect({ host: "127.0.0.1", port: t.service.httpPort });
      let answer = "";
      let closed = false;
      socket.on("data", (chunk) => {
        answer += chunk.toString();
      });
      socket.on("error", () => {});
      socket.on("close", () => {
        closed = true;
      });
      socket.write(request);
      try {
        await waitFor(
          () => closed,
          "the connection to close",
          limits.requestTimeoutSeconds * 1000 + TIMEOUT_CHECK_MS + 1000,
        );
        assert.match(answer, /^HTTP\/1\.1 408 /, JSON.stringify(request));
      } finally {
        socket.destroy();
      }
    }
  });
});

describe("the failure limit", () => {
  test("keys an address as IPv4 when mapped and IPv6 by its /64", () => {
    assert.equal(peerKeyOf("192.0.2.7"), "192.0.2.7");
    assert.equal(peerKeyOf("::ffff:192.0.2.7"), "192.0.2.7");
    assert.equal(peerKeyOf("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
    assert.equal(peerKeyOf("2001:db8:0001::9"), "2001:db8:1:0::/64");
    assert.equal(peerKeyOf("::1"), "0:0:0:0::/64");
  });

  test("counts only failures, per peer, and refills at its rate", () => {
    let now = 0;
    const secret = "secret-0123456789abcdef0123456789";
    const limited = limitAuthFailures(createAuthenticator([{ name: "a", scope: "admin", secret }]), 2, 3, () => now);
    const wrong = "Bearer wrong-0123456789abcdef012345678";
    for (let i = 0; i < 10; i++) assert.equal(limited.authenticate(`Bearer ${secret}`, "192.0.2.1").ok, true);
    const reasons = () =>
      Array.from({ length: 4 }, () => (limited.authenticate(wrong, "192.0.2.1") as { reason: string }).reason);
    assert.deepEqual(reasons(), ["unknown", "unknown", "unknown", "throttled"]);
    assert.deepEqual(limited.authenticate(`Bearer ${secret}`, "192.0.2.1"), {
      ok: false,
      reason: "throttled",
      peer: "192.0.2.1",
      retryAfterSeconds: 1,
    });
    assert.equal(limited.authenticate(wrong, "192.0.2.2").ok, false);
    assert.equal((limited.authenticate(wrong, "192.0.2.2") as { reason: string }).reason, "unknown");
    now += 500; // one failure back at 2 a second
    assert.deepEqual(reasons(), ["unknown", "throttled", "throttled", "throttled"]);
    now += 1500;
    assert.equal(limited.authenticate(`Bearer ${secret}`, "192.0.2.1").ok, true);
    assert.equal((limited.authenticate(wrong, undefined) as { reason: string }).reason, "unknown");
  });
});
