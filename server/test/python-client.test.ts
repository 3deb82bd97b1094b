import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { access, constants, mkdir, mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { startTestService, TEST_SERVICE_TOKEN, type TestService } from "../testing/support.ts";

// A Python client generated from proto/ with Debian's protoc and
// grpc_python_plugin, run by /usr/bin/python3 (Debian's python3-grpcio and
// python3-protobuf) against a test service's gRPC port: the calls, the error
// details in grpc-status-details-bin, and grpc.health.v1. The script is
// python-client.py; docs/api.md gives the same protoc command.

const root = path.resolve(import.meta.dirname, "../..");
const exec = promisify(execFile);
/** Not `python3` from PATH: that may be a pyenv one without Debian's grpcio. */
const PYTHON = "/usr/bin/python3";
const HEALTH_PROTO_ROOT = "node_modules/grpc-health-check/proto";
const DEBIAN_PACKAGES = "protobuf-compiler protobuf-compiler-grpc python3-grpcio python3-protobuf";

/** The protoc invocation docs/api.md shows, with the plugin found on PATH. */
const protocArgs = (out: string, plugin: string) => [
  "-I",
  "proto",
  "-I",
  "node_modules/google-proto-files",
  "-I",
  HEALTH_PROTO_ROOT,
  `--python_out=${out}`,
  `--grpc_python_out=${out}`,
  `--plugin=protoc-gen-grpc_python=${plugin}`,
  "proto/media/v1/admin_service.proto",
  "proto/media/v1/media.proto",
  "proto/media/v1/media_service.proto",
  "google/rpc/status.proto",
  "google/rpc/error_details.proto",
  "health/v1/health.proto",
];

async function onPath(name: string): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? "").split(path.delimiter).filter(Boolean)) {
    const file = path.join(dir, name);
    if (
      await access(file, constants.X_OK).then(
        () => true,
        () => false,
      )
    )
      return file;
  }
  return undefined;
}

let t: TestService;
let scratch: string;
let generated: string | undefined;
let protoc: string | undefined;
let plugin: string | undefined;
const missing: string[] = [];

before(async () => {
  protoc = await onPath("protoc");
  if (protoc === undefined) missing.push("protoc (protobuf-compiler)");
  plugin = await onPath("grpc_python_plugin");
  if (plugin === undefined) missing.push("grpc_python_plugin (protobuf-compiler-grpc)");
  for (const [module, pkg] of [
    ["grpc", "python3-grpcio"],
    ["google.protobuf", "python3-protobuf"],
  ] as const) {
    const ok = await exec(PYTHON, ["-c", `import ${module}`]).then(
      () => true,
      () => false,
    );
    if (!ok) missing.push(`${PYTHON} -c "import ${module}" (${pkg})`);
  }
  scratch = await mkdtemp(path.join(tmpdir(), "python-client-"));
  t = await startTestService();
});
after(async () => {
  await t?.stop();
  await rm(scratch, { recursive: true, force: true });
});

/** Fails, not skips, when a tool is missing: CI installs them (.ci/run). */
function requireTools(): { protoc: string; plugin: string } {
  if (missing.length > 0 || protoc === undefined || plugin === undefined) {
    assert.fail(
      `the Python client test needs the Debian packages ${DEBIAN_PACKAGES.split(" ").join(", ")} ` +
        `(apt-get install ${DEBIAN_PACKAGES}, as .ci/run does); missing: ${missing.join(", ")}`,
    );
  }
  return { protoc, plugin };
}

test("protoc generates the Python client: media.v1, google.rpc's status and error details, grpc health", async () => {
  const tools = requireTools();
  const out = path.join(scratch, "gen");
  await mkdir(out);
  await exec(tools.protoc, protocArgs(out, tools.plugin), { cwd: root }).catch((error: { stderr?: string }) =>
    assert.fail(`protoc failed:\n${error.stderr}`),
  );
  const files = (await readdir(out, { recursive: true })).map((f) => f.split(path.sep).join("/")).sort();
  for (const module of ["media/v1/media", "media/v1/media_service", "media/v1/admin_service", "health/v1/health"]) {
    assert.ok(files.includes(`${module}_pb2.py`), `${module}_pb2.py in ${files.join(", ")}`);
    assert.ok(files.includes(`${module}_pb2_grpc.py`), `${module}_pb2_grpc.py in ${files.join(", ")}`);
  }
  for (const module of ["google/rpc/status", "google/rpc/error_details"]) {
    assert.ok(files.includes(`${module}_pb2.py`), `${module}_pb2.py in ${files.join(", ")}`);
  }
  generated = out;
});

test("the generated Python client: create, link, get, error details (ErrorInfo, BadRequest), health", async () => {
  requireTools();
  assert.ok(generated, "the Python code was generated");
  const script = path.join(import.meta.dirname, "python-client.py");
  const result = await exec(PYTHON, [script], {
    cwd: scratch,
    timeout: 60_000,
    env: {
      PATH: process.env.PATH,
      PYTHONPATH: generated,
      PYTHONDONTWRITEBYTECODE: "1",
      MEDIA_GRPC_TARGET: `127.0.0.1:${t.service.grpcPort}`,
      MEDIA_TOKEN: TEST_SERVICE_TOKEN,
      MEDIA_OWNER: "python-client/posts/1",
    },
  }).catch((error: { code?: number; stdout?: string; stderr?: string }) =>
    assert.fail(`python-client.py exited with ${error.code}:\n${error.stdout ?? ""}${error.stderr ?? ""}`),
  );
  assert.doesNotMatch(result.stdout, /FAIL/, result.stdout);
  assert.equal(result.stdout.match(/^ok /gm)?.length, 4, result.stdout);
});
