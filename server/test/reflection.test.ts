import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import http2 from "node:http2";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { create, createFileRegistry, fromBinary } from "@bufbuild/protobuf";
import { type FileDescriptorProto, FileDescriptorProtoSchema, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import * as grpc from "@grpc/grpc-js";
import { ReflectionService } from "@grpc/reflection";
import { AdminService } from "@media/proto/media/v1/admin_service_pb";
import { MediaService } from "@media/proto/media/v1/media_service_pb";
import { startTestService, TEST_SERVICE_TOKEN, type TestService } from "../testing/support.ts";

// gRPC server reflection on the gRPC port, read by a grpc-js client and by
// `buf curl` with no schema of its own.

const root = path.resolve(import.meta.dirname, "../..");
const run = promisify(execFile);

const SERVED = [
  "grpc.health.v1.Health",
  "grpc.reflection.v1.ServerReflection",
  "grpc.reflection.v1alpha.ServerReflection",
  "media.v1.AdminService",
  "media.v1.MediaService",
];

/** The grpc-js definitions of reflection v1 and v1alpha, as @grpc/reflection serves them. */
const reflectionDefinitions = new Map<string, grpc.ServiceDefinition>();
new ReflectionService({}).addToServer({
  addService: (definition) => {
    const [method] = Object.values(definition);
    reflectionDefinitions.set(method?.path.split("/")[1] as string, definition);
  },
});

type ReflectionRequest =
  | { listServices: string }
  | { fileContainingSymbol: string }
  | { fileByFilename: string }
  | { fileContainingExtension: { containingType: string; extensionNumber: number } };

interface ReflectionResponse {
  listServicesResponse?: { service: Array<{ name: string }> };
  fileDescriptorResponse?: { fileDescriptorProto: number[][] };
  errorResponse?: { errorCode: number; errorMessage: string };
}

type ReflectionStream = grpc.ClientDuplexStream<ReflectionRequest, ReflectionResponse>;

function reflectionClient(grpcPort: number, version: string): grpc.Client & Record<string, Function> {
  const definition = reflectionDefinitions.get(`grpc.reflection.${version}.ServerReflection`);
  assert.ok(definition, `@grpc/reflection has no ${version}`);
  const Ctor = grpc.makeGenericClientConstructor(definition, "ServerReflection");
  return new Ctor(`127.0.0.1:${grpcPort}`, grpc.credentials.createInsecure()) as never;
}

const openStream = (client: grpc.Client & Record<string, Function>): ReflectionStream =>
  client.ServerReflectionInfo!.call(client) as ReflectionStream;

/** Sends the requests on one stream (with no token) and resolves with the answers once the server ends it. */
function reflect(client: grpc.Client & Record<string, Function>, requests: ReflectionRequest[]) {
  return new Promise<ReflectionResponse[]>((resolve, reject) => {
    const answers: ReflectionResponse[] = [];
    const stream = openStream(client);
    stream.on("data", (answer: ReflectionResponse) => answers.push(answer));
    stream.on("error", reject);
    stream.on("end", () => resolve(answers));
    for (const request of requests) stream.write(request);
    stream.end();
  });
}

/** The files of a file descriptor response, in order. */
function filesOf(answer: ReflectionResponse | undefined): FileDescriptorProto[] {
  assert.equal(answer?.errorResponse, undefined, answer?.errorResponse?.errorMessage);
  const files = answer?.fileDescriptorResponse?.fileDescriptorProto ?? [];
  assert.ok(files.length > 0, "no file descriptors in the answer");
  return files.map((bytes) => fromBinary(FileDescriptorProtoSchema, Uint8Array.from(bytes)));
}

/** A registry of the files: building it fails unless every file they import (transitively) is among them. */
function registryOf(files: FileDescriptorProto[]) {
  // protobuf-es wants each file after those it imports, as protoc writes a set; reflection answers the file asked for first.
  const ordered: FileDescriptorProto[] = [];
  const add = (file: FileDescriptorProto | undefined): void => {
    if (file === undefined || ordered.includes(file)) return;
    for (const name of file.dependency) add(files.find((f) => f.name === name));
    ordered.push(file);
  };
  for (const file of files) add(file);
  return createFileRegistry(create(FileDescriptorSetSchema, { file: ordered }));
}

let t: TestService;
before(async () => {
  t = await startTestService();
});
after(() => t.stop());

for (const version of ["v1", "v1alpha"]) {
  describe(`grpc.reflection.${version}.ServerReflection, with no token`, () => {
    let client: grpc.Client & Record<string, Function>;
    before(() => {
      client = reflectionClient(t.service.grpcPort, version);
    });
    after(() => client.close());

    test("lists every service the port serves, reflection itself included", async () => {
      const [answer] = await reflect(client, [{ listServices: "*" }]);
      const names = answer?.listServicesResponse?.service.map((s) => s.name) ?? [];
      assert.deepEqual([...names].sort(), SERVED);
    });

    test("describes MediaService and AdminService as the contract does, with every file they import", async () => {
      const [byMedia, byAdmin] = await reflect(client, [
        { fileContainingSymbol: "media.v1.MediaService" },
        { fileContainingSymbol: "media.v1.AdminService" },
      ]);
      const mediaFiles = filesOf(byMedia);
      assert.equal(mediaFiles[0]?.name, "media/v1/media_service.proto");
      const adminFiles = filesOf(byAdmin);
      assert.equal(adminFiles[0]?.name, "media/v1/admin_service.proto");
      assert.ok(adminFiles.some((file) => file.name === "google/protobuf/timestamp.proto"));

      for (const [files, service] of [
        [mediaFiles, MediaService],
        [adminFiles, AdminService],
      ] as const) {
        const described = registryOf(files).getService(service.typeName);
        assert.ok(described, `${service.typeName} is not in the files`);
        const signature = (s: typeof service) =>
          s.methods.map((m) => `${m.name}(${m.input.typeName}) ${m.output.typeName} ${m.methodKind}`);
        assert.deepEqual(signature(described as typeof service), signature(service));
      }
      const mediaMethods = registryOf(mediaFiles)
        .getService("media.v1.MediaService")
        ?.methods.map((m) => m.name);
      assert.ok(mediaMethods?.includes("CreateMedia") && mediaMethods.includes("GetMedia"));
      const adminMethods = registryOf(adminFiles)
        .getService("media.v1.AdminService")
        ?.methods.map((m) => m.name);
      assert.ok(adminMethods?.includes("ListMedia"));
    });

    test("answers for methods, messages, file names and health; NOT_FOUND for what is not there", async () => {
      const answers = await reflect(client, [
        { fileContainingSymbol: "media.v1.MediaService.GetMedia" },
        { fileContainingSymbol: "media.v1.Media" },
        { fileByFilename: "media/v1/media.proto" },
        { fileContainingSymbol: "grpc.health.v1.Health" },
        { fileContainingSymbol: "media.v1.NoSuchService" },
        { fileByFilename: "no/such.proto" },
      ]);
      assert.equal(filesOf(answers[0])[0]?.name, "media/v1/media_service.proto");
      assert.equal(filesOf(answers[1])[0]?.name, "media/v1/media.proto");
      assert.ok(registryOf(filesOf(answers[2])).getMessage("media.v1.Media"));
      const health = registryOf(filesOf(answers[3])).getService("grpc.health.v1.Health");
      assert.deepEqual(health?.methods.map((m) => m.name).sort(), ["Check", "List", "Watch"]);
      for (const answer of answers.slice(4)) assert.equal(answer.errorResponse?.errorCode, grpc.status.NOT_FOUND);
    });
  });
}

describe("reflection within the transport's limits", () => {
  test("a request over MAX_REQUEST_BYTES is RESOURCE_EXHAUSTED", async () => {
    const client = reflectionClient(t.service.grpcPort, "v1");
    try {
      await assert.rejects(reflect(client, [{ fileContainingSymbol: "x".repeat(1024 * 1024 + 10) }]), {
        code: grpc.status.RESOURCE_EXHAUSTED,
      });
    } finally {
      client.close();
    }
  });

  test("a stream still open after REQUEST_TIMEOUT is reset, as any call not received in full", async () => {
    const short = await startTestService({ REQUEST_TIMEOUT: "1s" });
    const client = reflectionClient(short.service.grpcPort, "v1");
    try {
      const started = Date.now();
      const stream = openStream(client);
      const answers: ReflectionResponse[] = [];
      const ended = new Promise<grpc.ServiceError>((resolve) => stream.on("error", resolve));
      stream.on("data", (answer: ReflectionResponse) => answers.push(answer));
      stream.write({ listServices: "*" });
      const error = await ended;
      assert.equal(error.code, grpc.status.CANCELLED);
      assert.equal(answers.length, 1, "the stream was answered while it lasted");
      const lasted = Date.now() - started;
      assert.ok(lasted >= 900 && lasted < 3000, `reset after ${lasted} ms`);
    } finally {
      client.close();
      await short.stop();
    }
  });

  test("a client that does not read its answers is not read either: HTTP/2 flow control holds it back", async () => {
    // Raw HTTP/2, so that the client really stops reading (grpc-js clients read ahead regardless).
    const session = http2.connect(`http://127.0.0.1:${t.service.grpcPort}`);
    session.on("error", () => {});
    try {
      const stream = session.request({
        ":method": "POST",
        ":path": "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        "content-type": "application/grpc",
        te: "trailers",
      });
      stream.pause();
      // ServerReflectionRequest{file_containing_symbol (4): "media.v1.AdminService"}, framed: some kilobytes of answer each.
      const symbol = Buffer.from("media.v1.AdminService");
      const message = Buffer.concat([Buffer.from([0x22, symbol.length]), symbol]);
      const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, message.length]), message]);
      const sent = 10_000;
      let written = 0;
      for (let i = 0; i < sent; i++) stream.write(frame, () => written++);
      await new Promise((resolve) => setTimeout(resolve, 1000));
      // Unbounded, the server would have read them all and held their ~60 MB of answers.
      assert.ok(written < sent / 2, `the server read ${written} of ${sent} requests whose answers nobody reads`);

      let bytes = Buffer.alloc(0);
      let answered = 0;
      const status = await new Promise<string | undefined>((resolve, reject) => {
        stream.on("data", (chunk: Buffer) => {
          bytes = Buffer.concat([bytes, chunk]);
          while (bytes.length >= 5 && bytes.length >= 5 + bytes.readUInt32BE(1)) {
            bytes = bytes.subarray(5 + bytes.readUInt32BE(1));
            answered++;
          }
        });
        stream.on("trailers", (trailers) => resolve(trailers["grpc-status"] as string | undefined));
        stream.on("error", reject);
        stream.resume();
        stream.end();
      });
      assert.equal(status, "0");
      assert.equal(answered, sent, "once read, every request is answered");
    } finally {
      session.destroy();
    }
  });
});

