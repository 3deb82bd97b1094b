import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";

// The contract gates CI relies on: lint, format, the breaking-change check
// against the released baseline, and generated code that matches the protos.

const root = path.resolve(import.meta.dirname, "../..");
const bin = path.join(root, "node_modules/.bin");
const BASELINE = path.join(root, "proto/released/media-v1.image.json");
const exec = promisify(execFile);

const buf = (cwd: string, ...args: string[]) =>
  exec(path.join(bin, "buf"), args, { cwd, env: { ...process.env, PATH: `${bin}:${process.env.PATH}` } });

let scratch: string;
before(async () => {
  scratch = await mkdtemp(path.join(tmpdir(), "contract-"));
});
after(() => rm(scratch, { recursive: true, force: true }));

/** A copy of the module (buf.yaml, buf.gen.yaml, the .proto files) to change without touching the repo. */
async function copyModule(name: string): Promise<string> {
  const dir = path.join(scratch, name);
  await cp(path.join(root, "proto/media"), path.join(dir, "proto/media"), { recursive: true });
  await cp(path.join(root, "buf.yaml"), path.join(dir, "buf.yaml"));
  await cp(path.join(root, "buf.gen.yaml"), path.join(dir, "buf.gen.yaml"));
  // buf.gen.yaml's other input: the google.rpc protos from the npm package google-proto-files.
  const googleRpc = "node_modules/google-proto-files/google/rpc";
  await cp(path.join(root, googleRpc), path.join(dir, googleRpc), { recursive: true });
  return dir;
}

test("buf lint (STANDARD) and buf format are clean", async () => {
  await buf(root, "lint");
  await buf(root, "format", "--diff", "--exit-code");
});

test("the contract has no breaking change against the released baseline", async () => {
  await buf(root, "breaking", "--against", BASELINE);
});

test("the breaking-change gate bites: a renumbered field fails it", async () => {
  const dir = await copyModule("renumbered");
  const file = path.join(dir, "proto/media/v1/media.proto");
  const original = await readFile(file, "utf8");
  const changed = original.replace("string store = 2;", "string store = 20;");
  assert.notEqual(changed, original, "the test must actually change the field");
  await writeFile(file, changed);
  await assert.rejects(buf(dir, "breaking", "--against", BASELINE), (error: { stdout?: string }) => {
    assert.match(error.stdout ?? "", /store/);
    return true;
  });
});

async function listFiles(dir: string, prefix = ""): Promise<string[]> {
  const entries = await readdir(path.join(dir, prefix), { withFileTypes: true });
  const nested = await Promise.all(
    entries.map((e) => (e.isDirectory() ? listFiles(dir, path.join(prefix, e.name)) : [path.join(prefix, e.name)])),
  );
  return nested.flat().sort();
}

test("committed generated code matches what buf generate produces now", async () => {
  const dir = await copyModule("generated");
  await buf(dir, "generate");
  const fresh = path.join(dir, "proto/gen");
  const committed = path.join(root, "proto/gen");
  const files = await listFiles(fresh);
  assert.deepEqual(await listFiles(committed), files, "same generated files");
  for (const file of files) {
    assert.equal(
      await readFile(path.join(committed, file), "utf8"),
      await readFile(path.join(fresh, file), "utf8"),
      `proto/gen/${file} is stale: run npm run generate and commit the result`,
    );
  }
});

test("every file of media.v1 sets the language options other languages' generators need, the same in each", async () => {
  // protoc-gen-go refuses a file without an import path (go_package) and
  // wants one Go package per proto package; Java classes must not collide.
  // buf breaking (FILE rules) keeps them from changing once released.
  const { stdout } = await buf(root, "build", "--exclude-source-info", "-o", "-#format=json");
  const image = JSON.parse(stdout) as { file: Array<{ name: string; options?: Record<string, unknown> }> };
  const files = image.file.filter((f) => f.name.startsWith("media/v1/"));
  assert.ok(files.length >= 3, "the media.v1 files are in the image");
  const shared = ["goPackage", "javaPackage", "javaMultipleFiles", "csharpNamespace", "phpNamespace", "rubyPackage"];
  const first = files[0]?.options ?? {};
  for (const { name, options = {} } of files) {
    assert.match(String(options.goPackage), /^[a-z0-9.-]+(\/[\w.~-]+)+\/media\/v1;mediav1$/, `${name}: go_package`);
    for (const option of shared) assert.deepEqual(options[option], first[option], `${name}: ${option}`);
    assert.equal(options.javaMultipleFiles, true, `${name}: java_multiple_files`);
    const base = path.basename(name, ".proto").replace(/(^|_)([a-z])/g, (_, __, c: string) => c.toUpperCase());
    assert.equal(options.javaOuterClassname, `${base}Proto`, `${name}: java_outer_classname`);
    assert.equal(options.objcClassPrefix, "MXX", `${name}: objc_class_prefix`);
  }
});
