import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { startTestService, TEST_SERVICE_TOKEN, type TestService } from "../testing/support.ts";

// The installable TypeScript client, used as another service would: `npm pack`
// of proto/ (its prepack builds dist/ with tsc), the tarball installed into a
// fresh project outside the repository, and ts-client.mjs there, type-checked
// against the installed declarations and run against a test service on both
// ports.

const root = path.resolve(import.meta.dirname, "../..");
const exec = promisify(execFile);

/** The environment without npm's own variables: when the tests run under `npm test`, they would steer nested npm runs. */
const cleanEnv = () => Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name)));

const npm = (cwd: string, ...args: string[]) =>
  exec("npm", args, { cwd, env: cleanEnv(), timeout: 180_000, maxBuffer: 16 * 1024 * 1024 });

let t: TestService;
let scratch: string;
let project: string;
let packedFiles: string[];

before(async () => {
  scratch = await mkdtemp(path.join(tmpdir(), "ts-client-"));
  t = await startTestService();
});
after(async () => {
  await t?.stop();
  await rm(scratch, { recursive: true, force: true });
});

test("npm pack of proto/ ships JavaScript, declarations and the .proto files, and no TypeScript source", async () => {
  const { stdout } = await npm(path.join(root, "proto"), "pack", "--json", "--pack-destination", scratch);
  // prepack's own output (its `> tsc` lines) comes before the JSON.
  const [packed] = JSON.parse(stdout.slice(stdout.indexOf("[")));
  packedFiles = packed.files.map((f: { path: string }) => f.path).sort();
  for (const file of [
    "package.json",
    "dist/client.js",
    "dist/client.d.ts",
    "gen/media/v1/media_pb.js",
    "gen/media/v1/media_pb.d.ts",
    "gen/media/v1/media_service_pb.js",
    "gen/media/v1/media_service_pb.d.ts",
    "gen/media/v1/admin_service_pb.js",
    "gen/media/v1/admin_service_pb.d.ts",
    "media/v1/media.proto",
    "media/v1/media_service.proto",
    "media/v1/admin_service.proto",
  ]) {
    assert.ok(packedFiles.includes(file), `the tarball should hold ${file}; it holds ${packedFiles.join(", ")}`);
  }
  // Node refuses to strip types under node_modules: an installed package must be JavaScript.
  const source = packedFiles.filter((f) => /\.[cm]?ts$/.test(f) && !/\.d\.[cm]?ts$/.test(f));
  assert.deepEqual(source, [], "no TypeScript source in the tarball");
  assert.ok(!packedFiles.some((f) => f.startsWith("released/") || f === "tsconfig.json"), "nothing repo-only");

  project = path.join(scratch, "consumer");
  await mkdir(project);
  await writeFile(
    path.join(project, "package.json"),
    `${JSON.stringify({ name: "ts-client-consumer", private: true, type: "module" }, null, 2)}\n`,
  );
  // The peers (@bufbuild/protobuf, @connectrpc/connect, @connectrpc/connect-node) come from
  // the npm cache that `npm ci` filled; the registry is asked only for what is missing there.
  await npm(project, "install", path.join(scratch, packed.filename), "--prefer-offline", "--no-audit", "--no-fund");
});

test("the installed package names no workspace, and every export it declares exists", async () => {
  assert.ok(project, "the tarball was installed");
  const installed = path.join(project, "node_modules/@media/proto");
  const manifest = JSON.parse(await readFile(path.join(installed, "package.json"), "utf8"));
  assert.equal(manifest.private, undefined, "publishable: not private");
  for (const field of ["dependencies", "peerDependencies", "optionalDependencies"]) {
    for (const [name, range] of Object.entries((manifest[field] ?? {}) as Record<string, string>)) {
      assert.ok(!name.startsWith("@media/"), `${field} names the workspace package ${name}`);
      assert.doesNotMatch(range, /^(workspace:|file:|link:|\.|\/)/, `${field}.${name} is ${range}`);
    }
  }
  const files = (await readdir(installed, { recursive: true })).map((f) => `./${f.split(path.sep).join("/")}`);
  for (const [subpath, targets] of Object.entries(manifest.exports as Record<string, Record<string, string>>)) {
    for (const target of Object.values(targets)) {
      // A pattern export ("./media/v1/*") must match at least one installed file.
      const [prefix = "", suffix] = target.split("*");
      const matches = files.filter((f) =>
        suffix === undefined
          ? f === target
          : f.startsWith(prefix) && f.endsWith(suffix) && f.length > target.length - 1,
      );
      assert.ok(matches.length > 0, `export ${subpath} -> ${target}: no such file in the installed package`);
    }
  }
  for (const peer of ["@bufbuild/protobuf", "@connectrpc/connect", "@connectrpc/connect-node"]) {
    await stat(path.join(project, "node_modules", peer, "package.json")).catch(() =>
      assert.fail(`npm did not install the peer ${peer}`),
    );
  }
});

test("the caller's script type-checks against the installed declarations", async () => {
  assert.ok(project, "the tarball was installed");
  await copyFile(path.join(import.meta.dirname, "ts-client.mjs"), path.join(project, "main.mjs"));
  const tsconfig = {
    compilerOptions: {
      target: "ES2023",
      // @connectrpc/connect's declarations use the fetch API's types (HeadersInit).
      lib: ["ES2023", "DOM"],
      module: "NodeNext",
      moduleResolution: "NodeNext",
      strict: true,
      allowJs: true,
      checkJs: true,
      noEmit: true,
      skipLibCheck: false,
      types: ["node"],
      typeRoots: [path.join(root, "node_modules/@types")],
    },
    files: ["main.mjs"],
  };
  await writeFile(path.join(project, "tsconfig.json"), JSON.stringify(tsconfig, null, 2));
  await exec(path.join(root, "node_modules/.bin/tsc"), ["-p", "tsconfig.json"], { cwd: project }).catch(
    (error: { stdout?: string }) => assert.fail(`tsc --checkJs in the consumer project:\n${error.stdout}`),
  );
});

for (const protocol of ["grpc", "connect"] as const) {
  test(`createMediaClient (${protocol}) from the installed package: CreateMedia, LinkMedia, GetMedia`, async () => {
    assert.ok(project, "the tarball was installed");
    await copyFile(path.join(import.meta.dirname, "ts-client.mjs"), path.join(project, "main.mjs"));
    const port = protocol === "grpc" ? t.service.grpcPort : t.service.httpPort;
    const owner = `ts-client/${protocol}`;
    const { stdout } = await exec(process.execPath, ["main.mjs"], {
      cwd: project,
      timeout: 60_000,
      env: {
        ...cleanEnv(),
        MEDIA_URL: `http://127.0.0.1:${port}`,
        MEDIA_PROTOCOL: protocol,
        MEDIA_TOKEN: TEST_SERVICE_TOKEN,
        MEDIA_OWNER: owner,
      },
    }).catch((error: { stderr?: string }) => assert.fail(`main.mjs (${protocol}) failed:\n${error.stderr}`));
    const seen = JSON.parse(stdout);
    assert.deepEqual(seen, {
      created: { isNew: true, state: "PENDING", sizeBytes: "48213" },
      linked: { changed: true, state: "LINKED" },
      got: { sameId: true, state: "LINKED", referenceCount: "1", labels: { app: "ts-client" } },
      missing: "NotFound",
      adminWithServiceToken: "PermissionDenied",
    });
    // The reference is in the service's database.
    const { rows } = await t.sql.query("SELECT media_id FROM media_references WHERE owner = $1", [owner]);
    assert.equal(rows.length, 1);
  });
}