describe("buf curl, with no schema", () => {
  let cwd: string;
  before(async () => {
    // Away from the repository's buf.yaml: the schema can only come from the server.
    cwd = await mkdtemp(path.join(tmpdir(), "buf-curl-"));
  });
  after(() => rm(cwd, { recursive: true, force: true }));

  const buf = (...args: string[]) => run(path.join(root, "node_modules/.bin/buf"), ["curl", ...args], { cwd });
  const base = () => `http://127.0.0.1:${t.service.grpcPort}`;

  test("--list-methods lists every service, and both of ours method by method, with no token", async () => {
    const { stdout } = await buf("--protocol", "grpc", "--http2-prior-knowledge", "--list-methods", base());
    const methods = stdout.trim().split("\n");
    for (const service of SERVED)
      assert.ok(
        methods.some((m) => m.startsWith(`${service}/`)),
        `${service} in:\n${stdout}`,
      );
    for (const service of [MediaService, AdminService]) {
      for (const method of service.methods) {
        assert.ok(methods.includes(`${service.typeName}/${method.name}`), `${method.name} in:\n${stdout}`);
      }
    }
  });

  for (const protocol of ["grpc-v1", "grpc-v1alpha"]) {
    test(`calls GetMedia with the schema read by ${protocol} reflection`, async () => {
      const { media } = await t.media.createMedia({ store: "default", key: `reflection/${protocol}.png` });
      const { stdout } = await buf(
        "--protocol",
        "grpc",
        "--http2-prior-knowledge",
        "--reflect-protocol",
        protocol,
        "-H",
        `Authorization: Bearer ${TEST_SERVICE_TOKEN}`,
        "-d",
        JSON.stringify({ id: media?.id.toString() }),
        `${base()}/media.v1.MediaService/GetMedia`,
      );
      const answer = JSON.parse(stdout) as { media: { id: string; key: string; state: string } };
      assert.equal(answer.media.id, media?.id.toString());
      assert.equal(answer.media.key, `reflection/${protocol}.png`);
      assert.equal(answer.media.state, "MEDIA_STATE_PENDING");
    });
  }

  test("the call itself still needs its token", async () => {
    const call = buf(
      "--protocol",
      "grpc",
      "--http2-prior-knowledge",
      "-d",
      '{"id": "1"}',
      `${base()}/media.v1.MediaService/GetMedia`,
    );
    await assert.rejects(call, (error: { stderr: string }) => {
      assert.match(error.stderr, /unauthenticated/);
      return true;
    });
  });
});
