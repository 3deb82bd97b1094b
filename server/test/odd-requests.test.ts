import assert from "node:assert/strict";
import http from "node:http";
import http2 from "node:http2";
import { after, before, describe, test } from "node:test";
import { gzipSync } from "node:zlib";
import { Code, createClient } from "@connectrpc/connect";
import { compressionGzip, createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import { AdminService } from "@media/proto/media/v1/admin_service_pb";
import { MediaService } from "@media/proto/media/v1/media_service_pb";
import {
  bearer,
  connectTransport,
  countRows,
  expectCode,
  grpcJsMediaClient,
  grpcTransport,
  startTestService,
  TEST_ADMIN_TOKEN,
  type TestService,
} from "../testing/support.ts";

// Requests a careful client never sends (forged tokens, broken protobuf bytes,
// misspelled JSON, padded headers, invisible characters, deadlines just over
// the limit) get the same right answer on both ports.

let t: TestService;
let mediaId: bigint;
before(async () => {
  t = await startTestService();
  const { media } = await t.media.createMedia({ store: "default", key: "odd/existing.jpg" });
  mediaId = media!.id;
  await t.media.linkMedia({ mediaId, owner: "odd/owner" });
});
after(() => t.stop());

const bothPorts = () =>
  [
    ["gRPC port", grpcTransport(t.service.grpcPort)],
    ["HTTP port", connectTransport(t.service.httpPort)],
  ] as const;

/** A message in the gRPC / gRPC-Web envelope: flags, big-endian length, bytes. */
const envelope = (message: Uint8Array, flags = 0) => {
  const head = Buffer.alloc(5);
  head.writeUInt8(flags, 0);
  head.writeUInt32BE(message.length, 1);
  return Buffer.concat([head, message]);
};

/** One unary call over raw HTTP/2 to the gRPC port: the status and message it ends with. */
function rawGrpc(path: string, body: Buffer, headers: http2.OutgoingHttpHeaders = {}) {
  const session = http2.connect(`http://127.0.0.1:${t.service.grpcPort}`);
  return new Promise<{ status: number; message: string }>((resolve, reject) => {
    const stream = session.request({
      ":method": "POST",
      ":path": path,
      "content-type": "application/grpc",
      te: "trailers",
      authorization: `Bearer ${TEST_ADMIN_TOKEN}`,
      ...headers,
    });
    let status: string | undefined;
    let message = "";
    const take = (h: http2.IncomingHttpHeaders) => {
      if (h["grpc-status"] !== undefined) status = String(h["grpc-status"]);
      if (h["grpc-message"] !== undefined) message = decodeURIComponent(String(h["grpc-message"]));
    };
    stream.on("response", take);
    stream.on("trailers", take);
    stream.on("data", () => {});
    stream.on("end", () => resolve({ status: Number(status), message }));
    stream.on("error", reject);
    stream.end(body);
  }).finally(() => session.close());
}

const url = (path: string) => `http://127.0.0.1:${t.service.httpPort}${path}`;

/** A Connect unary call over fetch: the error code and message it answers with. */
async function connectCall(path: string, contentType: string, body: BodyInit, headers: Record<string, string> = {}) {
  const answer = await fetch(url(path), {
    method: "POST",
    headers: { "content-type": contentType, authorization: `Bearer ${TEST_ADMIN_TOKEN}`, ...headers },
    body,
  });
  const json = (await answer.json()) as { code?: string; message?: string };
  return { status: answer.status, code: json.code, message: json.message ?? "" };
}

/** A gRPC-Web unary call over fetch: the status and message of its trailer frame. */
async function grpcWebCall(path: string, body: BodyInit) {
  const answer = await fetch(url(path), {
    method: "POST",
    headers: {
      "content-type": "application/grpc-web+proto",
      "x-grpc-web": "1",
      authorization: `Bearer ${TEST_ADMIN_TOKEN}`,
    },
    body,
  });
  const bytes = Buffer.from(await answer.arrayBuffer());
  let trailer = "";
  for (let at = 0; at + 5 <= bytes.length; at += 5 + bytes.readUInt32BE(at + 1)) {
    if (bytes[at] === 0x80) trailer = bytes.subarray(at + 5, at + 5 + bytes.readUInt32BE(at + 1)).toString();
  }
  const field = (name: string) => new RegExp(`^${name}: (.*)$`, "m").exec(trailer)?.[1]?.trim() ?? "";
  return { status: Number(field("grpc-status")), message: decodeURIComponent(field("grpc-message")) };
}

const CREATE = "/media.v1.MediaService/CreateMedia";
const LIST_MEDIA = "/media.v1.AdminService/ListMedia";
const store = Buffer.from([0x0a, 0x07, ...Buffer.from("default")]);
/** CreateMediaRequest bytes whose key (field 2) is not UTF-8. */
const badUtf8Key = Buffer.concat([store, Buffer.from([0x12, 0x02, 0xff, 0xfe])]);
/** A key whose length runs past the end of the message. */
const truncatedKey = Buffer.concat([store, Buffer.from([0x12, 0x05, 0x61])]);
/** A label value (labels is field 5, a map entry with key 1, value 2) that is not UTF-8. */
const badUtf8Label = Buffer.concat([store, Buffer.from([0x2a, 0x06, 0x0a, 0x01, 0x61, 0x12, 0x01, 0xff])]);
/** 200 start-group tags of field 7, which the message does not have ((7 << 3) | 3). */
const deepGroups = Buffer.alloc(200, 0x3b);

describe("malformed protobuf bytes are INVALID_ARGUMENT on both ports, naming the field", () => {
  const cases: Array<[string, Buffer<ArrayBuffer>, RegExp]> = [
    ["invalid UTF-8 in a string", badUtf8Key, /^key: is not valid UTF-8$/],
    ["invalid UTF-8 in a map value", badUtf8Label, /^labels\["a"\]: is not valid UTF-8$/],
    ["a truncated field", truncatedKey, /^key: is truncated/],
    ["deeply nested groups", deepGroups, /^the request is not a valid media\.v1\.CreateMediaRequest message: field 7 /],
  ];
  for (const [name, bytes, message] of cases) {
    test(name, async () => {
      const before = await countRows(t.sql, "media");
      const grpcAnswer = await rawGrpc(CREATE, envelope(bytes));
      assert.equal(grpcAnswer.status, Code.InvalidArgument, `gRPC port: ${grpcAnswer.message}`);
      assert.match(grpcAnswer.message, message);
      const connectAnswer = await connectCall(CREATE, "application/proto", bytes);
      assert.deepEqual([connectAnswer.status, connectAnswer.code], [400, "invalid_argument"], connectAnswer.message);
      assert.match(connectAnswer.message, message);
      const gzipped = await connectCall(CREATE, "application/proto", gzipSync(bytes), { "content-encoding": "gzip" });
      assert.equal(gzipped.code, "invalid_argument", gzipped.message);
      assert.match(gzipped.message, message);
      const webAnswer = await grpcWebCall(CREATE, envelope(bytes));
      assert.equal(webAnswer.status, Code.InvalidArgument, `gRPC-Web: ${webAnswer.message}`);
      assert.match(webAnswer.message, message);
      assert.equal(await countRows(t.sql, "media"), before);
    });
  }

  test("well-formed binary requests, compressed or not, still work on every protocol of the HTTP port", async () => {
    const base = { baseUrl: url(""), httpVersion: "1.1" as const, interceptors: [bearer(TEST_ADMIN_TOKEN)] };
    const transports = [
      createConnectTransport({ ...base, useBinaryFormat: true }),
      createConnectTransport({ ...base, useBinaryFormat: true, sendCompression: compressionGzip, compressMinBytes: 0 }),
      createGrpcWebTransport({ ...base, useBinaryFormat: true }),
      createGrpcWebTransport({ ...base, useBinaryFormat: true, sendCompression: compressionGzip, compressMinBytes: 0 }),
    ];
    for (const [i, transport] of transports.entries()) {
      const { media } = await createClient(MediaService, transport).createMedia({
        store: "default",
        key: `odd/binary-${i}.jpg`,
        labels: { app: "odd" },
      });
      assert.equal(media?.labels.app, "odd");
    }
  });
});

describe("Connect JSON refuses what it does not know, naming the field", () => {
  const cases: Array<[string, string, RegExp]> = [
    ["an unknown field", '{"stat":"MEDIA_STATE_LINKED"}', /^stat: is not a field of media\.v1\.ListMediaRequest/],
    ["an unknown enum name", '{"state":"MEDIA_STATE_LINKD"}', /^state: .*"MEDIA_STATE_LINKD".*MEDIA_STATE_LINKED/],
    ["an unknown field after known ones", '{"pageSize":10,"orderBy":"create_time","x":1}', /^x: is not a field/],
    ["a value of the wrong type", '{"pageSize":"ten"}', /^page_size: expected number \(int32\), got "ten"$/],
  ];
  for (const [name, body, message] of cases) {
    test(name, async () => {
      const answer = await connectCall(LIST_MEDIA, "application/json", Buffer.from(body));
      assert.deepEqual([answer.status, answer.code], [400, "invalid_argument"], answer.message);
      assert.match(answer.message, message);
    });
  }

  test("JSON that is not UTF-8 is refused, not read with replacement characters", async () => {
    const before = await countRows(t.sql, "media");
    const body = Buffer.concat([Buffer.from('{"store":"default","key":"odd/'), Buffer.from([0xff]), Buffer.from('"}')]);
    const answer = await connectCall(CREATE, "application/json", body);
    assert.equal(answer.code, "invalid_argument", answer.message);
    assert.match(answer.message, /UTF-8/);
    assert.equal(await countRows(t.sql, "media"), before);
  });

  test("well-formed JSON with proto field names and enum names still works", async () => {
    const answer = await fetch(url(LIST_MEDIA), {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${TEST_ADMIN_TOKEN}` },
      body: '{"state":"MEDIA_STATE_LINKED","page_size":5}',
    });
    assert.equal(answer.status, 200);
    const { media } = (await answer.json()) as { media: Array<{ id: string }> };
    assert.deepEqual(
      media.map((m) => m.id),
      [String(mediaId)],
    );
  });
});

test("a forged page token carrying NUL is INVALID_ARGUMENT on both ports", async () => {
  const pageToken = Buffer.from('r:["\\u0000"]').toString("base64url");
  for (const [port, transport] of bothPorts()) {
    const error = await expectCode(
      createClient(AdminService, transport).listMediaReferences({ mediaId, pageToken }),
      Code.InvalidArgument,
    );
    assert.match(error.rawMessage, /^page_token: /, port);
  }
});

describe("whitespace around the authorization header's value is not part of it, on both ports", () => {
  const padded = (token: string) => [` Bearer ${token}`, `Bearer ${token}  `, `  Bearer ${token} `];
  const getMedia = () => envelope(Buffer.from([0x08, Number(mediaId)]));

  /** GetMedia over raw HTTP/1.1 (fetch would trim the value): the HTTP status. */
  const httpStatus = (authorization: string) =>
    new Promise<number | undefined>((resolve, reject) => {
      const request = http.request(url("/media.v1.MediaService/GetMedia"), {
        method: "POST",
        headers: { "content-type": "application/json", authorization },
      });
      request.on("response", (response) => {
        response.resume();
        resolve(response.statusCode);
      });
      request.on("error", reject);
      request.end(JSON.stringify({ id: String(mediaId) }));
    });

  test("gRPC port", async () => {
    for (const value of padded(TEST_ADMIN_TOKEN)) {
      const answer = await rawGrpc("/media.v1.MediaService/GetMedia", getMedia(), { authorization: value });
      assert.equal(answer.status, grpc.status.OK, `${JSON.stringify(value)}: ${answer.message}`);
    }
    const client = grpcJsMediaClient(t.service.grpcPort, null);
    try {
      for (const value of padded(TEST_ADMIN_TOKEN)) {
        const metadata = new grpc.Metadata();
        metadata.set("authorization", value);
        const response = await new Promise<{ media: { id: string } }>((resolve, reject) =>
          client.getMedia!.call(client, { id: mediaId }, metadata, (e: Error | null, r: { media: { id: string } }) =>
            e ? reject(e) : resolve(r),
          ),
        );
        assert.equal(BigInt(response.media.id), mediaId);
      }
    } finally {
      client.close();
    }
  });

  test("HTTP port, where tabs count too (gRPC metadata cannot carry a tab at all)", async () => {
    for (const value of [...padded(TEST_ADMIN_TOKEN), `\tBearer ${TEST_ADMIN_TOKEN}\t`]) {
      assert.equal(await httpStatus(value), 200, JSON.stringify(value));
    }
  });

  test("a padded wrong token is still refused on both ports", async () => {
    for (const value of padded("wrong")) {
      const answer = await rawGrpc("/media.v1.MediaService/GetMedia", getMedia(), { authorization: value });
      assert.equal(answer.status, grpc.status.UNAUTHENTICATED, JSON.stringify(value));
      assert.equal(await httpStatus(value), 401, JSON.stringify(value));
    }
  });
});

test("invisible format characters are refused on both ports, naming the field", async () => {
  for (const [port, transport] of bothPorts()) {
    const media = createClient(MediaService, transport);
    for (const [call, field] of [
      [() => media.linkMedia({ mediaId, owner: "odd/owner\u202e" }), "owner"],
      [() => media.createMedia({ store: "default", key: "odd/\u200bfile.jpg" }), "key"],
    ] as const) {
      const error = await expectCode(call(), Code.InvalidArgument);
      assert.match(error.rawMessage, new RegExp(`^${field}: `), port);
    }
  }
});

test("a deadline just over the maximum is refused with the real values", async () => {
  for (const [port, transport] of bothPorts()) {
    const error = await expectCode(
      createClient(AdminService, transport).getStats({}, { timeoutMs: 120_400 }),
      Code.InvalidArgument,
    );
    const shown = /^deadline: ([0-9.]+)s is longer than the maximum of 120s/.exec(error.rawMessage);
    assert.ok(shown, `${port}: ${error.rawMessage}`);
    assert.ok(Number(shown[1]) > 120 && Number(shown[1]) <= 120.4, `${port}: ${error.rawMessage}`);
  }
});
