import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-node";
import type * as grpc from "@grpc/grpc-js";
import { MediaState } from "@media/proto/media/v1/media_pb";
import { MediaService } from "@media/proto/media/v1/media_service_pb";
import {
  bearer,
  connectTransport,
  grpcCall,
  grpcJsMediaClient,
  grpcTransport,
  startTestService,
  TEST_ADMIN_TOKEN,
  type TestService,
} from "../testing/support.ts";

// One scenario, driven through every kind of client a caller might use, on
// both ports. All must see the same states, counts and errors.

const root = path.resolve(import.meta.dirname, "../..");
const run = promisify(execFile);

/** What the scenario needs from a client: JSON-ish results with state names. */
interface ScenarioClient {
  call(
    method: "CreateMedia" | "LinkMedia" | "UnlinkMedia" | "GetMedia",
    request: Record<string, unknown>,
  ): Promise<{
    id: string;
    state: string;
    referenceCount: string;
  }>;
  /** Calls GetMedia for a missing id and returns [gRPC code, message]. */
  missing(id: string): Promise<[number, string]>;
}

const summarise = (media: { id: bigint; state: MediaState; referenceCount: bigint } | undefined) => {
  assert.ok(media);
  return { id: media.id.toString(), state: MediaState[media.state], referenceCount: media.referenceCount.toString() };
};

/** Converts the scenario's JSON request into protobuf-es init shapes (int64 as bigint). */
const toInit = (request: Record<string, unknown>) =>
  Object.fromEntries(
    Object.entries(request).map(([k, v]) => [k, /^\d+$/.test(String(v)) && k !== "key" ? BigInt(v as string) : v]),
  );

function connectClient(transport: Transport): ScenarioClient {
  const client = createClient(MediaService, transport);
  const methods = {
    CreateMedia: client.createMedia,
    LinkMedia: client.linkMedia,
    UnlinkMedia: client.unlinkMedia,
    GetMedia: client.getMedia,
  };
  return {
    async call(method, request) {
      const response = await methods[method](toInit(request) as never);
      return summarise((response as { media?: Parameters<typeof summarise>[0] }).media);
    },
    async missing(id) {
      try {
        await client.getMedia({ id: BigInt(id) });
      } catch (error) {
        const e = ConnectError.from(error);
        return [e.code, e.rawMessage];
      }
      throw new Error("expected NOT_FOUND");
    },
  };
}

function grpcJsClient(port: number): ScenarioClient & { close(): void } {
  const client = grpcJsMediaClient(port);
  const local = {
    CreateMedia: "createMedia",
    LinkMedia: "linkMedia",
    UnlinkMedia: "unlinkMedia",
    GetMedia: "getMedia",
  };
  return {
    async call(method, request) {
      const response = await grpcCall<{ media?: Parameters<typeof summarise>[0] }>(
        client,
        local[method],
        toInit(request),
      );
      return summarise(response.media);
    },
    async missing(id) {
      try {
        await grpcCall(client, "getMedia", { id: BigInt(id) });
      } catch (error) {
        const e = error as grpc.ServiceError;
        return [e.code, e.details];
      }
      throw new Error("expected NOT_FOUND");
    },
    close: () => client.close(),
  };
}

/** `buf curl`: a client we did not write, speaking gRPC to one port or Connect to the other. */
function bufCurlClient(url: string, protocol: "grpc" | "connect"): ScenarioClient {
  const curl = async (method: string, request: Record<string, unknown>) => {
    const args = ["curl", "--schema", root, "--protocol", protocol, "-d", JSON.stringify(request)];
    args.push("-H", `Authorization: Bearer ${TEST_ADMIN_TOKEN}`);
    if (protocol === "grpc") args.push("--http2-prior-knowledge");
    args.push(`${url}/media.v1.MediaService/${method}`);
    return run(path.join(root, "node_modules/.bin/buf"), args, { cwd: root });
  };
  return {
    async call(method, request) {
      const { stdout } = await curl(method, request);
      const media = JSON.parse(stdout).media;
      return {
        id: media.id,
        state: (media.state as string).replace("MEDIA_STATE_", ""),
        referenceCount: media.referenceCount ?? "0",
      };
    },
    async missing(id) {
      try {
        await curl("GetMedia", { id });
      } catch (error) {
        const body = JSON.parse((error as { stderr: string }).stderr);
        assert.equal(body.code, "not_found");
        return [5, body.message];
      }
      throw new Error("expected NOT_FOUND");
    },
  };
}

let t: TestService;
const grpcJs: Array<{ close(): void }> = [];

before(async () => {
  t = await startTestService();
});
after(async () => {
  for (const c of grpcJs) c.close();
  await t.stop();
});

describe("create -> link -> get -> unlink -> get through every client", () => {
  const clients: Array<[string, () => ScenarioClient]> = [
    [
      "@grpc/grpc-js on the gRPC port",
      () => {
        const c = grpcJsClient(t.service.grpcPort);
        grpcJs.push(c);
        return c;
      },
    ],
    ["connect-node gRPC transport on the gRPC port", () => connectClient(grpcTransport(t.service.grpcPort))],
    ["connect-node Connect transport on the HTTP port", () => connectClient(connectTransport(t.service.httpPort))],
    [
      "connect-node gRPC-Web transport on the HTTP port",
      () =>
        connectClient(
          createGrpcWebTransport({
            baseUrl: `http://127.0.0.1:${t.service.httpPort}`,
            httpVersion: "1.1",
            interceptors: [bearer(TEST_ADMIN_TOKEN)],
          }),
        ),
    ],
    ["buf curl (gRPC) on the gRPC port", () => bufCurlClient(`http://127.0.0.1:${t.service.grpcPort}`, "grpc")],
    ["buf curl (Connect) on the HTTP port", () => bufCurlClient(`http://127.0.0.1:${t.service.httpPort}`, "connect")],
  ];

  const notFoundAnswers: Array<[number, string]> = [];

  for (const [name, make] of clients) {
    test(name, async () => {
      const client = make();
      const key = `clients/${name.replace(/[^a-z0-9]+/gi, "-")}.png`;
      const created = await client.call("CreateMedia", {
        store: "default",
        key,
        contentType: "image/png",
        sizeBytes: "42",
      });
      assert.equal(created.state, "PENDING");
      const linked = await client.call("LinkMedia", { mediaId: created.id, owner: `scenario/${name}` });
      assert.deepEqual(linked, { id: created.id, state: "LINKED", referenceCount: "1" });
      assert.deepEqual(await client.call("GetMedia", { id: created.id }), linked);
      const unlinked = await client.call("UnlinkMedia", { mediaId: created.id, owner: `scenario/${name}` });
      assert.deepEqual(unlinked, { id: created.id, state: "ORPHANED", referenceCount: "0" });
      assert.deepEqual(await client.call("GetMedia", { id: created.id }), unlinked);
      notFoundAnswers.push(await client.missing("424242"));
    });
  }

  test("every client saw the same NOT_FOUND code and message", () => {
    assert.equal(notFoundAnswers.length, clients.length);
    for (const answer of notFoundAnswers)
      assert.deepEqual(answer, [5, "media 424242 not found (never registered, or already deleted)"]);
  });
});
